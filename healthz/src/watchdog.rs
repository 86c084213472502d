//! A liveness check that means something and cannot touch a dependency:
//! a heartbeat on the application's own runtime.
//!
//! Liveness exists to restart a process that cannot recover by itself.
//! For an async service that is a wedged runtime: every worker thread
//! stuck in a blocking call, a deadlock, a task that never yields. A
//! [`Watchdog`] runs a heartbeat task on the runtime it is started on and
//! fails when that task runs late by more than its threshold, whether the
//! runtime stopped polling it altogether or only starved it.
//!
//! ```
//! use std::time::Duration;
//! use healthz::watchdog::Watchdog;
//! use healthz::HealthChecks;
//!
//! #[derive(Clone, HealthChecks)]
//! struct State {
//!     /// Liveness fails while the runtime runs its tasks 2s late or more.
//!     #[healthz(probe = "liveness")]
//!     runtime: Watchdog,
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let state = State { runtime: Watchdog::new(Duration::from_secs(2)) };
//! state.runtime.start(); // on this runtime; else at the first liveness probe
//! let probes = state.probes();
//! assert!(probes.liveness().await.status().is_ready());
//! # }
//! ```
//!
//! When the probes are served by the same runtime the watchdog watches, a
//! fully wedged runtime cannot answer at all, and the kubelet's timeout
//! fails the probe; the watchdog also catches the starved runtime that
//! still answers, slowly. Serve the probes from a small runtime of their
//! own (and [`start_on`](Watchdog::start_on) the application's) to get a
//! prompt, explicit 503 in both cases.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::check::types::{Check, CheckError, LocalCheck};
use crate::report::DisplayAge;

/// A heartbeat on a tokio runtime; as a check, it fails while the
/// heartbeat runs later than its threshold. Clones share one heartbeat,
/// which stops when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct Watchdog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    threshold: Duration,
    period: Duration,
    /// The instant the nanosecond counters count from.
    base: Instant,
    /// When the heartbeat last ran, in nanoseconds since `base`.
    last_beat: AtomicU64,
    /// How late the last beat ran, in nanoseconds.
    last_lateness: AtomicU64,
    started: AtomicBool,
}

impl Watchdog {
    /// A watchdog that fails once its heartbeat runs `threshold` late
    /// (for instance 2s: far beyond any healthy scheduling delay, well
    /// within the kubelet's patience). The heartbeat beats every quarter
    /// of the threshold, between 10ms and 1s.
    pub fn new(threshold: Duration) -> Self {
        let period = (threshold / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
        Self {
            inner: Arc::new(Inner {
                threshold,
                period,
                base: Instant::now(),
                last_beat: AtomicU64::new(0),
                last_lateness: AtomicU64::new(0),
                started: AtomicBool::new(false),
            }),
        }
    }

    /// The threshold it was built with.
    pub fn threshold(&self) -> Duration {
        self.inner.threshold
    }

    /// Starts the heartbeat on the current tokio runtime (once: later
    /// calls do nothing). The first check starts it if this was not called,
    /// on the runtime that runs the check.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, as `tokio::spawn` does.
    pub fn start(&self) {
        self.start_on(&tokio::runtime::Handle::current());
    }

    /// Starts the heartbeat on the runtime of `handle` (once).
    pub fn start_on(&self, handle: &tokio::runtime::Handle) {
        if self.inner.started.swap(true, Ordering::AcqRel) {
            return;
        }
        self.inner.beat(Duration::ZERO);
        handle.spawn(heartbeat(Arc::downgrade(&self.inner), self.inner.period));
    }

    /// How late the runtime runs the heartbeat now: the lateness of its
    /// last beat, or how overdue the next one is, whichever is greater.
    /// `None` before [`start`](Self::start).
    pub fn lag(&self) -> Option<Duration> {
        if !self.inner.started.load(Ordering::Acquire) {
            return None;
        }
        let inner = &self.inner;
        let last_beat = Duration::from_nanos(inner.last_beat.load(Ordering::Acquire));
        let since_beat = inner.base.elapsed().saturating_sub(last_beat);
        let overdue = since_beat.saturating_sub(inner.period);
        let lateness = Duration::from_nanos(inner.last_lateness.load(Ordering::Acquire));
        Some(overdue.max(lateness))
    }
}

impl Inner {
    fn beat(&self, lateness: Duration) {
        let nanos = |duration: Duration| u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        self.last_lateness.store(nanos(lateness), Ordering::Release);
        self.last_beat
            .store(nanos(self.base.elapsed()), Ordering::Release);
    }
}

async fn heartbeat(inner: Weak<Inner>, period: Duration) {
    loop {
        let due = Instant::now() + period;
        tokio::time::sleep(period).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        inner.beat(Instant::now().saturating_duration_since(due));
    }
}

impl Check for Watchdog {
    fn check(&self) -> impl Future<Output = Result<(), CheckError>> + Send {
        let result = match self.lag() {
            None => {
                self.start();
                Ok(())
            }
            Some(lag) if lag > self.inner.threshold => Err(CheckError::unavailable(format!(
                "runtime stalled: heartbeat {} late.",
                DisplayAge(lag)
            ))),
            Some(_) => Ok(()),
        };
        std::future::ready(result)
    }
}

/// It reads two atomics: nothing outside the process.
impl LocalCheck for Watchdog {}
