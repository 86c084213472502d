//! The [`Check`] trait and the errors a check reports, re-exported at the
//! crate root (their one public path).

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

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
/// [`blocking`](crate::check::blocking), which keeps the check counted as in
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

    /// Whether there is a dependency to check at all: `false` for `None`.
    /// A field that is not configured passes without running, and probes
    /// say so (`[+]cache not configured`, `"output":"not configured"`)
    /// rather than report it as checked.
    fn is_configured(&self) -> bool {
        true
    }

    /// How long the client itself keeps the app's own requests waiting for
    /// the dependency before they fail, if it does: a sqlx pool spends its
    /// `acquire_timeout` retrying a refused connect, so an app's request
    /// rides out an outage shorter than that. `None` (the default) for a
    /// client whose requests fail at once.
    ///
    /// A check without `fail_after` holds a failure that long before it
    /// counts ([`FailAfter::Patience`](crate::FailAfter::Patience)):
    /// readiness is then no stricter than the app it speaks for.
    fn patience(&self) -> Option<Duration> {
        None
    }
}

impl<T: Check + ?Sized> Check for &T {
    fn check(&self) -> impl Future<Output = Result<(), CheckError>> + Send {
        (**self).check()
    }

    fn is_configured(&self) -> bool {
        (**self).is_configured()
    }

    fn patience(&self) -> Option<Duration> {
        (**self).patience()
    }
}

impl<T: Check + ?Sized> Check for Box<T> {
    fn check(&self) -> impl Future<Output = Result<(), CheckError>> + Send {
        (**self).check()
    }

    fn is_configured(&self) -> bool {
        (**self).is_configured()
    }

    fn patience(&self) -> Option<Duration> {
        (**self).patience()
    }
}

impl<T: Check + ?Sized> Check for Arc<T> {
    fn check(&self) -> impl Future<Output = Result<(), CheckError>> + Send {
        (**self).check()
    }

    fn is_configured(&self) -> bool {
        (**self).is_configured()
    }

    fn patience(&self) -> Option<Duration> {
        (**self).patience()
    }
}

/// `None` is a dependency that is not configured: it passes, and is
/// reported as not configured.
impl<T: Check> Check for Option<T> {
    async fn check(&self) -> Result<(), CheckError> {
        match self {
            Some(inner) => inner.check().await,
            None => Ok(()),
        }
    }

    fn is_configured(&self) -> bool {
        self.as_ref().is_some_and(Check::is_configured)
    }

    fn patience(&self) -> Option<Duration> {
        self.as_ref().and_then(Check::patience)
    }
}

/// A check that looks only inside the process (its runtime, its own
/// threads, its memory), never at a dependency: the only kind of check
/// that may be a liveness check (`#[healthz(probe = "liveness")]`).
///
/// Liveness failing makes the kubelet restart the container. A database
/// or cache in liveness would restart every pod of the fleet at once when
/// it blips, which cures nothing and turns a short outage into a long
/// one; so a pool or client in `probe = "liveness"` does not compile.
/// [`Watchdog`](crate::watchdog::Watchdog) is the crate's own local check.
/// Implement this marker for a check of yours only if it touches nothing
/// outside the process.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a local check, so it cannot be a liveness check",
    label = "a liveness check must implement `healthz::LocalCheck`",
    note = "liveness must never depend on a database, cache or other service: when it blips, every pod fails liveness and the kubelet restarts them all. Drop `probe = \"liveness\"` to make this a readiness check, or use `healthz::watchdog::Watchdog`, which detects a wedged runtime without touching a dependency"
)]
pub trait LocalCheck: Check {}

impl<T: LocalCheck + ?Sized> LocalCheck for &T {}
impl<T: LocalCheck + ?Sized> LocalCheck for Box<T> {}
impl<T: LocalCheck + ?Sized> LocalCheck for Arc<T> {}
impl<T: LocalCheck> LocalCheck for Option<T> {}

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
    /// Not a failure: the field is not configured (`None`), so nothing ran
    /// and the check passes, reported as not configured.
    NotConfigured,
    /// A background check's latest result is too old to trust: its
    /// scheduler has stopped (see [`CheckConfig::stale_after`](crate::CheckConfig::stale_after)).
    Stale,
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

    /// What a check that is not configured reports: not a failure.
    pub(crate) fn not_configured() -> Self {
        Self::new(ErrorKind::NotConfigured, "not configured")
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
