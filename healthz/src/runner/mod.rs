//! Concurrent evaluation of checks: deadlines, single-flight, the result
//! cache, and the bounds that keep a stuck run from wedging its check.
//!
//! Every check has one [`Slot`]. A probe that needs a check's result takes,
//! in this order: a cached result younger than the TTL; the run already in
//! flight; or a new run, spawned as its own task. The spawned run is never
//! tied to the probe that started it, so a probe that gives up at its
//! deadline does not cancel work that other probes wait for, and a run is
//! never started twice at once however many probes arrive.
//!
//! A run can outlive its deadline in two ways: its blocking call has not
//! returned (a client without socket timeouts behind a stalled server), or
//! its task is not being polled (its runtime is stalled or gone). Such a run
//! is *outstanding*: it holds new runs back until it is written off, or is
//! replaced at once when stranded. Every bound involved is in
//! [`crate::limits`], and nowhere else.
//!
//! A check with an interval runs in the background ([`schedule`]): probes
//! then answer from its latest result, until it is stale. Every result goes
//! through the slot's [`Damper`] (flap damping) as it is published.
//!
//! (One file over the usual size: every transition of a slot's state,
//! each under its lock, is here, so that the rules above read in one
//! place.)

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::time::Instant;

use crate::check::{CheckFuture, ErrorKind, InFlight, Local};
use crate::config::CheckConfig;
use crate::limits::{self, RunLimits};
use crate::report::{CheckReport, Damping, DisplayAge, Outcome};

mod damper;
mod run;
pub(crate) mod schedule;

use damper::Damper;
use run::Run;

/// What the runner needs of the probes that own the slots: the slot of each
/// check, a way to start one run of it, and whom to tell of a new result.
pub(crate) trait Checks: Send + Sync + 'static {
    /// The slot of check `index`.
    fn slot(&self, index: usize) -> &Slot;
    /// Builds the future of one run of check `index`.
    fn start(&self, index: usize) -> CheckFuture<'_>;
    /// Called, outside every lock, after check `index` published a result.
    fn published(&self, index: usize);
}

/// A finished run, as kept in the cache.
#[derive(Clone)]
pub(crate) struct Finished {
    report: CheckReport,
    /// When its run began: the cache TTL and staleness count from here, so
    /// that a result is never served more than the TTL after the moment it
    /// describes. A run that took its whole deadline to fail (a silent
    /// server) is not then reused for a full TTL more, past a recovery;
    /// runs still start at most one per TTL.
    at: Instant,
}

/// The run in flight.
struct Current {
    generation: u64,
    receiver: watch::Receiver<Option<Finished>>,
    token: Weak<()>,
    started: Instant,
    /// Past this instant a run that has not published is stranded.
    stranded_at: Instant,
}

/// A run given up on whose work is still going.
struct Outstanding {
    token: Weak<()>,
    since: Instant,
    written_off: bool,
}

#[derive(Default)]
struct SlotState {
    last: Option<Finished>,
    damper: Damper,
    current: Option<Current>,
    outstanding: Vec<Outstanding>,
    generation: u64,
}

/// The per-check state shared by every clone of a `Probes`.
#[derive(Default)]
pub(crate) struct Slot {
    state: Mutex<SlotState>,
    local: Arc<Local>,
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, SlotState> {
        // The lock is never held across a check, an await or a log call; a
        // poisoned lock only means a panic elsewhere, and the state stays
        // coherent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The latest published result, if any.
    pub(crate) fn last(&self) -> Option<CheckReport> {
        self.lock().last.as_ref().map(|last| last.report.clone())
    }
}

/// What a probe holds for one check after the synchronous lookup.
pub(crate) enum Lookup {
    Ready(CheckReport),
    Wait(Waiting),
}

/// A run to wait for, when it started, and the damping state and the
/// client's patience to judge a timeout with.
pub(crate) struct Waiting {
    receiver: watch::Receiver<Option<Finished>>,
    started: Instant,
    damper: Damper,
    patience: Option<Duration>,
}

/// Something the lookup decided that deserves a log line, written once the
/// slot's lock is released (a slow log writer must never block probes).
enum Note {
    Stranded,
    WrittenOff(Duration),
}

/// The answer for check `index` that needs no run: a cached result younger
/// than `cache_ttl`, or a background check's latest one. Starts nothing,
/// spawns nothing: it may be asked outside any runtime.
pub(crate) fn cached<C: Checks>(
    checks: &C,
    index: usize,
    check: &'static CheckConfig,
    cache_ttl: Duration,
    now: Instant,
) -> Option<CheckReport> {
    snapshot(&checks.slot(index).lock(), check, cache_ttl, now)
}

/// Until when check `index`'s cached result stays fresh (its run's start
/// + `cache_ttl`); `None` before its first result.
#[cfg(feature = "grpc")]
pub(crate) fn fresh_until<C: Checks>(
    checks: &C,
    index: usize,
    cache_ttl: Duration,
) -> Option<Instant> {
    Some(checks.slot(index).lock().last.as_ref()?.at + cache_ttl)
}

/// Looks up check `index` for a probe: a fresh cached result (or, for a
/// background check, its latest one), the run in flight, or a new run.
pub(crate) fn lookup<C: Checks>(
    checks: &Arc<C>,
    index: usize,
    check: &'static CheckConfig,
    cache_ttl: Duration,
    now: Instant,
) -> Lookup {
    let slot = checks.slot(index);
    let mut notes = Vec::new();
    let mut state = slot.lock();
    let lookup = match snapshot(&state, check, cache_ttl, now) {
        Some(report) => {
            drop(state);
            Lookup::Ready(report)
        }
        None => match in_flight(&mut state, now, &mut notes) {
            Some((receiver, started)) => {
                let damper = state.damper;
                drop(state);
                Lookup::Wait(Waiting {
                    receiver,
                    started,
                    damper,
                    patience: slot.local.patience(),
                })
            }
            None if held_back(&mut state, check, now, &mut notes) => {
                // Starting another run now would only add a stuck thread.
                // The run that is not started counts as one that timed
                // out, reused for the TTL as a run's result is: damping
                // counts it, subscribers hear of it.
                let report = record_held_back(slot, &mut state, check, now);
                drop(state);
                checks.published(index);
                Lookup::Ready(report)
            }
            None => {
                let damper = state.damper;
                let receiver = start(checks, index, check, state, now);
                Lookup::Wait(Waiting {
                    receiver,
                    started: now,
                    damper,
                    patience: slot.local.patience(),
                })
            }
        },
    };
    log_notes(check, notes);
    lookup
}

/// Starts a run of background check `index`, due at `due`, unless one is
/// in flight, and returns the run to wait for; `None` when a stuck run
/// holds new ones back, which is recorded as a timed-out result. The run
/// counts at `due`, not at the moment its timer fired: runs due a whole
/// number of intervals apart are that far apart for damping, however
/// late each was woken.
pub(crate) fn refresh<C: Checks>(
    checks: &Arc<C>,
    index: usize,
    check: &'static CheckConfig,
    due: Instant,
) -> Option<watch::Receiver<Option<Finished>>> {
    let slot = checks.slot(index);
    let now = Instant::now();
    let mut notes = Vec::new();
    let mut state = slot.lock();
    let running = if let Some((receiver, _)) = in_flight(&mut state, now, &mut notes) {
        drop(state);
        Some(receiver)
    } else if held_back(&mut state, check, now, &mut notes) {
        record_held_back(slot, &mut state, check, due);
        drop(state);
        checks.published(index);
        None
    } else {
        Some(start(checks, index, check, state, due))
    };
    log_notes(check, notes);
    running
}

/// Records a run that outstanding ones held back as a timed-out result
/// at `now`, and returns it.
fn record_held_back(
    slot: &Slot,
    state: &mut SlotState,
    check: &'static CheckConfig,
    now: Instant,
) -> CheckReport {
    let outcome = Outcome::timed_out(check.timeout);
    let damping = state
        .damper
        .record(check, &outcome, now, slot.local.patience());
    let report = report(check, outcome, Duration::ZERO, damping);
    state.last = Some(Finished {
        report: report.clone(),
        at: now,
    });
    report
}

/// Starts a run of check `index` and records it as the slot's current one.
fn start<C: Checks>(
    checks: &Arc<C>,
    index: usize,
    check: &'static CheckConfig,
    mut state: MutexGuard<'_, SlotState>,
    now: Instant,
) -> watch::Receiver<Option<Finished>> {
    let slot = checks.slot(index);
    let (sender, receiver) = watch::channel(None);
    let token = Arc::new(());
    state.generation += 1;
    let generation = state.generation;
    state.current = Some(Current {
        generation,
        receiver: receiver.clone(),
        token: Arc::downgrade(&token),
        started: now,
        // From the clock, not from `now`: a background run due a while
        // ago (a stalled runtime) still gets its whole deadline.
        stranded_at: RunLimits::new(Instant::now(), check.timeout).stranded_at(),
    });
    drop(state);
    let run = Run {
        checks: Arc::clone(checks),
        index,
        check,
        generation,
        counted_at: now,
        token: InFlight(token),
        local: Arc::clone(&slot.local),
    };
    tokio::spawn(run.run(sender));
    receiver
}

fn log_notes(check: &CheckConfig, notes: Vec<Note>) {
    for note in notes {
        match note {
            Note::Stranded => tracing::warn!(
                check = check.name,
                "health check run was not polled to its end (its runtime is stalled or gone); \
                 starting a new one"
            ),
            Note::WrittenOff(age) => tracing::warn!(
                check = check.name,
                ?age,
                "health check call stuck far past its timeout is written off; starting a new one"
            ),
        }
    }
}

/// The answer that needs no run: a cached result younger than the TTL, or
/// a background check's latest result (failing once it is stale).
fn snapshot(
    state: &SlotState,
    check: &'static CheckConfig,
    cache_ttl: Duration,
    now: Instant,
) -> Option<CheckReport> {
    let last = state.last.as_ref()?;
    let age = now.saturating_duration_since(last.at);
    match check.stale_after() {
        Some(stale_after) if age > stale_after => Some(report(
            check,
            Outcome::Fail {
                kind: ErrorKind::Stale,
                message: format!("stale: last result {} old.", DisplayAge(age)).into(),
            },
            Duration::ZERO,
            Damping::Steady,
        )),
        Some(_) => Some(last.report.clone()),
        None if age < cache_ttl => Some(last.report.clone()),
        None => None,
    }
}

/// The run in flight and when it started, if one is and it can still be
/// waited for.
fn in_flight(
    state: &mut SlotState,
    now: Instant,
    notes: &mut Vec<Note>,
) -> Option<(watch::Receiver<Option<Finished>>, Instant)> {
    let current = state.current.take()?;
    // A run whose task ended without publishing (its runtime shut down)
    // has dropped its sender: it is over, whatever its token says.
    let lost = current.receiver.has_changed().is_err();
    if !lost && now < current.stranded_at {
        let running = (current.receiver.clone(), current.started);
        state.current = Some(current);
        return Some(running);
    }
    if !lost {
        notes.push(Note::Stranded);
    }
    state.outstanding.push(Outstanding {
        token: current.token,
        since: current.started,
        written_off: true,
    });
    None
}

/// Whether runs still outstanding hold a new one back; if not, writes off
/// those that are old enough, so that the new run may start.
fn held_back(
    state: &mut SlotState,
    check: &'static CheckConfig,
    now: Instant,
    notes: &mut Vec<Note>,
) -> bool {
    state.outstanding.retain(|run| run.token.strong_count() > 0);
    let holding_back = state.outstanding.iter().any(|run| {
        !run.written_off
            && now.saturating_duration_since(run.since) < limits::write_off_after(check.timeout)
    });
    if holding_back || state.outstanding.len() >= limits::MAX_OUTSTANDING {
        return true;
    }
    for run in state.outstanding.iter_mut().filter(|run| !run.written_off) {
        run.written_off = true;
        notes.push(Note::WrittenOff(now.saturating_duration_since(run.since)));
    }
    false
}

/// Waits for the run behind `waiting`, at most `check.timeout` from
/// `probe_start` and never past `probe_deadline`.
pub(crate) async fn wait(
    check: &'static CheckConfig,
    waiting: Waiting,
    probe_start: Instant,
    probe_deadline: Instant,
) -> CheckReport {
    let Waiting {
        mut receiver,
        started,
        damper,
        patience,
    } = waiting;
    let deadline = probe_deadline.min(probe_start + check.timeout);
    let finished = tokio::time::timeout_at(deadline, receiver.wait_for(Option::is_some)).await;
    match finished {
        Ok(Ok(finished)) => finished
            .as_ref()
            .map(|f| f.report.clone())
            .unwrap_or_else(|| lost(check, probe_start)),
        // The run's task ended without a result: the runtime is shutting down.
        Ok(Err(_closed)) => lost(check, probe_start),
        // The run publishes its own timeout a moment later; this answer is
        // damped as that result will be.
        Err(_elapsed) => report(
            check,
            Outcome::timed_out(check.timeout),
            probe_start.elapsed(),
            damper.peek_failure(check, started, patience),
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
        Damping::Steady,
    )
}

pub(super) fn report(
    check: &'static CheckConfig,
    outcome: Outcome,
    latency: Duration,
    damping: Damping,
) -> CheckReport {
    CheckReport {
        name: check.name,
        critical: check.critical,
        outcome,
        latency,
        time: SystemTime::now(),
        damping,
    }
}
