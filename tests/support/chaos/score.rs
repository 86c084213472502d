//! The score of a campaign, per 100 ms window.
//!
//! **Truth** is the app's own requests *sent* in the window (what a request
//! routed to the pod at that moment would have met): serving when at least
//! 95 % were answered 200 within the app's timeout, not serving when at
//! most 50 % were, otherwise degraded and not scored (as is a window with
//! fewer than 5 requests). **Readiness** is the probe sent in the window.
//!
//! **The allowance** follows from the probes' [`Config`]: readiness may
//! turn unready up to `fail_after` (by default the client's patience,
//! rounded up to whole periods: a run sees how long a failure lasted) +
//! one period (the cache TTL, or the background interval) + the deadline
//! (+ the time a check waits before it calls a silent server down rather
//! than slow, for the memcached check whose client's timeout is longer
//! than its deadline) after the app stopped serving (or after the fault
//! began, when the app stopped serving within its own wait before it: a
//! request queued in the app fails with a fault that began after it was
//! sent, which no readiness can see coming), and
//! ready again up to `recover_after` − 1 further periods + one period +
//! the deadline after it serves again, plus the app's own wait: judged by
//! the requests sent in a window, the app serves again as soon as a request
//! sent then will be answered once the dependency is back, which is up to
//! the app's timeout before the dependency is. Two windows of slack cover
//! the windows' own granularity.

use std::time::Duration;

use healthz::{Config, FailAfter};

use super::record::{Probed, Sent};

/// The scoring granularity.
pub const WINDOW: Duration = Duration::from_millis(100);
const SLACK: Duration = Duration::from_millis(200);
const MIN_REQUESTS: usize = 5;

/// How late readiness may be, each way.
#[derive(Clone, Copy, Debug)]
pub struct Allowance {
    pub to_unready: Duration,
    pub to_ready: Duration,
    /// How long the app waits for its dependency: a request sent that much
    /// before a fault began can fail because of it.
    pub app_wait: Duration,
}

impl Allowance {
    /// The allowance of the readiness checks of `config`, for an app that
    /// waits up to `app_wait` for its dependency, through a client whose
    /// patience is `patience` ([`healthz::Check::patience`]) and that a
    /// check waits up to `slow_wait` for before it calls a silent server
    /// down.
    pub fn of(
        config: &Config,
        app_wait: Duration,
        patience: Option<Duration>,
        slow_wait: Duration,
    ) -> Allowance {
        let mut allowance = Allowance {
            to_unready: Duration::ZERO,
            to_ready: Duration::ZERO,
            app_wait,
        };
        for check in config.checks.iter().filter(|c| !c.liveness && c.critical) {
            let period = check.background_interval().unwrap_or(config.cache_ttl);
            let run = period + check.timeout.min(config.probe_timeout);
            let fail = match check.fail_after.with_patience(patience) {
                // Runs come once a period, so a failure is seen to have
                // lasted `duration` at the first run past it.
                FailAfter::Failing(duration) => {
                    period * duration.div_duration_f64(period).ceil() as u32
                }
                FailAfter::Failures(runs) => run * runs.saturating_sub(1),
                _ => unreachable!("`with_patience` resolves every other rule"),
            };
            let recover = run * check.recover_after.saturating_sub(1);
            allowance.to_unready = allowance.to_unready.max(fail + run + slow_wait + SLACK);
            allowance.to_ready = allowance.to_ready.max(recover + run + app_wait + SLACK);
        }
        allowance
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Truth {
    Serving,
    NotServing,
}

/// The figures of one campaign.
#[derive(Clone, Debug, Default)]
pub struct Score {
    /// Seconds scored as serving, and as not serving.
    pub serving: f64,
    pub not_serving: f64,
    /// 200 while the app did not serve, beyond the allowance (busy aside).
    pub false_ready: f64,
    /// 503 while the app served, beyond the allowance.
    pub false_unready: f64,
    /// 200 reporting a busy check while the app did not serve.
    pub busy: f64,
    /// From the app's first failing window to readiness's first 503, for
    /// every stretch in which readiness turned.
    pub to_unready: Vec<Duration>,
    /// From the app's first serving window to readiness's first 200.
    pub to_ready: Vec<Duration>,
    /// Probes answered later than the probe timeout, or not at all.
    pub slow_probes: usize,
    /// Offsets of the windows counted false-ready and false-unready.
    pub false_ready_at: Vec<Duration>,
    pub false_unready_at: Vec<Duration>,
}

impl Score {
    /// Scores `requests` against `probes` over `length`, in a run whose
    /// faults began at `faults` (offsets from its start).
    ///
    /// A request is scored by the window it was sent in, and one that waits
    /// in the app (a queue for a pool's connections) fails with a fault
    /// that began after it was sent. Readiness cannot see a fault before it
    /// begins: when the app stops serving within its own wait before a
    /// fault begins, the lag to 503 counts from the fault.
    pub fn of(
        requests: &[Sent],
        probes: &[Probed],
        length: Duration,
        allowance: Allowance,
        faults: &[Duration],
    ) -> Score {
        let windows = (length.as_millis() / WINDOW.as_millis()) as usize;
        let mut sent = vec![(0usize, 0usize); windows];
        for request in requests {
            if let Some(window) = sent.get_mut(index(request.at)) {
                window.0 += 1;
                window.1 += usize::from(request.ok);
            }
        }
        let mut probed: Vec<Option<Probed>> = vec![None; windows];
        let mut score = Score::default();
        for probe in probes {
            if probe.took >= super::record::PROBE_TIMEOUT {
                score.slow_probes += 1;
            }
            if let Some(window) = probed.get_mut(index(probe.at)) {
                window.get_or_insert(*probe);
            }
        }
        let step = WINDOW.as_secs_f64();
        // The campaign starts once the app serves and readiness says so.
        let mut truth = Truth::Serving;
        let mut since = Duration::ZERO;
        let mut turned = true;
        // Whether the windows since the last scored one include a degraded
        // one, and the latest probe's answer.
        let mut degraded = false;
        let mut ready = true;
        for (window, (&(total, ok), probe)) in sent.iter().zip(&probed).enumerate() {
            let at = WINDOW * window as u32;
            let now = if total < MIN_REQUESTS {
                None
            } else if ok * 100 >= total * 95 {
                Some(Truth::Serving)
            } else if ok * 100 <= total * 50 {
                Some(Truth::NotServing)
            } else {
                degraded = true;
                None
            };
            if let Some(probe) = probe {
                ready = probe.ready;
            }
            let Some(now) = now else { continue };
            // Serving again after a degraded stretch (a partial fault: one
            // of two servers down) is a recovery too: readiness, which may
            // have answered 503 meanwhile, has the same allowance to turn
            // back as after a stretch of not serving.
            let recovered = degraded && now == Truth::Serving && !ready;
            degraded = false;
            if now != truth || recovered {
                truth = now;
                since = at;
                if truth == Truth::NotServing {
                    since = faults
                        .iter()
                        .copied()
                        .filter(|&fault| fault > at && fault <= at + allowance.app_wait)
                        .min()
                        .unwrap_or(at);
                }
                turned = false;
            }
            match truth {
                Truth::Serving => score.serving += step,
                Truth::NotServing => score.not_serving += step,
            }
            let Some(probe) = probe else { continue };
            let agrees = probe.ready == (truth == Truth::Serving);
            if agrees && !turned {
                turned = true;
                let lags = match truth {
                    Truth::Serving => &mut score.to_ready,
                    Truth::NotServing => &mut score.to_unready,
                };
                lags.push(at.saturating_sub(since));
            }
            if agrees {
                continue;
            }
            let late = at.saturating_sub(since);
            match truth {
                Truth::Serving if late > allowance.to_ready => {
                    score.false_unready += step;
                    score.false_unready_at.push(at);
                }
                Truth::NotServing if probe.busy => score.busy += step,
                Truth::NotServing if late > allowance.to_unready => {
                    score.false_ready += step;
                    score.false_ready_at.push(at);
                }
                _ => {}
            }
        }
        score
    }
}

fn index(at: Duration) -> usize {
    (at.as_millis() / WINDOW.as_millis()) as usize
}

/// The `p`-th percentile (0–100) of `lags`, `None` if there is none.
pub fn percentile(lags: &[Duration], p: usize) -> Option<Duration> {
    let mut sorted = lags.to_vec();
    sorted.sort();
    let last = sorted.len().checked_sub(1)?;
    Some(sorted[(last * p).div_ceil(100)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(from_ms: u64, to_ms: u64, ok: bool) -> Vec<Sent> {
        (from_ms..to_ms)
            .step_by(10)
            .map(|ms| Sent {
                at: Duration::from_millis(ms),
                ok,
            })
            .collect()
    }

    fn probes(from_ms: u64, to_ms: u64, ready: bool) -> Vec<Probed> {
        (from_ms..to_ms)
            .step_by(100)
            .map(|ms| Probed {
                at: Duration::from_millis(ms),
                ready,
                busy: false,
                took: Duration::from_millis(5),
            })
            .collect()
    }

    const ALLOW: Allowance = Allowance {
        to_unready: Duration::from_millis(1_000),
        to_ready: Duration::from_millis(1_000),
        app_wait: Duration::from_millis(2_000),
    };

    #[test]
    fn a_late_503_within_the_allowance_is_no_false_ready() {
        let requests = [sent(0, 2_000, true), sent(2_000, 6_000, false)].concat();
        let probes = [probes(0, 2_900, true), probes(2_900, 6_000, false)].concat();
        let score = Score::of(&requests, &probes, Duration::from_secs(6), ALLOW, &[]);
        assert_eq!(score.false_ready, 0.0);
        assert_eq!(score.to_unready, [Duration::from_millis(900)]);
    }

    #[test]
    fn a_503_later_than_the_allowance_counts_every_window_past_it() {
        let requests = [sent(0, 2_000, true), sent(2_000, 6_000, false)].concat();
        let probes = [probes(0, 3_500, true), probes(3_500, 6_000, false)].concat();
        let score = Score::of(&requests, &probes, Duration::from_secs(6), ALLOW, &[]);
        // Windows 3.1 s to 3.4 s are past 2 s + 1 s.
        assert!((score.false_ready - 0.4).abs() < 1e-9, "{score:?}");
        assert_eq!(score.false_unready, 0.0);
    }

    #[test]
    fn a_503_while_the_app_serves_is_false_unready() {
        let requests = sent(0, 5_000, true);
        let probes = [
            probes(0, 2_000, true),
            probes(2_000, 2_500, false),
            probes(2_500, 5_000, true),
        ]
        .concat();
        let score = Score::of(&requests, &probes, Duration::from_secs(5), ALLOW, &[]);
        assert!((score.false_unready - 0.5).abs() < 1e-9, "{score:?}");
        assert_eq!(score.false_ready, 0.0);
    }

    #[test]
    fn serving_again_after_a_degraded_stretch_has_the_allowance_to_turn_back() {
        // One request in three fails for 2 s (degraded, unscored) while
        // readiness says 503, then the app serves again and readiness
        // turns 200 0.8 s later: within the allowance, no false-unready.
        let degraded: Vec<Sent> = (2_000..4_000u64)
            .step_by(10)
            .map(|ms| Sent {
                at: Duration::from_millis(ms),
                ok: ms % 30 != 0,
            })
            .collect();
        let requests = [sent(0, 2_000, true), degraded, sent(4_000, 6_000, true)].concat();
        let probes = [
            probes(0, 2_500, true),
            probes(2_500, 4_800, false),
            probes(4_800, 6_000, true),
        ]
        .concat();
        let score = Score::of(&requests, &probes, Duration::from_secs(6), ALLOW, &[]);
        assert_eq!(score.false_unready, 0.0, "{score:?}");
        assert_eq!(score.to_ready, [Duration::from_millis(800)]);
    }

    #[test]
    fn degraded_and_sparse_windows_are_not_scored() {
        let mixed: Vec<Sent> = (0..5_000u64)
            .step_by(10)
            .map(|ms| Sent {
                at: Duration::from_millis(ms),
                ok: ms % 20 == 0 || ms % 30 == 0,
            })
            .collect();
        let score = Score::of(
            &mixed,
            &probes(0, 5_000, false),
            Duration::from_secs(5),
            ALLOW,
            &[],
        );
        assert_eq!((score.serving, score.not_serving), (0.0, 0.0));
    }

    #[test]
    fn requests_that_waited_in_the_app_for_a_later_fault_do_not_start_the_lag() {
        // The fault begins at 2.8 s; requests queued in the app since 2 s
        // fail with it. Readiness turns 503 at 3.6 s: 0.8 s after the
        // fault, within the allowance, though 1.6 s after the first
        // failing window.
        let requests = [sent(0, 2_000, true), sent(2_000, 6_000, false)].concat();
        let probes = [probes(0, 3_600, true), probes(3_600, 6_000, false)].concat();
        let fault = [Duration::from_millis(2_800)];
        let score = Score::of(&requests, &probes, Duration::from_secs(6), ALLOW, &fault);
        assert_eq!(score.false_ready, 0.0, "{score:?}");
        assert_eq!(score.to_unready, [Duration::from_millis(800)]);
        // Without a fault to explain it, the lag counts from the first
        // failing window.
        let score = Score::of(&requests, &probes, Duration::from_secs(6), ALLOW, &[]);
        assert!((score.false_ready - 0.5).abs() < 1e-9, "{score:?}");
    }
}
