//! Every bound on a check run, in one place: the single source of these
//! numbers for the runner, the background timers, the probes and the
//! blocking-call guard, and the one page that explains them.
//!
//! One run of a check with timeout `t`, started at `s`:
//!
//! | instant | what happens |
//! |---|---|
//! | `s + t - reserve(t)` | the check's own [deadline](crate::check::deadline): a check that honours it gives up here and reports its own finding (busy, cannot connect) rather than a bare timeout. `reserve(t)` is a tenth of `t`, at most 25ms. |
//! | `s + t` | a probe waiting on the run answers `timed out after t.` (never past the probe deadline). |
//! | `s + t + CLEANUP_GRACE` | the runner drops the run's future: a check that saw its deadline pass had [`CLEANUP_GRACE`] to detach a connection or close a socket. |
//! | `s + t + CLEANUP_GRACE + STRANDED_AFTER` | a run that has still not published its result is **stranded** (its task is not being polled: the runtime is stalled or gone), and the next probe starts a new run. |
//!
//! A run whose blocking call ([`blocking`](crate::check::blocking)) has
//! not returned is **outstanding**: it holds new runs of its check back
//! (each run it holds back counts as one that timed out, for damping and
//! for the cache TTL alike) until it returns, or
//! until it is [written off](write_off_after) `max(10 × t, 5s)` after it
//! started, so that a slow but live server is not hammered with parallel
//! calls while a black hole cannot wedge readiness for good. At most
//! [`MAX_OUTSTANDING`] runs of one check are outstanding at once: the
//! bound on threads a check can leave stuck.
//!
//! A result is reused for the cache TTL (`cache`, 1s by default; never for
//! a liveness check, which answers the question of the moment). A
//! background check's latest result counts as failing once it is older
//! than [`stale_after`] its interval (three intervals).

use std::time::Duration;

use tokio::time::Instant;

/// How long past its deadline a run may take to clean up after itself (a
/// check that sees its deadline pass detaches its connection, say) before
/// the runner drops it.
pub const CLEANUP_GRACE: Duration = Duration::from_millis(50);

/// How late past the moment it is dropped a run that has not published
/// may be before it counts as stranded on a runtime that no longer polls
/// it.
pub const STRANDED_AFTER: Duration = Duration::from_millis(100);

/// The most runs of one check that may be outstanding at once: the bound
/// on threads a check can leave stuck in blocking calls.
pub const MAX_OUTSTANDING: usize = 2;

/// How many intervals old a background check's latest result may be
/// before it counts as failing.
const STALE_INTERVALS: u32 = 3;

/// How long an outstanding blocking call of a check with timeout
/// `timeout` holds back new runs before it is written off: far past the
/// timeout, and never under five seconds.
pub fn write_off_after(timeout: Duration) -> Duration {
    (timeout * 10).max(Duration::from_secs(5))
}

/// How old a background check's latest result (interval `interval`) may
/// be before it counts as failing with `stale: last result <age> old.`:
/// three intervals, so that a scheduler that died (its runtime shut down,
/// its task starved) cannot leave a pod ready on a result from long ago.
pub fn stale_after(interval: Duration) -> Duration {
    interval * STALE_INTERVALS
}

/// How long a result of a check is reused: the cache TTL, but never for
/// a liveness check.
pub(crate) fn cache_ttl(ttl: Duration, liveness: bool) -> Duration {
    if liveness {
        Duration::ZERO
    } else {
        ttl
    }
}

/// How much earlier than the probe gives up on a check the check itself is
/// told to give up.
fn reserve(timeout: Duration) -> Duration {
    (timeout / 10).min(Duration::from_millis(25))
}

/// The instants of one run, from its start and its check's timeout.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RunLimits {
    /// When the run's check times out.
    pub(crate) deadline: Instant,
    timeout: Duration,
}

impl RunLimits {
    pub(crate) fn new(started: Instant, timeout: Duration) -> Self {
        Self {
            deadline: started + timeout,
            timeout,
        }
    }

    /// The deadline the check is told (`check::deadline`).
    pub(crate) fn told(self) -> Instant {
        self.deadline - reserve(self.timeout)
    }

    /// When the runner drops the run's future.
    pub(crate) fn dropped_at(self) -> Instant {
        self.deadline + CLEANUP_GRACE
    }

    /// When a run that has not published counts as stranded.
    pub(crate) fn stranded_at(self) -> Instant {
        self.dropped_at() + STRANDED_AFTER
    }
}
