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

/// A verdict, or the target whose checks must run before it can be given.
pub(crate) enum Decision {
    /// Decided: without a check run, or from every check's cached result.
    Now(Verdict),
    /// The checks of this target have to run (or be waited for).
    Later(Target),
}

/// The checks a target runs.
fn selection(target: Target, excluded: &[usize]) -> Selection<'_> {
    match target {
        Target::Probe(Probe::Readiness) => Selection::Readiness(excluded),
        // Startup runs every readiness check: passing them opens its latch.
        Target::Probe(Probe::Startup) => Selection::Readiness(&[]),
        Target::Probe(Probe::Liveness) => Selection::Liveness,
        Target::Check(index) => Selection::One(index),
        // Settled before any selection is made.
        Target::UnknownCheck => Selection::Liveness,
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

    /// The verdict on `target` if it can be given at once (readiness
    /// skips the checks in `excluded`): settled, or judged from every
    /// check's cached result. Starts and spawns nothing, so that adapters
    /// may route a request wherever they like.
    pub(crate) fn decide(&self, target: Target, excluded: &[usize]) -> Decision {
        if let Some(verdict) = self.settled(target) {
            return Decision::Now(verdict);
        }
        match self.cached(selection(target, excluded)) {
            Some(report) => Decision::Now(self.judge(target, report)),
            None => Decision::Later(target),
        }
    }

    /// The verdict a decision comes to, running (or waiting for) the
    /// checks it needs.
    pub(crate) async fn decided(&self, decision: Decision, excluded: &[usize]) -> Verdict {
        match decision {
            Decision::Now(verdict) => verdict,
            Decision::Later(target) => {
                let report = self.evaluate(selection(target, excluded)).await;
                self.judge(target, report)
            }
        }
    }

    /// The verdict on `target`, running the checks it needs.
    #[cfg_attr(
        not(feature = "grpc"),
        allow(dead_code, reason = "used by the gRPC service")
    )]
    pub(crate) async fn verdict(&self, target: Target) -> Verdict {
        self.decided(self.decide(target, &[]), &[]).await
    }

    /// The verdict on `target` from its checks' report.
    fn judge(&self, target: Target, mut report: Report) -> Verdict {
        match target {
            Target::Check(_) => {
                // Asked about one check, the answer is that check's: a
                // failing non-critical check fails its own probe.
                for check in &mut report.checks {
                    check.critical = true;
                }
            }
            Target::Probe(Probe::Startup) => {
                // Evaluating every readiness check is what opens the latch.
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
            Target::Probe(Probe::Readiness | Probe::Liveness) | Target::UnknownCheck => {}
        }
        Verdict::Checked {
            ready: report.status().is_ready(),
            report,
        }
    }
}
