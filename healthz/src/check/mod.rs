//! What a check implementation may ask of the run it is part of: its
//! deadline ([`deadline`], [`deadline_or_default`]) and a way to run
//! blocking work ([`blocking`]). The [`Check`](crate::Check) trait and
//! [`crate::CheckError`] live at the crate root.
//!
//! A check answers one question: can this dependency serve the application
//! right now? It answers with `Ok(())` or a `CheckError`, which carries two
//! texts that never mix:
//!
//! - a **public message** (`cannot connect to database.`) that is safe to send
//!   to anyone who can reach the probe port, and
//! - a **private detail** (the driver's own error, which may name hosts, users,
//!   SQL or file paths) that only goes to `tracing`, on state transitions.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::{CheckConfig, Config};

pub(crate) mod types;

pub(crate) use types::{CheckError, ErrorKind};

/// The future of one run of one check, as the derive builds it. Not public
/// API: named by `HealthChecks`' hidden dispatch method.
#[doc(hidden)]
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Result<(), CheckError>> + Send + 'a>>;

// ---------------------------------------------------------------------------
// The run a check is part of: its deadline, its in-flight token and the
// state a check keeps between runs. The runner sets it; checks read it.

tokio::task_local! {
    static RUN: RunContext;
}

/// What a check can learn about the run it is part of.
pub(crate) struct RunContext {
    pub(crate) in_flight: InFlight,
    /// When the check should give up and report its own finding.
    pub(crate) deadline: Instant,
    pub(crate) config: &'static CheckConfig,
    pub(crate) local: Arc<Local>,
}

impl RunContext {
    /// Runs `future` as part of this run.
    pub(crate) fn scope<F: Future>(self, future: F) -> impl Future<Output = F::Output> {
        RUN.scope(self, future)
    }

    /// Runs `f` (which builds a check's future) as part of this run.
    pub(crate) fn sync_scope<R>(self, f: impl FnOnce() -> R) -> R {
        RUN.sync_scope(self, f)
    }
}

/// Proof that a run of a check is still going. A run holds one; blocking
/// work started from the run holds a clone, so a check whose blocking call
/// outlived its deadline still counts as in flight until the call returns.
#[derive(Clone)]
pub(crate) struct InFlight(pub(crate) Arc<()>);

/// State a check keeps from one run to the next (a dedicated probe
/// connection, say), one per check of a `Probes`. Runs of one check never
/// overlap, so a check takes its state out at the start and puts it back.
#[derive(Default)]
pub(crate) struct Local {
    state: Mutex<Option<Box<dyn Any + Send>>>,
    /// The client's patience, as the check's latest run found it.
    patience: Mutex<Option<Duration>>,
}

impl Local {
    /// The patience of the check's client ([`crate::Check::patience`]), as
    /// its latest run found it.
    pub(crate) fn patience(&self) -> Option<Duration> {
        *self.patience.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Records the patience of the client the current run checks.
pub(crate) fn note_patience(patience: Option<Duration>) {
    let _ = RUN.try_with(|run| {
        *run.local
            .patience
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = patience;
    });
}

/// The deadline of the check run in progress: a check that holds a resource
/// it must release properly (a pooled connection in the middle of a query)
/// can time itself out at this instant and clean up, instead of being
/// dropped by the runner a moment later.
///
/// Returns `None` outside a check run (in a unit test of a check, say).
pub fn deadline() -> Option<Instant> {
    RUN.try_with(|run| run.deadline).ok()
}

/// The deadline of the check run in progress, or outside a run (a check
/// called by hand), [`Config::DEFAULT_PROBE_TIMEOUT`] from now: what a
/// check implementation passes to `tokio::time::timeout_at`.
pub fn deadline_or_default() -> Instant {
    deadline().unwrap_or_else(|| Instant::now() + Config::DEFAULT_PROBE_TIMEOUT)
}

/// The configuration of the check being run, if any.
pub(crate) fn config() -> Option<&'static CheckConfig> {
    RUN.try_with(|run| run.config).ok()
}

/// Takes the state of type `L` the current check kept from its last run
/// (or `L::default()` the first time, or outside a run). Give it back
/// with [`put_local`] when the run is done with it; a run dropped at its
/// deadline drops it instead, which closes whatever it held.
pub(crate) fn take_local<L: Default + Send + 'static>() -> L {
    RUN.try_with(|run| {
        let mut local = run
            .local
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        local
            .take()
            .and_then(|state| state.downcast::<L>().ok())
            .map(|state| *state)
    })
    .ok()
    .flatten()
    .unwrap_or_default()
}

/// Keeps `state` for the next run of the current check.
pub(crate) fn put_local<L: Send + 'static>(state: L) {
    let _ = RUN.try_with(|run| {
        *run.local
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Box::new(state));
    });
}

/// Runs blocking work (a synchronous client call) on tokio's blocking pool.
///
/// The check that calls this stays counted as in flight until `work`
/// returns, even when the probe gave up on it at its deadline: the next
/// probes then report the check as still timing out instead of starting a
/// second blocking call. A call stuck far past its timeout is written off
/// with a log line and a new run may start, with a cap on the calls of one
/// check outstanding at once ([`crate::limits`] gives both figures): a
/// black-holed server costs a bounded number of stuck threads per check,
/// and a client without socket timeouts cannot wedge readiness for good
/// once its server answers again.
///
/// Returns `Err` with [`ErrorKind::Panicked`] if `work` panics.
pub async fn blocking<R, F>(work: F) -> Result<R, CheckError>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let in_flight = RUN.try_with(|run| run.in_flight.clone()).ok();
    let handle = tokio::task::spawn_blocking(move || {
        let _in_flight = in_flight;
        work()
    });
    handle
        .await
        .map_err(|error| CheckError::new(ErrorKind::Panicked, "check panicked.").with_detail(error))
}

/// Polls every future to completion, concurrently, keeping their order.
pub(crate) async fn join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
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
