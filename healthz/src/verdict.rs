//! What a probe decides, before any adapter renders it: the one place for
//! the rules of the three probes. HTTP ([`ProbeRequest`](crate::ProbeRequest)),
//! the gRPC health service and exec probes (through HTTP) only turn a
//! [`Verdict`] into their own answer.
//!
//! - **Liveness** runs the liveness checks, and without any answers at once
//!   without touching anything. Draining does not affect it.
//! - **Readiness** (and one check by name) answers `Draining` at once once
//!   draining has begun: no dependency is asked, so a dead one cannot delay
//!   the answer that takes the pod out of rotation. Otherwise it runs the
//!   readiness checks; a drain that begins meanwhile still fails it.
//! - **Startup** is open for good once every critical check has passed
//!   once (the latch, set by any readiness evaluation); until then it runs
//!   the readiness checks, which may open it. Draining is readiness's
//!   business, not startup's.

use crate::probe::{Probe, Target};
use crate::probes::{HealthChecks, Probes, Selection};
use crate::report::Report;

/// A probe's decision.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Up, decided without a report: liveness without liveness checks, or
    /// an open startup probe.
    Up,
    /// Readiness (or one of its checks) while draining.
    Draining,
    /// A check name that no check has.
    NoSuchCheck,
    /// Decided by the checks' report.
    Checked {
        /// Whether the probe passes.
        ready: bool,
        /// What the checks found.
        report: Report,
    },
}

impl Verdict {
    /// Whether the probe passes.
    pub(crate) fn is_ready(&self) -> bool {
        match self {
            Verdict::Up => true,
            Verdict::Draining | Verdict::NoSuchCheck => false,
            Verdict::Checked { ready, .. } => *ready,
        }
    }
}

impl<T> Probes<T>
where
    T: HealthChecks,
{
    /// The verdict on `target` if it needs no check run, else `None`.
    pub(crate) fn settled(&self, target: Target) -> Option<Verdict> {
        match target {
            Target::Probe(Probe::Liveness) if !T::config().has_liveness_checks() => {
                Some(Verdict::Up)
            }
            Target::Probe(Probe::Startup) if self.is_started() => Some(Verdict::Up),
            Target::UnknownCheck => Some(Verdict::NoSuchCheck),
            Target::Probe(Probe::Readiness) | Target::Check(_) if self.is_draining() => {
                Some(Verdict::Draining)
            }
            _ => None,
        }
    }

    /// The verdict on `target`, running the checks it needs (but those in
    /// `excluded`, for readiness). HTTP decides [`settled`](Self::settled)
    /// when it routes a request, and [`checked`](Self::checked) later.
    #[cfg_attr(
        not(feature = "grpc"),
        allow(dead_code, reason = "used by the gRPC service")
    )]
    pub(crate) async fn verdict(&self, target: Target, excluded: &[usize]) -> Verdict {
        if let Some(verdict) = self.settled(target) {
            return verdict;
        }
        self.checked(target, excluded).await
    }

    /// The verdict on `target` from running its checks: what
    /// [`verdict`](Self::verdict) gives when [`settled`](Self::settled)
    /// gave none.
    pub(crate) async fn checked(&self, target: Target, excluded: &[usize]) -> Verdict {
        let report = match target {
            Target::Probe(Probe::Readiness) => self.evaluate(Selection::Readiness(excluded)).await,
            Target::Probe(Probe::Liveness) => self.evaluate(Selection::Liveness).await,
            Target::Check(index) => {
                let mut report = self.evaluate(Selection::One(index)).await;
                // Asked about one check, the answer is that check's: a
                // failing non-critical check fails its own probe.
                for check in &mut report.checks {
                    check.critical = true;
                }
                report
            }
            Target::Probe(Probe::Startup) => {
                let mut report = self.evaluate(Selection::Readiness(&[])).await;
                if self.is_started() {
                    return Verdict::Up;
                }
                // A busy pool has not passed yet, and draining does not
                // close the startup probe.
                report.draining = false;
                return Verdict::Checked {
                    ready: false,
                    report,
                };
            }
            Target::UnknownCheck => return Verdict::NoSuchCheck,
        };
        Verdict::Checked {
            ready: report.status().is_ready(),
            report,
        }
    }
}
