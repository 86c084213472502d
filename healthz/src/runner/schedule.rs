//! Background mode: a check with an `interval` runs on its own timer, and
//! probes answer from its latest result.
//!
//! Each background check gets one task. Its runs are due at
//! `start + phase + k × interval` (k ≥ 1), after a first run at once; with
//! jitter on (the default), `phase` is drawn at random below the interval,
//! so pods started together (a rollout, a node coming back) spread their
//! checks over the whole interval instead of hitting a shared database in
//! the same millisecond. A run that overruns its slot skips the slots it
//! missed. Runs go through the runner like any other, so a background run
//! is also single-flight, under its timeout, and bounded when it sticks.
//!
//! The task holds its probes weakly and stops when the last handle is
//! dropped (the probes' stop channel closes).

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::{refresh, Checks};
use crate::config::CheckConfig;
use crate::limits::RunLimits;

/// When a background check's runs are due.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Schedule {
    start: Instant,
    phase: Duration,
    interval: Duration,
}

impl Schedule {
    /// The schedule of a check started at `start`; `jitter` draws its phase.
    pub(crate) fn new(start: Instant, interval: Duration, jitter: bool) -> Self {
        let phase = if jitter {
            random_below(interval)
        } else {
            Duration::ZERO
        };
        Self {
            start,
            phase,
            interval,
        }
    }

    /// The first run due strictly after `now` (the run at `start` aside).
    pub(crate) fn next_after(&self, now: Instant) -> Instant {
        let first = self.start + self.phase + self.interval;
        if now < first {
            return first;
        }
        let interval = self.interval.as_nanos().max(1);
        let missed = (now - first).as_nanos() / interval + 1;
        let offset = u64::try_from(missed * interval).unwrap_or(u64::MAX);
        first + Duration::from_nanos(offset)
    }
}

/// A duration drawn uniformly below `bound`, from the standard library's
/// randomly keyed hasher: enough to spread a fleet, no dependency needed.
fn random_below(bound: Duration) -> Duration {
    static DRAWS: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(DRAWS.fetch_add(1, Ordering::Relaxed));
    let nanos = u64::try_from(bound.as_nanos()).unwrap_or(u64::MAX).max(1);
    Duration::from_nanos(hasher.finish() % nanos)
}

/// Spawns the task that runs check `index` on its schedule until `stop`
/// closes or the probes are gone.
pub(crate) fn spawn<C: Checks>(
    checks: &Arc<C>,
    index: usize,
    check: &'static CheckConfig,
    interval: Duration,
    jitter: bool,
    stop: watch::Receiver<()>,
) {
    let weak = Arc::downgrade(checks);
    tokio::spawn(run_on_schedule(weak, index, check, interval, jitter, stop));
}

async fn run_on_schedule<C: Checks>(
    checks: Weak<C>,
    index: usize,
    check: &'static CheckConfig,
    interval: Duration,
    jitter: bool,
    mut stop: watch::Receiver<()>,
) {
    let schedule = Schedule::new(Instant::now(), interval, jitter);
    let mut due = Instant::now();
    loop {
        let Some(strong) = checks.upgrade() else {
            return;
        };
        let started = Instant::now();
        let running = refresh(&strong, index, check, due);
        drop(strong);
        if let Some(mut receiver) = running {
            // A run always ends by its timeout; one whose task is not
            // polled is given up on a little later, as probes do.
            let bound = RunLimits::new(started, check.timeout).stranded_at();
            tokio::select! {
                _ = tokio::time::timeout_at(bound, receiver.wait_for(Option::is_some)) => {}
                _ = stop.changed() => return,
            }
        }
        due = schedule.next_after(Instant::now());
        tokio::select! {
            () = tokio::time::sleep_until(due) => {}
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_secs(1);

    #[test]
    fn runs_are_due_every_interval_after_the_phase_and_skip_missed_slots() {
        let start = Instant::now();
        let schedule = Schedule {
            start,
            phase: Duration::from_millis(250),
            interval: INTERVAL,
        };
        let at = |millis| start + Duration::from_millis(millis);
        assert_eq!(schedule.next_after(start), at(1250));
        assert_eq!(schedule.next_after(at(1249)), at(1250));
        assert_eq!(schedule.next_after(at(1250)), at(2250));
        // A run that took 3.5 slots resumes on the schedule.
        assert_eq!(schedule.next_after(at(4700)), at(5250));
    }

    /// A hundred pods started in the same instant: with jitter their
    /// runs spread over the interval; without, they all land together.
    #[test]
    fn jitter_spreads_a_fleet_over_the_interval() {
        let start = Instant::now();
        let windows = |jitter: bool| {
            let mut windows = [0usize; 10];
            for _ in 0..100 {
                let schedule = Schedule::new(start, INTERVAL, jitter);
                let offset = schedule.next_after(start) - start - INTERVAL;
                assert!(offset < INTERVAL);
                windows[(offset.as_millis() / 100) as usize] += 1;
            }
            windows
        };
        let spread = windows(true);
        // Uniform draws: at most two of the ten 100ms windows stay empty,
        // and none gets a third of the pods (each far below a chance in a
        // million).
        let occupied = spread.iter().filter(|&&pods| pods > 0).count();
        assert!(occupied >= 8, "{spread:?}");
        assert!(spread.iter().all(|&pods| pods < 34), "{spread:?}");
        assert_eq!(windows(false), [100, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    }
}
