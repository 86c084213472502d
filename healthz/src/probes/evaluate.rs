//! Evaluation of a probe's checks: concurrently, under the probe deadline,
//! each through the runner (cache, single-flight, background snapshot).

use std::sync::atomic::Ordering;

use tokio::time::Instant;

use super::{HealthChecks, Probes};
use crate::config::Config;
use crate::limits;
use crate::report::{CheckReport, Report, Status};
use crate::runner::{self, Lookup};

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
        let config = T::config();
        self.start_background();
        let probe_start = Instant::now();
        let probe_deadline = probe_start + config.probe_timeout;
        let lookups: Vec<(usize, Lookup)> = (0..config.checks.len())
            .filter(|&index| selection.includes(config, index))
            .map(|index| {
                let check = &config.checks[index];
                let ttl = limits::cache_ttl(config.cache_ttl, check.liveness);
                let lookup = runner::lookup(&self.shared, index, check, ttl, probe_start);
                (index, lookup)
            })
            .collect();
        let all_ready = lookups.iter().all(|(_, l)| matches!(l, Lookup::Ready(_)));
        let checks = if all_ready {
            // Every result came from the cache: the common case under a
            // probe storm, so no future is built or boxed for it.
            lookups
                .into_iter()
                .filter_map(|(_, lookup)| match lookup {
                    Lookup::Ready(report) => Some(report),
                    Lookup::Wait(_) => None,
                })
                .collect()
        } else {
            join_all(lookups.into_iter().map(|(index, lookup)| async move {
                match lookup {
                    Lookup::Ready(report) => report,
                    Lookup::Wait(waiting) => {
                        let check = &config.checks[index];
                        runner::wait(check, waiting, probe_start, probe_deadline).await
                    }
                }
            }))
            .await
        };
        let excluded = match selection {
            Selection::Readiness(excluded) => excluded,
            Selection::One(_) | Selection::Liveness => &[],
        };
        let report = Report {
            checks,
            excluded: excluded.iter().map(|&i| config.checks[i].name).collect(),
            draining: self.is_draining() && !matches!(selection, Selection::Liveness),
        };
        if matches!(selection, Selection::Readiness([])) && !self.is_started() {
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

/// Polls every future to completion, concurrently, keeping their order.
async fn join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.map(|f| Some(Box::pin(f))).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => {
                        *output = Some(value);
                        *slot = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
