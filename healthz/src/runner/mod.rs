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
//! is *outstanding*. An outstanding blocking call holds back new runs, so
//! that a black hole does not pile up threads, but only for a while: past
//! [`write_off_after`] it is written off and a new run may start, with at
//! most [`MAX_OUTSTANDING`] outstanding runs per check. A run whose task was
//! not polled to its end is replaced at once.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::time::Instant;

use crate::check::{CheckFuture, ErrorKind, InFlight, Local};
use crate::config::CheckConfig;
use crate::report::{CheckReport, Outcome};

mod run;

use run::Run;

/// What the runner needs of the probes that own the slots: the slot of each
/// check, and a way to start one run of it.
pub(crate) trait Checks: Send + Sync + 'static {
    /// The slot of check `index`.
    fn slot(&self, index: usize) -> &Slot;
    /// Builds the future of one run of check `index`.
    fn start(&self, index: usize) -> CheckFuture<'_>;
}

/// How long past its deadline a run may take to clean up after itself (a
/// check that sees [`deadline`](crate::check::deadline) pass detaches its
/// connection, say) before the runner drops it.
const CLEANUP_GRACE: Duration = Duration::from_millis(50);

/// How late past its own end a run that has not published may be before
/// it counts as stranded on a runtime that no longer polls it.
const STRANDED_AFTER: Duration = Duration::from_millis(100);

/// The most runs of one check that may be outstanding at once: the bound
/// on threads a check can leave stuck in blocking calls.
pub(crate) const MAX_OUTSTANDING: usize = 2;

/// How long an outstanding blocking call holds back new runs before it is
/// written off: far past the check's timeout, and never under five seconds,
/// so a slow but live server is not hammered with parallel calls.
pub(crate) fn write_off_after(check: &CheckConfig) -> Duration {
    (check.timeout * 10).max(Duration::from_secs(5))
}

/// How much earlier than the probe gives up on a check the check itself is
/// told to give up, so that a check that honours the deadline reports its
/// own finding (busy, cannot connect) rather than a bare timeout.
fn reserve(timeout: Duration) -> Duration {
    (timeout / 10).min(Duration::from_millis(25))
}

/// A finished run, as kept in the cache.
#[derive(Clone)]
pub(crate) struct Finished {
    report: CheckReport,
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
}

/// What a probe holds for one check after the synchronous lookup.
pub(crate) enum Lookup {
    Ready(CheckReport),
    Wait(watch::Receiver<Option<Finished>>),
}

/// Something the lookup decided that deserves a log line, written once the
/// slot's lock is released (a slow log writer must never block probes).
enum Note {
    Stranded,
    WrittenOff(Duration),
}

/// Looks up check `index`: a fresh cached result, the run in flight, or a
/// new run.
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
    let found = find(&mut state, check, cache_ttl, now, &mut notes);
    let lookup = match found {
        Some(lookup) => {
            drop(state);
            lookup
        }
        None => {
            let (sender, receiver) = watch::channel(None);
            let token = Arc::new(());
            state.generation += 1;
            let generation = state.generation;
            state.current = Some(Current {
                generation,
                receiver: receiver.clone(),
                token: Arc::downgrade(&token),
                started: now,
                stranded_at: now + check.timeout + CLEANUP_GRACE + STRANDED_AFTER,
            });
            drop(state);
            let run = Run {
                checks: Arc::clone(checks),
                index,
                check,
                generation,
                token: InFlight(token),
                local: Arc::clone(&slot.local),
            };
            tokio::spawn(run.run(sender));
            Lookup::Wait(receiver)
        }
    };
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
    lookup
}

/// The answer that needs no new run, or `None` when one must start.
fn find(
    state: &mut SlotState,
    check: &'static CheckConfig,
    cache_ttl: Duration,
    now: Instant,
    notes: &mut Vec<Note>,
) -> Option<Lookup> {
    if let Some(last) = &state.last {
        if now.saturating_duration_since(last.at) < cache_ttl {
            return Some(Lookup::Ready(last.report.clone()));
        }
    }
    if let Some(current) = state.current.take() {
        // A run whose task ended without publishing (its runtime shut
        // down) has dropped its sender: it is over, whatever its token says.
        let lost = current.receiver.has_changed().is_err();
        if !lost && now < current.stranded_at {
            let receiver = current.receiver.clone();
            state.current = Some(current);
            return Some(Lookup::Wait(receiver));
        }
        if !lost {
            notes.push(Note::Stranded);
        }
        state.outstanding.push(Outstanding {
            token: current.token,
            since: current.started,
            written_off: true,
        });
    }
    state.outstanding.retain(|run| run.token.strong_count() > 0);
    let holding_back = state.outstanding.iter().any(|run| {
        !run.written_off && now.saturating_duration_since(run.since) < write_off_after(check)
    });
    if holding_back || state.outstanding.len() >= MAX_OUTSTANDING {
        // Starting another run now would only add a stuck thread.
        return Some(Lookup::Ready(report(
            check,
            Outcome::timed_out(check.timeout),
            Duration::ZERO,
        )));
    }
    for run in state.outstanding.iter_mut().filter(|run| !run.written_off) {
        run.written_off = true;
        notes.push(Note::WrittenOff(now.saturating_duration_since(run.since)));
    }
    None
}

/// Waits for the run behind `receiver`, at most `check.timeout` from
/// `probe_start` and never past `probe_deadline`.
pub(crate) async fn wait(
    check: &'static CheckConfig,
    mut receiver: watch::Receiver<Option<Finished>>,
    probe_start: Instant,
    probe_deadline: Instant,
) -> CheckReport {
    let deadline = probe_deadline.min(probe_start + check.timeout);
    let finished = tokio::time::timeout_at(deadline, receiver.wait_for(Option::is_some)).await;
    match finished {
        Ok(Ok(finished)) => finished
            .as_ref()
            .map(|f| f.report.clone())
            .unwrap_or_else(|| lost(check, probe_start)),
        // The run's task ended without a result: the runtime is shutting down.
        Ok(Err(_closed)) => lost(check, probe_start),
        Err(_elapsed) => report(
            check,
            Outcome::timed_out(check.timeout),
            probe_start.elapsed(),
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
    )
}

pub(super) fn report(
    check: &'static CheckConfig,
    outcome: Outcome,
    latency: Duration,
) -> CheckReport {
    CheckReport {
        name: check.name,
        critical: check.critical,
        outcome,
        latency,
        time: SystemTime::now(),
    }
}
