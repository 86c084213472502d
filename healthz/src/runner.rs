//! Concurrent evaluation of checks: deadlines, single-flight, result cache.
//!
//! Every check has one [`Slot`]. A probe that needs a check's result takes,
//! in this order: a cached result younger than the TTL; the run already in
//! flight; or a new run, spawned as its own task. The spawned run is never
//! tied to the probe that started it, so a probe that gives up at its
//! deadline does not cancel work that other probes wait for, and a run is
//! never started twice at once however many probes arrive.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::time::Instant;

use crate::check::{CheckError, ErrorKind};
use crate::config::CheckConfig;
use crate::probes::{HealthChecks, Shared};
use crate::report::{CheckReport, Outcome};

tokio::task_local! {
    static RUN: RunContext;
}

/// What a check can learn about the run it is part of.
struct RunContext {
    in_flight: InFlight,
    deadline: Instant,
}

/// How long past its deadline a run may take to clean up after itself (a
/// check that sees [`deadline`] pass detaches its connection, say) before
/// the runner drops it.
const CLEANUP_GRACE: Duration = Duration::from_millis(50);

/// How much earlier than the probe gives up on a check the check itself is
/// told to give up, so that a check that honours [`deadline`] reports its
/// own finding (busy, cannot connect) rather than a bare timeout.
fn reserve(timeout: Duration) -> Duration {
    (timeout / 10).min(Duration::from_millis(25))
}

/// The deadline of the check run being polled, if any.
pub(crate) fn deadline() -> Option<Instant> {
    RUN.try_with(|run| run.deadline).ok()
}

/// Proof that a run of a check is still going. A run holds one; blocking
/// work started from the run holds a clone, so a check whose blocking call
/// outlived its deadline still counts as in flight until the call returns.
#[derive(Clone)]
pub(crate) struct InFlight {
    _alive: Arc<()>,
}

impl InFlight {
    /// The token of the run being polled, if any.
    pub(crate) fn current() -> Option<InFlight> {
        RUN.try_with(|run| run.in_flight.clone()).ok()
    }
}

/// A finished run, as kept in the cache.
#[derive(Clone)]
pub(crate) struct Finished {
    report: CheckReport,
    at: Instant,
}

#[derive(Default)]
struct SlotState {
    last: Option<Finished>,
    running: Option<watch::Receiver<Option<Finished>>>,
    in_flight: Weak<()>,
}

/// The per-check state shared by every clone of a `Probes`.
#[derive(Default)]
pub(crate) struct Slot {
    state: Mutex<SlotState>,
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, SlotState> {
        // The lock is never held across a check or an await; a poisoned
        // lock only means a panic elsewhere, and the state stays coherent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What a probe holds for one check after the synchronous lookup.
pub(crate) enum Lookup {
    Ready(CheckReport),
    Wait(watch::Receiver<Option<Finished>>),
}

/// Looks up check `index` of `state`: a fresh cached result, the run in
/// flight, or a new run.
pub(crate) fn lookup<T>(shared: &Arc<Shared<T>>, index: usize, now: Instant) -> Lookup
where
    T: HealthChecks + Send + Sync + 'static,
{
    let config = T::config();
    let check = &config.checks[index];
    let mut slot = shared.slots[index].lock();
    if let Some(last) = &slot.last {
        if now.saturating_duration_since(last.at) < config.cache_ttl {
            return Lookup::Ready(last.report.clone());
        }
    }
    if let Some(running) = &slot.running {
        // A run that died without publishing (its runtime shut down) has
        // dropped its sender; start afresh rather than wait on it forever.
        if running.has_changed().is_ok() {
            return Lookup::Wait(running.clone());
        }
    }
    if slot.in_flight.strong_count() > 0 {
        // A run gave up at its deadline but its blocking work has not
        // returned: starting another would pile up stuck threads.
        return Lookup::Ready(report(
            check,
            Outcome::timed_out(check.timeout),
            Duration::ZERO,
        ));
    }
    let (sender, receiver) = watch::channel(None);
    let token = Arc::new(());
    slot.in_flight = Arc::downgrade(&token);
    slot.running = Some(receiver.clone());
    drop(slot);
    tokio::spawn(run(
        Arc::clone(shared),
        index,
        InFlight { _alive: token },
        sender,
    ));
    Lookup::Wait(receiver)
}

/// Waits for the run behind `receiver`, at most `check.timeout` from
/// `probe_start` and never past `probe_deadline`.
pub(crate) async fn wait(
    check: &'static CheckConfig,
    mut receiver: watch::Receiver<Option<Finished>>,
    probe_start: Instant,
    probe_deadline: Instant,
) -> CheckReport {
    let deadline = probe_deadline.min(probe_start + check.timeout);
    let finished = tokio::time::timeout_at(deadline, receiver.wait_for(Option::is_some)).await;
    match finished {
        Ok(Ok(finished)) => finished
            .as_ref()
            .map(|f| f.report.clone())
            .unwrap_or_else(|| lost(check, probe_start)),
        // The run's task ended without a result: the runtime is shutting down.
        Ok(Err(_closed)) => lost(check, probe_start),
        Err(_elapsed) => report(
            check,
            Outcome::timed_out(check.timeout),
            probe_start.elapsed(),
        ),
    }
}

fn lost(check: &'static CheckConfig, probe_start: Instant) -> CheckReport {
    report(
        check,
        Outcome::Fail {
            kind: ErrorKind::Unavailable,
            message: "check was cancelled.".into(),
        },
        probe_start.elapsed(),
    )
}

fn report(check: &'static CheckConfig, outcome: Outcome, latency: Duration) -> CheckReport {
    CheckReport {
        name: check.name,
        critical: check.critical,
        outcome,
        latency,
        time: SystemTime::now(),
    }
}

/// One run of one check, as its own task.
async fn run<T>(
    shared: Arc<Shared<T>>,
    index: usize,
    token: InFlight,
    sender: watch::Sender<Option<Finished>>,
) where
    T: HealthChecks + Send + Sync + 'static,
{
    let check = &T::config().checks[index];
    let started = Instant::now();
    let deadline = started + check.timeout;
    let context = RunContext {
        in_flight: token,
        deadline: deadline - reserve(check.timeout),
    };
    let future = RUN.scope(
        context,
        CatchUnwind {
            inner: shared.state.__healthz_check(index),
        },
    );
    let result = tokio::time::timeout_at(deadline + CLEANUP_GRACE, future).await;
    let latency = started.elapsed();
    let (outcome, detail) = match result {
        Ok(Ok(Ok(()))) => (Outcome::Pass, None),
        Ok(Ok(Err(error))) => outcome_of(error),
        Ok(Err(panic)) => (
            Outcome::Fail {
                kind: ErrorKind::Panicked,
                message: "check panicked.".into(),
            },
            Some(panic_message(&*panic)),
        ),
        Err(_elapsed) => (Outcome::timed_out(check.timeout), None),
    };
    let finished = Finished {
        report: report(check, outcome, latency),
        at: Instant::now(),
    };
    #[cfg(feature = "metrics")]
    crate::metrics::record_run(check.name, &finished.report.outcome, latency);
    let mut slot = shared.slots[index].lock();
    log_transition(
        check,
        slot.last.as_ref().map(|last| &last.report.outcome),
        &finished.report.outcome,
        detail.as_deref(),
    );
    slot.last = Some(finished.clone());
    slot.running = None;
    drop(slot);
    // Nobody may be waiting any more; that is fine.
    let _ = sender.send(Some(finished));
}

fn outcome_of(error: CheckError) -> (Outcome, Option<String>) {
    let detail = error.detail().map(ToString::to_string);
    let kind = error.kind();
    let message = error.message().to_owned();
    (
        Outcome::Fail {
            kind,
            message: message.into(),
        },
        detail,
    )
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
        (Some(Outcome::Pass), Outcome::Pass) => true,
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
