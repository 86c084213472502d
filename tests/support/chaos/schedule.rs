//! A seeded, reproducible schedule of faults, and the thread that applies
//! it: healthy gaps of 1.5–6 s between faults of 0.3–20 s, drawn from the
//! proxy's modes (refused, reset, silent, hung connects, latency), the
//! server stopped (SIGSTOP), killed and restarted, restarted gracefully,
//! short blips, flapping, a partial fault (half the client's connections
//! black-holed, the others and new ones served), and for pools the app's
//! own queries holding every connection. A backend's further dependencies
//! get schedules of their own ([`plan_also`]), so that faults overlap.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::fault::{Fault, FaultProxy};
use crate::servers::Server;

/// One fault of a schedule.
#[derive(Clone, Copy, Debug)]
pub enum Chaos {
    /// A proxy fault, for its duration.
    Proxy(Fault),
    /// The server frozen (SIGSTOP), then let go (SIGCONT).
    Pause,
    /// The server killed (SIGKILL), started again after the duration.
    Kill,
    /// The server stopped gracefully and started again at once.
    Restart,
    /// A proxy fault switched on and off, `period` each way.
    Flap(Fault, Duration),
    /// Every other connection open now black-holed, the rest and new ones
    /// served: some of a pool's connections dead, the others alive.
    Partial,
    /// Every connection of the pool held by the app's own slow queries
    /// (for as long as they take, whatever the planned duration).
    Saturate,
}

impl fmt::Display for Chaos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Chaos::Proxy(Fault::Latency(delay)) => write!(f, "latency {}ms", delay.as_millis()),
            Chaos::Proxy(fault) => write!(f, "{fault:?}"),
            Chaos::Pause => f.write_str("SIGSTOP"),
            Chaos::Kill => f.write_str("SIGKILL+restart"),
            Chaos::Restart => f.write_str("graceful restart"),
            Chaos::Flap(fault, period) => write!(f, "flap {fault:?}/{}ms", period.as_millis()),
            Chaos::Partial => f.write_str("half the connections silent"),
            Chaos::Saturate => f.write_str("saturated"),
        }
    }
}

/// A fault at an offset from the campaign's start.
#[derive(Clone, Copy, Debug)]
pub struct Planned {
    pub at: Duration,
    pub chaos: Chaos,
    pub lasts: Duration,
}

/// A small, seedable generator (SplitMix64): the same seed gives the same
/// schedule on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A duration uniformly in `low..high` (millisecond steps).
    pub fn between(&mut self, low: Duration, high: Duration) -> Duration {
        let span = (high - low).as_millis().max(1) as u64;
        low + Duration::from_millis(self.next_u64() % span)
    }

    /// An index below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

const fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// The schedule of seed `seed` over `length`, ending healthy: every fault
/// is over a third of the length, at most 6 s, before the end. `pool` adds
/// saturation.
pub fn plan(seed: u64, length: Duration, pool: bool) -> Vec<Planned> {
    let mut rng = Rng::new(seed);
    let mut plan = Vec::new();
    let mut at = rng.between(ms(1_500), ms(4_000));
    let end = length.saturating_sub((length / 3).min(ms(6_000)));
    while at < end {
        let kinds = if pool { 12 } else { 11 };
        let chaos = match rng.below(kinds) {
            0 => Chaos::Proxy(Fault::Refuse),
            1 => Chaos::Proxy(Fault::Reset),
            2 => Chaos::Proxy(Fault::Silent),
            3 => Chaos::Proxy(Fault::HangConnect),
            4 => Chaos::Proxy(Fault::Latency(rng.between(ms(20), ms(600)))),
            5 => Chaos::Pause,
            6 => Chaos::Kill,
            7 => Chaos::Restart,
            8 => {
                let fault = [Fault::Refuse, Fault::Silent, Fault::Reset][rng.below(3)];
                Chaos::Flap(fault, rng.between(ms(300), ms(2_000)))
            }
            // A blip: shorter than the cache TTL or the interval.
            9 => Chaos::Proxy([Fault::Refuse, Fault::Reset, Fault::Silent][rng.below(3)]),
            10 => Chaos::Partial,
            _ => Chaos::Saturate,
        };
        let blip = matches!(chaos, Chaos::Proxy(_)) && rng.below(3) == 0;
        let lasts = if blip {
            rng.between(ms(300), ms(1_000))
        } else {
            rng.between(ms(1_000), ms(20_000))
        }
        .min(end - at);
        plan.push(Planned { at, chaos, lasts });
        at += lasts + rng.between(ms(1_500), ms(6_000));
    }
    plan
}

/// The schedule of a backend's `index`th further dependency (from 0) for
/// seed `seed`: drawn like the first one's, from a seed of its own.
pub fn plan_also(seed: u64, index: usize, length: Duration) -> Vec<Planned> {
    plan(seed.wrapping_add(1_000 * (index as u64 + 1)), length, false)
}

/// What the schedule thread needs to apply faults.
pub struct Target {
    /// How the report names the dependency (empty for the first).
    pub name: String,
    pub server: Arc<Mutex<Server>>,
    pub proxy: Arc<FaultProxy>,
    /// Holds every connection of the pool with the app's own slow queries
    /// and returns once they finished (a few seconds).
    pub saturate: Option<Box<dyn Fn() + Send>>,
}

/// What was applied, and when (offsets from the campaign's start): the
/// report quotes the faults around a wrong answer.
#[derive(Default)]
pub struct Applied(pub Mutex<Vec<(Duration, Duration, String)>>);

/// Applies `plan` from `start` on, on the calling (non-runtime) thread.
pub fn apply(plan: &[Planned], start: Instant, target: Target, applied: &Applied) {
    let server = || target.server.lock().unwrap();
    for planned in plan {
        sleep_until(start + planned.at);
        let began = start.elapsed();
        let until = start + planned.at + planned.lasts;
        match planned.chaos {
            Chaos::Proxy(fault) => {
                target.proxy.set(fault);
                sleep_until(until);
                heal(&target.proxy, fault);
            }
            Chaos::Flap(fault, period) => {
                while Instant::now() < until {
                    target.proxy.set(fault);
                    sleep_until((Instant::now() + period).min(until));
                    heal(&target.proxy, fault);
                    sleep_until((Instant::now() + period).min(until));
                }
            }
            Chaos::Pause => {
                server().pause();
                sleep_until(until);
                server().unpause();
            }
            Chaos::Kill => {
                server().kill();
                sleep_until(until);
                server().resume();
            }
            Chaos::Restart => server().restart(),
            Chaos::Partial => {
                target.proxy.black_hole_half();
                sleep_until(until);
                target.proxy.reset_black_holes();
            }
            Chaos::Saturate => {
                if let Some(saturate) = &target.saturate {
                    // A slow query cut short by the load is not the
                    // campaign's failure: the episode is over either way.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(saturate));
                }
            }
        }
        applied.0.lock().unwrap().push((
            began,
            start.elapsed(),
            format!("{}{}", target.name, planned.chaos),
        ));
    }
}

/// Back to forwarding; a silent or hung host that comes back answers its
/// old half-open connections with a reset.
fn heal(proxy: &FaultProxy, fault: Fault) {
    proxy.set(Fault::Pass);
    if matches!(fault, Fault::Silent | Fault::HangConnect) {
        proxy.reset_black_holes();
    }
}

/// The schedule's clock: a chaos schedule is timed, not synchronised.
fn sleep_until(instant: Instant) {
    let now = Instant::now();
    if instant > now {
        std::thread::sleep(instant - now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `DEFAULT_SEEDS` says of CI's 9 s campaign.
    #[test]
    fn the_ci_seeds_draw_what_their_comment_says() {
        let first = |seed, pool| {
            plan(seed, Duration::from_secs(9), pool)[0]
                .chaos
                .to_string()
        };
        assert_eq!(first(1, true), "graceful restart");
        assert!(first(1, false).starts_with("flap "), "{}", first(1, false));
        assert_eq!(first(6, true), "SIGSTOP");
        assert_eq!(first(6, false), "half the connections silent");
    }
}
