//! Background mode and subscribers: starting the background checks' tasks,
//! and the readiness report handed to [`Probes::subscribe`] receivers.

use std::sync::atomic::Ordering;

use tokio::sync::watch;

use super::{HealthChecks, Probes, Shared};
use crate::check::ErrorKind;
use crate::report::{CheckReport, Damping, Outcome, Report};
use crate::runner::schedule;

impl<T> Probes<T>
where
    T: HealthChecks,
{
    /// Starts the background checks (those with an `interval`), each on
    /// its own timer, on the current tokio runtime. The first probe, or
    /// the first call to [`readiness`](Self::readiness) or
    /// [`subscribe`](Self::subscribe), starts them too; call this to have
    /// results before the first probe arrives, or to run the timers on a
    /// runtime of your choice. Calling it again does nothing. The tasks
    /// stop when the last clone of these probes is dropped.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, when there are background checks, as
    /// `tokio::spawn` does.
    pub fn start_background(&self) {
        let config = T::config();
        if !config.has_background_checks() || self.shared.background.swap(true, Ordering::AcqRel) {
            return;
        }
        for (index, check) in config.checks.iter().enumerate() {
            if let Some(interval) = check.background_interval() {
                schedule::spawn(
                    &self.shared,
                    index,
                    check,
                    interval,
                    config.jitter,
                    self.shared.stop.subscribe(),
                );
            }
        }
    }

    /// A receiver of the readiness report, updated each time it changes: a
    /// check's outcome or damping, or the start of draining (not a mere new
    /// latency or timestamp). Each change is seen once, in order; a
    /// receiver that falls behind sees the latest.
    ///
    /// Results arrive as checks run: on their timers in background mode
    /// (which this starts), otherwise whenever a probe runs them. Until a
    /// check's first result, it shows as failing with `no result yet.`.
    ///
    /// Forward changes to a webhook, a log line or a custom metric:
    ///
    /// ```no_run
    /// # use healthz::HealthChecks;
    /// # #[derive(Clone, HealthChecks)] struct State {}
    /// # async fn forward(state: State) {
    /// let probes = state.probes();
    /// let mut changes = probes.subscribe();
    /// tokio::spawn(async move {
    ///     while changes.changed().await.is_ok() {
    ///         let report = changes.borrow_and_update().clone();
    ///         // POST report.to_json() to the webhook, set a gauge, ...
    ///         println!("readiness is now {}", report.status().as_str());
    ///     }
    /// });
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, when there are background checks (see
    /// [`start_background`](Self::start_background)).
    pub fn subscribe(&self) -> watch::Receiver<Report> {
        self.start_background();
        self.shared.report.subscribe()
    }
}

impl<T: HealthChecks> Shared<T> {
    /// The readiness report from every check's latest result.
    pub(super) fn current_report(&self) -> Report {
        let config = T::config();
        let checks = config
            .checks
            .iter()
            .zip(self.slots.iter())
            .filter(|(check, _)| !check.liveness)
            .map(|(check, slot)| {
                slot.last().unwrap_or_else(|| CheckReport {
                    name: check.name,
                    critical: check.critical,
                    outcome: Outcome::Fail {
                        kind: ErrorKind::Unavailable,
                        message: "no result yet.".into(),
                    },
                    latency: std::time::Duration::ZERO,
                    time: std::time::SystemTime::now(),
                    damping: Damping::Steady,
                })
            })
            .collect();
        Report {
            checks,
            excluded: Vec::new(),
            draining: self.draining.load(Ordering::SeqCst),
        }
    }

    /// Sends the current report to subscribers if it changed.
    pub(super) fn update_subscribers(&self) {
        let report = self.current_report();
        self.report.send_if_modified(|seen| {
            let changed = !same_state(seen, &report);
            if changed {
                *seen = report;
            }
            changed
        });
    }
}

/// Whether two reports say the same thing, latencies and times aside.
fn same_state(a: &Report, b: &Report) -> bool {
    a.draining == b.draining
        && a.checks.len() == b.checks.len()
        && a.checks
            .iter()
            .zip(&b.checks)
            .all(|(a, b)| a.name == b.name && a.outcome == b.outcome && a.damping == b.damping)
}
