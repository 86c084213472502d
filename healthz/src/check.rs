//! The [`Check`] trait and the errors a check reports.
//!
//! A check answers one question: can this dependency serve the application
//! right now? It answers with `Ok(())` or a [`CheckError`], which carries two
//! texts that never mix:
//!
//! - a **public message** (`cannot connect to database.`) that is safe to send
//!   to anyone who can reach the probe port, and
//! - a **private detail** (the driver's own error, which may name hosts, users,
//!   SQL or file paths) that only goes to `tracing`, on state transitions.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::time::Instant;

use crate::config::{CheckConfig, Config};

/// A dependency that can be asked whether it is ready to serve.
///
/// `healthz` implements this for the pools and clients of its integrations
/// (see the crate's feature flags) and for `Arc<T>`, `Box<T>`, `&T` and
/// `Option<T>` (where `None` means "not configured" and passes).
///
/// Implement it for your own client types, or point a field at a function
/// with `#[healthz(with = my_check)]`.
///
/// The returned future may be dropped at any await point when the check's
/// deadline passes, so it must not leave shared state half-updated. Work that
/// cannot be cancelled (a blocking client call) should run through
/// [`blocking`], which keeps the check counted as in
/// flight until the call really returns.
///
/// ```
/// use healthz::{Check, CheckError};
///
/// struct SearchClient;
/// impl SearchClient {
///     async fn ping(&self) -> std::io::Result<()> { Ok(()) }
/// }
///
/// impl Check for SearchClient {
///     async fn check(&self) -> Result<(), CheckError> {
///         self.ping()
///             .await
///             .map_err(|e| CheckError::unavailable("cannot reach search.").with_detail(e))
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be health-checked",
    label = "this field type does not implement `healthz::Check`",
    note = "enable the healthz feature named after this client's crate (such as `sqlx` or `memcache`; the crate docs list every feature), implement `healthz::Check` for it, or write `#[healthz(with = my_check_fn)]` with an `async fn(&{Self}) -> Result<(), E>`"
)]
pub trait Check: Send + Sync {
    /// Runs the check once. `Ok(())` means the dependency is ready.
    fn check(&self) -> impl Future<Output = Result<(), CheckError>> + Send;
}

impl<T: Check + ?Sized> Check for &T {
    fn check(&self) -> impl Future<Output = Result<(), CheckError>> + Send {
        (**self).check()
    }
}

impl<T: Check + ?Sized> Check for Box<T> {
    fn check(&self) -> impl Future<Output = Result<(), CheckError>> + Send {
        (**self).check()
    }
}

impl<T: Check + ?Sized> Check for Arc<T> {
    fn check(&self) -> impl Future<Output = Result<(), CheckError>> + Send {
        (**self).check()
    }
}

/// `None` is a dependency that is not configured: it passes.
impl<T: Check> Check for Option<T> {
    async fn check(&self) -> Result<(), CheckError> {
        match self {
            Some(inner) => inner.check().await,
            None => Ok(()),
        }
    }
}

/// The future of one run of one check, as the derive builds it.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Result<(), CheckError>> + Send + 'a>>;

/// How a check failed; decides the status a probe answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The dependency could not be reached or did not answer correctly.
    Unavailable,
    /// The dependency works but cannot take more work right now (for
    /// example every pooled connection is in use). Reported as degraded:
    /// the probe stays ready, since restarting or unrouting the pod would
    /// only move the load elsewhere.
    Busy,
    /// The check did not finish before its deadline.
    TimedOut,
    /// The check panicked.
    Panicked,
}

/// Why a check failed: a public message and an optional private detail.
///
/// Build one with [`CheckError::unavailable`], [`CheckError::busy`] or
/// through `?`: every `std::error::Error` converts into a `CheckError` whose
/// public message is `check failed.` and whose detail is the error itself.
///
/// `CheckError` deliberately does not implement `std::error::Error`, so that
/// the blanket conversion above can exist (the same trade-off as
/// `anyhow::Error`).
pub struct CheckError {
    kind: ErrorKind,
    message: Cow<'static, str>,
    detail: Option<Box<dyn fmt::Display + Send + Sync>>,
}

impl CheckError {
    /// Public message of a database check that failed.
    pub const DATABASE: &'static str = "cannot connect to database.";
    /// Public message of a cache check that failed.
    pub const CACHE: &'static str = "cannot connect to cache.";
    /// Public message of a Redis check that failed.
    pub const REDIS: &'static str = "cannot connect to redis.";
    /// Public message of a pool whose every connection is in use (a busy
    /// outcome: degraded, still ready).
    pub const BUSY: &'static str = "busy: every connection is in use.";
    /// Public message of an error converted with `?` or `From`.
    pub const FAILED: &'static str = "check failed.";

    /// The dependency is unavailable. `message` is public: it is sent to
    /// whoever asks the probe, so it must not contain hosts, users or
    /// driver text. End it with a period, as in `cannot connect to database.`.
    pub fn unavailable(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    /// The dependency works but is saturated: reported as degraded, and the
    /// probe stays ready. `message` is public.
    pub fn busy(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Busy, message)
    }

    /// The dependency did not answer before the check's deadline.
    /// `message` is public, as for [`unavailable`](Self::unavailable); a
    /// pool check that timed out says `cannot connect to database.`, while
    /// the probe's own deadline reads `timed out after 300ms.`.
    pub fn timed_out(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::TimedOut, message)
    }

    pub(crate) fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            message: message.into(),
            detail: None,
        }
    }

    /// Attaches the private detail (usually the driver's error). It is logged
    /// through `tracing` when the check changes state and never sent in a
    /// response body.
    #[must_use]
    pub fn with_detail(mut self, detail: impl fmt::Display + Send + Sync + 'static) -> Self {
        self.detail = Some(Box::new(detail));
        self
    }

    /// How the check failed.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The public message, safe to show in a response body.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The private detail, if any: for logs only.
    pub fn detail(&self) -> Option<&(dyn fmt::Display + Send + Sync)> {
        self.detail.as_deref()
    }
}

impl fmt::Debug for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("CheckError");
        out.field("kind", &self.kind)
            .field("message", &self.message);
        if let Some(detail) = &self.detail {
            out.field("detail", &format_args!("{detail}"));
        }
        out.finish()
    }
}

/// Shows the public message only; use [`CheckError::detail`] for the rest.
impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E> From<E> for CheckError
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn from(error: E) -> Self {
        Self::unavailable(Self::FAILED).with_detail(error)
    }
}

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
pub(crate) struct Local(Mutex<Option<Box<dyn Any + Send>>>);

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
        let mut local = run.local.0.lock().unwrap_or_else(PoisonError::into_inner);
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
        *run.local.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(Box::new(state));
    });
}

/// Runs blocking work (a synchronous client call) on tokio's blocking pool.
///
/// The check that calls this stays counted as in flight until `work`
/// returns, even when the probe gave up on it at its deadline: the next
/// probes then report the check as still timing out instead of starting a
/// second blocking call. A call stuck far past its timeout (ten times the
/// check's timeout, at least five seconds) is written off with a log line
/// and a new run may start, but never more than two calls per check are
/// outstanding at once: a black-holed server costs at most two stuck
/// threads per check, and a client without socket timeouts cannot wedge
/// readiness for good once its server answers again.
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
