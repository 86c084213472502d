//! Evaluation of a probe's checks: concurrently, under the probe deadline,
//! each through the runner (cache, single-flight, background snapshot).
//!
//! [`Probes::cached`] gives the report when every result it needs is
//! cached (the common case under a probe storm), with no future built and
//! nothing started. An evaluation proper has a synchronous first half
//! (every check's cached result, or the run to wait for, found or started)
//! and, when some run must be waited for, an asynchronous second.

use std::sync::atomic::Ordering;

use tokio::time::Instant;

use super::{HealthChecks, Probes};
use crate::check::join_all;
use crate::config::CheckConfig;
use crate::config::Config;
use crate::limits;
use crate::report::{CheckReport, Report, Status};
use crate::runner::{self, Lookup, Waiting};

/// Which checks a probe runs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Selection<'a> {
    /// The readiness checks, but those excluded (by index).
    Readiness(&'a [usize]),
    /// The liveness checks.
    Liveness,
    /// One check, by index, whichever probe it belongs to.
    One(usize),
}

impl Selection<'_> {
    fn includes(&self, config: &Config, index: usize) -> bool {
        match self {
            Selection::Readiness(excluded) => {
                !config.checks[index].liveness && !excluded.contains(&index)
            }
            Selection::Liveness => config.checks[index].liveness,
            Selection::One(only) => *only == index,
        }
    }
}

impl<T> Probes<T>
where
    T: HealthChecks,
{
    /// Runs every readiness check, concurrently, under the probe deadline
    /// (results younger than the cache TTL are reused; background checks
    /// answer from their latest result), and reports.
    pub async fn readiness(&self) -> Report {
        self.evaluate(Selection::Readiness(&[])).await
    }

    /// Runs the liveness checks (`#[healthz(probe = "liveness")]` fields) under the
    /// probe deadline, and reports. Without any, the report is empty and
    /// passes.
    pub async fn liveness(&self) -> Report {
        self.evaluate(Selection::Liveness).await
    }

    /// Runs the check called `name` alone, or returns `None` if there is
    /// no such check.
    pub async fn check(&self, name: &str) -> Option<CheckReport> {
        let index = T::config().check_index(name)?;
        self.evaluate(Selection::One(index)).await.checks.pop()
    }

    pub(crate) async fn evaluate(&self, selection: Selection<'_>) -> Report {
        match self.begin(selection) {
            Evaluation::Done(report) => report,
            Evaluation::Pending(pending) => self.finish(pending).await,
        }
    }

    /// The report from every selected check's cached result, if each has
    /// one; `None` otherwise, with nothing started or spawned, so that it
    /// can be asked as a request is routed, in or out of a runtime.
    pub(crate) fn cached(&self, selection: Selection<'_>) -> Option<Report> {
        let config = T::config();
        let now = Instant::now();
        let mut checks = Vec::with_capacity(config.checks.len());
        for index in (0..config.checks.len()).filter(|&i| selection.includes(config, i)) {
            let check = &config.checks[index];
            let ttl = limits::cache_ttl(config.cache_ttl, check.liveness);
            checks.push(runner::cached(&*self.shared, index, check, ttl, now)?);
        }
        Some(self.conclude(Scope::of(selection, config), checks))
    }

    /// When the first cached result of the checks `selection` runs on
    /// demand stops being fresh: an evaluation from then on starts a new
    /// run instead of reusing it. `None` when none has a result yet.
    #[cfg(feature = "grpc")]
    pub(crate) fn fresh_until(&self, selection: Selection<'_>) -> Option<Instant> {
        let config = T::config();
        (0..config.checks.len())
            .filter(|&i| selection.includes(config, i))
            .filter(|&i| config.checks[i].background_interval().is_none())
            .filter_map(|i| {
                let ttl = limits::cache_ttl(config.cache_ttl, config.checks[i].liveness);
                runner::fresh_until(&*self.shared, i, ttl)
            })
            .min()
    }

    /// The synchronous half of an evaluation: the report, if every check
    /// answered from its cache, or what is left to wait for.
    fn begin(&self, selection: Selection<'_>) -> Evaluation {
        let config = T::config();
        self.start_background();
        let probe_start = Instant::now();
        let selected = (0..config.checks.len()).filter(|&i| selection.includes(config, i));
        let mut ready = Vec::with_capacity(config.checks.len());
        let mut parts: Vec<Part> = Vec::new();
        for index in selected {
            let check = &config.checks[index];
            let ttl = limits::cache_ttl(config.cache_ttl, check.liveness);
            match runner::lookup(&self.shared, index, check, ttl, probe_start) {
                Lookup::Ready(report) if parts.is_empty() => ready.push(report),
                Lookup::Ready(report) => parts.push(Part::Ready(report)),
                Lookup::Wait(waiting) => {
                    if parts.is_empty() {
                        parts.reserve(ready.capacity());
                        parts.extend(ready.drain(..).map(Part::Ready));
                    }
                    parts.push(Part::Wait(check, waiting));
                }
            }
        }
        let scope = Scope::of(selection, config);
        if parts.is_empty() {
            return Evaluation::Done(self.conclude(scope, ready));
        }
        Evaluation::Pending(Pending {
            scope,
            parts,
            probe_start,
            probe_deadline: probe_start + config.probe_timeout,
        })
    }

    /// The second half of an evaluation: waits for the runs, each under
    /// its own timeout and the probe deadline.
    async fn finish(&self, pending: Pending) -> Report {
        let Pending {
            scope,
            parts,
            probe_start,
            probe_deadline,
        } = pending;
        let checks = join_all(parts.into_iter().map(|part| async move {
            match part {
                Part::Ready(report) => report,
                Part::Wait(check, waiting) => {
                    runner::wait(check, waiting, probe_start, probe_deadline).await
                }
            }
        }))
        .await;
        self.conclude(scope, checks)
    }

    /// The report of an evaluation, and the startup latch it may open.
    fn conclude(&self, scope: Scope, checks: Vec<CheckReport>) -> Report {
        let report = Report {
            checks,
            excluded: scope.excluded,
            draining: self.is_draining() && !scope.liveness,
        };
        if scope.opens_startup && !self.is_started() {
            let critical_pass = report
                .checks
                .iter()
                .all(|check| !check.critical || check.status() == Status::Pass);
            if critical_pass {
                self.shared.started.store(true, Ordering::Release);
                tracing::info!("startup complete: every critical check has passed");
            }
        }
        report
    }
}

/// What an evaluation's report says of its selection, kept from its first
/// half to its end.
pub(crate) struct Scope {
    /// The names of the checks excluded with `?exclude=`.
    excluded: Vec<&'static str>,
    /// Whether these are the liveness checks (which draining leaves alone).
    liveness: bool,
    /// Whether every readiness check runs, so that passing opens the
    /// startup latch.
    opens_startup: bool,
}

impl Scope {
    fn of(selection: Selection<'_>, config: &Config) -> Self {
        let excluded = match selection {
            Selection::Readiness(excluded) => excluded,
            Selection::One(_) | Selection::Liveness => &[],
        };
        Scope {
            excluded: excluded.iter().map(|&i| config.checks[i].name).collect(),
            liveness: matches!(selection, Selection::Liveness),
            opens_startup: matches!(selection, Selection::Readiness([])),
        }
    }
}

/// The first half of an evaluation, when some check has a run to wait for.
enum Evaluation {
    /// Every check answered from its cache.
    Done(Report),
    /// Some check has a run to wait for: [`Probes::finish`] waits.
    Pending(Pending),
}

/// What is left of an evaluation after its first half.
struct Pending {
    scope: Scope,
    parts: Vec<Part>,
    probe_start: Instant,
    probe_deadline: Instant,
}

/// One check of a pending evaluation, in field order.
enum Part {
    Ready(CheckReport),
    Wait(&'static CheckConfig, Waiting),
}
