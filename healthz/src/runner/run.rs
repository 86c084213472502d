//! One run of one check, as its own task: builds the check's future and
//! polls it under its deadline, catching panics in both, then publishes
//! the result to the slot and logs the state change, if any.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::watch;
use tokio::time::Instant;

use super::{report, Checks, Finished, Outstanding};
use crate::check::{CheckError, ErrorKind, InFlight, Local, RunContext};
use crate::config::CheckConfig;
use crate::limits::RunLimits;
use crate::report::{Damping, Outcome};

/// One run of one check, spawned as its own task.
pub(super) struct Run<C> {
    pub(super) checks: Arc<C>,
    pub(super) index: usize,
    pub(super) check: &'static CheckConfig,
    pub(super) generation: u64,
    /// When the run counts as having started, for the cache and damping:
    /// the moment the probe asked for it, or when a background run was
    /// due.
    pub(super) counted_at: Instant,
    pub(super) token: InFlight,
    pub(super) local: Arc<Local>,
}

impl<C: Checks> Run<C> {
    pub(super) async fn run(self, sender: watch::Sender<Option<Finished>>) {
        let check = self.check;
        let started = Instant::now();
        let limits = RunLimits::new(started, check.timeout);
        let context = || RunContext {
            in_flight: self.token.clone(),
            deadline: limits.told(),
            config: check,
            local: Arc::clone(&self.local),
        };
        // Building the future runs user code too (a `with =` function that
        // is not `async`): a panic there is the check's failure as well.
        let built = context()
            .sync_scope(|| catch_unwind(AssertUnwindSafe(|| self.checks.start(self.index))));
        let result = match built {
            Ok(future) => {
                let future = context().scope(CatchUnwind { inner: future });
                tokio::time::timeout_at(limits.dropped_at(), future).await
            }
            Err(panic) => Ok(Err(panic)),
        };
        let latency = started.elapsed();
        let (outcome, detail) = match result {
            Ok(Ok(Ok(()))) => (Outcome::Pass, None),
            Ok(Ok(Err(error))) => outcome_of(&error),
            Ok(Err(panic)) => (
                Outcome::Fail {
                    kind: ErrorKind::Panicked,
                    message: "check panicked.".into(),
                },
                Some(panic_message(&*panic)),
            ),
            Err(_elapsed) => (Outcome::timed_out(check.timeout), None),
        };
        let mut finished = Finished {
            report: report(check, outcome, latency, Damping::Steady),
            at: self.counted_at,
        };
        #[cfg(feature = "metrics")]
        crate::metrics::record_run(check.name, &finished.report.outcome, latency);
        // Blocking work started by this run holds a clone of its token.
        let work_outlives_run = Arc::strong_count(&self.token.0) > 1;
        let slot = self.checks.slot(self.index);
        let mut state = slot.lock();
        let mine = state
            .current
            .as_ref()
            .is_some_and(|current| current.generation == self.generation);
        let before = if mine {
            let current = state.current.take().expect("checked above");
            if work_outlives_run {
                state.outstanding.push(Outstanding {
                    token: current.token,
                    since: current.started,
                    written_off: false,
                });
            }
            // Damping's clock is a run's start, as the cache's is: a held
            // back run counts at the moment it would have started, and a
            // run that took its deadline to fail must not count a deadline
            // later than one that failed at once.
            finished.report.damping = state.damper.record(
                check,
                &finished.report.outcome,
                self.counted_at,
                self.local.patience(),
            );
            Some(state.last.replace(finished.clone()))
        } else {
            // Replaced as stranded: a newer run owns the slot.
            None
        };
        drop(state);
        if let Some(before) = before {
            log_transition(
                check,
                before.as_ref().map(|last| &last.report.outcome),
                &finished.report.outcome,
                detail.as_deref(),
            );
        }
        // Subscribers hear of the result before any probe can answer
        // with it.
        if mine {
            self.checks.published(self.index);
        }
        // Nobody may be waiting any more; that is fine.
        let _ = sender.send(Some(finished));
    }
}

fn outcome_of(error: &CheckError) -> (Outcome, Option<String>) {
    let detail = error.detail().map(ToString::to_string);
    let message = error.message().to_owned().into();
    (Outcome::of_error(error.kind(), message), detail)
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}

/// Logs a check's state changes, not every probe: a dependency that stays
/// down must not flood the logs once per kubelet period.
fn log_transition(
    check: &CheckConfig,
    before: Option<&Outcome>,
    after: &Outcome,
    detail: Option<&str>,
) {
    let name = check.name;
    let same = match (before, after) {
        (Some(Outcome::Pass), Outcome::Pass)
        | (Some(Outcome::NotConfigured), Outcome::NotConfigured)
        | (Some(Outcome::Busy { .. }), Outcome::Busy { .. }) => true,
        (Some(Outcome::Fail { kind: a, .. }), Outcome::Fail { kind: b, .. }) => a == b,
        _ => false,
    };

    if same {
        return;
    }
    #[cfg(feature = "metrics")]
    crate::metrics::record_transition(name, after);
    match after {
        Outcome::Pass if before.is_some() => {
            tracing::info!(check = name, "health check recovered");
        }
        Outcome::Pass => {
            tracing::debug!(check = name, "health check passed");
        }
        Outcome::NotConfigured => {
            tracing::debug!(check = name, "health check not configured: it passes");
        }
        Outcome::Busy { message } => {
            tracing::warn!(
                check = name,
                critical = check.critical,
                error = detail.unwrap_or(message),
                "health check reports busy: {message}"
            );
        }
        Outcome::Fail { kind, message } => {
            tracing::warn!(
                check = name,
                critical = check.critical,
                ?kind,
                error = detail.unwrap_or(message),
                "health check failed: {message}"
            );
        }
    }
}

pin_project_lite::pin_project! {
    /// Turns a panic while polling `inner` into an `Err`.
    struct CatchUnwind<F> {
        #[pin]
        inner: F,
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.project().inner;
        match catch_unwind(AssertUnwindSafe(move || inner.poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}
