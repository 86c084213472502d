//! Flap damping: when a run's outcome changes what a check counts as
//! (`fail_after`, `recover_after`).
//!
//! The first result sets the state as it is: damping rides out flaps of an
//! established state, and must not make a pod that starts with its
//! database down look ready, nor keep one that starts healthy unready.

use std::time::Duration;

use tokio::time::Instant;

use crate::config::{CheckConfig, FailAfter};
use crate::report::{Damping, Outcome};

/// The damping state of one check, kept in its slot.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Damper {
    /// Whether the check counts as failing; `None` before its first result.
    down: Option<bool>,
    /// Consecutive failed runs.
    failures: u32,
    /// When the current run of failures began.
    failing_since: Option<Instant>,
    /// Consecutive passing runs.
    passes: u32,
}

impl Damper {
    /// Records the outcome of a run that started at `now`, of a check whose
    /// client has `patience`, and returns how damping holds the check
    /// after it. Every run counts at its start, whenever it ended: a
    /// `Failing` duration is then the span between the starts of the
    /// first and the latest failed run, a whole number of TTLs or
    /// intervals when runs come on time.
    pub(crate) fn record(
        &mut self,
        check: &CheckConfig,
        outcome: &Outcome,
        now: Instant,
        patience: Option<Duration>,
    ) -> Damping {
        let (next, damping) = self.after(check, outcome, now, patience);
        *self = next;
        damping
    }

    /// How damping would hold the check if the run started at `now` failed,
    /// without recording it: for a probe that gave up waiting on a run.
    pub(crate) fn peek_failure(
        &self,
        check: &CheckConfig,
        now: Instant,
        patience: Option<Duration>,
    ) -> Damping {
        let failed = Outcome::timed_out(check.timeout);
        self.after(check, &failed, now, patience).1
    }

    fn after(
        &self,
        check: &CheckConfig,
        outcome: &Outcome,
        now: Instant,
        patience: Option<Duration>,
    ) -> (Self, Damping) {
        let mut next = *self;
        // A busy pool is a working dependency.
        if outcome.is_failure() {
            next.passes = 0;
            next.failures = next.failures.saturating_add(1);
            let since = *next.failing_since.get_or_insert(now);
            match next.down {
                None | Some(true) => {
                    next.down = Some(true);
                    (next, Damping::Steady)
                }
                Some(false) => {
                    let reached = match check.fail_after.with_patience(patience) {
                        FailAfter::Failures(count) => next.failures >= count,
                        FailAfter::Failing(duration) => {
                            now.saturating_duration_since(since) >= duration
                        }
                        FailAfter::Patience => true,
                    };
                    if reached {
                        next.down = Some(true);
                        (next, Damping::Steady)
                    } else {
                        let failures = next.failures;
                        (next, Damping::Holding { failures })
                    }
                }
            }
        } else {
            next.failures = 0;
            next.failing_since = None;
            next.passes = next.passes.saturating_add(1);
            match next.down {
                Some(true) if next.passes < check.recover_after => {
                    let damping = Damping::Recovering {
                        passes: next.passes,
                        needed: check.recover_after,
                    };
                    (next, damping)
                }
                _ => {
                    next.down = Some(false);
                    (next, Damping::Steady)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::check::ErrorKind;

    fn check(fail_after: FailAfter, recover_after: u32) -> CheckConfig {
        crate::__private::check_config(crate::__private::CheckFields {
            name: "db",
            timeout: Duration::from_millis(100),
            critical: true,
            busy_limit: CheckConfig::DEFAULT_BUSY_LIMIT,
            interval: None,
            fail_after,
            recover_after,
            liveness: false,
        })
    }

    fn fail() -> Outcome {
        Outcome::Fail {
            kind: ErrorKind::Unavailable,
            message: "cannot connect to database.".into(),
        }
    }

    #[test]
    fn defaults_keep_the_raw_outcome() {
        let check = check(FailAfter::Failures(1), 1);
        let mut damper = Damper::default();
        let now = Instant::now();
        for outcome in [Outcome::Pass, fail(), Outcome::Pass, fail(), fail()] {
            assert_eq!(damper.record(&check, &outcome, now, None), Damping::Steady);
        }
    }

    #[test]
    fn failures_are_held_until_the_count_then_passes_until_theirs() {
        let check = check(FailAfter::Failures(3), 2);
        let mut damper = Damper::default();
        let now = Instant::now();
        assert_eq!(
            damper.record(&check, &Outcome::Pass, now, None),
            Damping::Steady
        );
        assert_eq!(
            damper.record(&check, &fail(), now, None),
            Damping::Holding { failures: 1 }
        );
        // A pass in between starts the count again.
        assert_eq!(
            damper.record(&check, &Outcome::Pass, now, None),
            Damping::Steady
        );
        assert_eq!(
            damper.record(&check, &fail(), now, None),
            Damping::Holding { failures: 1 }
        );
        assert_eq!(
            damper.peek_failure(&check, now, None),
            Damping::Holding { failures: 2 }
        );
        assert_eq!(
            damper.record(&check, &fail(), now, None),
            Damping::Holding { failures: 2 }
        );
        assert_eq!(damper.record(&check, &fail(), now, None), Damping::Steady);
        assert_eq!(
            damper.record(&check, &Outcome::Pass, now, None),
            Damping::Recovering {
                passes: 1,
                needed: 2
            }
        );
        assert_eq!(damper.record(&check, &fail(), now, None), Damping::Steady);
        assert_eq!(
            damper.record(&check, &Outcome::Pass, now, None),
            Damping::Recovering {
                passes: 1,
                needed: 2
            }
        );
        assert_eq!(
            damper.record(&check, &Outcome::Pass, now, None),
            Damping::Steady
        );
    }

    #[test]
    fn a_duration_counts_from_the_first_failure() {
        let check = check(FailAfter::Failing(Duration::from_secs(10)), 1);
        let mut damper = Damper::default();
        let start = Instant::now();
        damper.record(&check, &Outcome::Pass, start, None);
        for (seconds, expected) in [
            (0, Damping::Holding { failures: 1 }),
            (5, Damping::Holding { failures: 2 }),
            (10, Damping::Steady),
        ] {
            let at = start + Duration::from_secs(seconds);
            assert_eq!(
                damper.record(&check, &fail(), at, None),
                expected,
                "{seconds}s"
            );
        }
    }

    #[test]
    fn the_first_result_is_taken_as_it_is() {
        let check = check(FailAfter::Failures(3), 3);
        let now = Instant::now();
        let mut damper = Damper::default();
        assert_eq!(damper.record(&check, &fail(), now, None), Damping::Steady);
        assert_eq!(
            damper.record(&check, &Outcome::Pass, now, None),
            Damping::Recovering {
                passes: 1,
                needed: 3
            }
        );
        let mut damper = Damper::default();
        assert_eq!(
            damper.record(&check, &Outcome::Pass, now, None),
            Damping::Steady
        );
    }

    #[test]
    fn busy_is_not_a_failure() {
        let check = check(FailAfter::Failures(2), 1);
        let busy = Outcome::Busy {
            message: "busy.".into(),
        };
        let mut damper = Damper::default();
        let now = Instant::now();
        damper.record(&check, &Outcome::Pass, now, None);
        damper.record(&check, &fail(), now, None);
        assert_eq!(damper.record(&check, &busy, now, None), Damping::Steady);
        assert_eq!(
            damper.record(&check, &fail(), now, None),
            Damping::Holding { failures: 1 }
        );
    }

    #[test]
    fn patience_holds_a_failure_as_long_as_the_client_waits() {
        let check = check(FailAfter::Patience, 1);
        let patience = Some(Duration::from_secs(2));
        let start = Instant::now();
        let mut damper = Damper::default();
        assert_eq!(
            damper.record(&check, &Outcome::Pass, start, patience),
            Damping::Steady
        );
        assert_eq!(
            damper.record(&check, &fail(), start, patience),
            Damping::Holding { failures: 1 }
        );
        let later = start + Duration::from_millis(1_900);
        assert_eq!(
            damper.record(&check, &fail(), later, patience),
            Damping::Holding { failures: 2 }
        );
        let past = start + Duration::from_secs(2);
        assert_eq!(
            damper.record(&check, &fail(), past, patience),
            Damping::Steady
        );
        assert_eq!(damper.peek_failure(&check, past, patience), Damping::Steady);
    }

    #[test]
    fn without_patience_the_default_fails_at_once() {
        let check = check(FailAfter::Patience, 1);
        let now = Instant::now();
        let mut damper = Damper::default();
        assert_eq!(
            damper.record(&check, &Outcome::Pass, now, None),
            Damping::Steady
        );
        assert_eq!(damper.record(&check, &fail(), now, None), Damping::Steady);
    }
}
