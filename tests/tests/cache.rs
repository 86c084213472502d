//! How long a result stands for the dependency, on a paused clock (every
//! instant exact): a cached result expires one TTL after its run *began*,
//! and a client's patience holds a failure before readiness counts it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use healthz::{Check, CheckError, Damping, HealthChecks, Probes, Status};
use support::fake::{Fake, Mode};
use tokio::time::Instant;

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "300ms", cache = "1s")]
struct Cached {
    #[healthz(fail_after = 1)]
    db: Fake,
}

/// A run that took its whole deadline to fail (a silent server) is not
/// reused a full TTL after it ended: the cache counts from the moment the
/// run began, so a recovery is seen one TTL after that, not later.
#[tokio::test(start_paused = true)]
async fn a_cached_failure_expires_one_ttl_after_its_run_began() {
    let db = Fake::new(Mode::Hang);
    let probes = Cached { db: db.clone() }.probes();
    let start = Instant::now();
    assert_eq!(probes.readiness().await.status(), Status::Fail);
    assert_eq!(start.elapsed(), Duration::from_millis(300));
    db.set(Mode::Pass);

    tokio::time::sleep_until(start + Duration::from_millis(999)).await;
    assert_eq!(probes.readiness().await.status(), Status::Fail, "cached");
    assert_eq!(db.calls(), 1);

    tokio::time::sleep_until(start + Duration::from_secs(1)).await;
    assert_eq!(probes.readiness().await.status(), Status::Pass);
    assert_eq!(db.calls(), 2, "one run per TTL");
}

/// A dependency whose client keeps the app's requests waiting for it,
/// as a sqlx pool does for its `acquire_timeout`.
#[derive(Clone, Default)]
struct Patient {
    down: Arc<AtomicBool>,
    /// The next call hangs (a silent server) instead of failing at once.
    hang_once: Arc<AtomicBool>,
    calls: Arc<AtomicUsize>,
}

impl Check for Patient {
    async fn check(&self) -> Result<(), CheckError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.hang_once.swap(false, Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if self.down.load(Ordering::SeqCst) {
            Err(CheckError::unavailable(CheckError::DATABASE))
        } else {
            Ok(())
        }
    }

    fn patience(&self) -> Option<Duration> {
        Some(Duration::from_secs(2))
    }
}

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "300ms", cache = "0s")]
struct Waits {
    #[healthz]
    db: Patient,
    #[healthz(fail_after = 1)]
    strict: Patient,
}

/// Without `fail_after`, a failure counts once it has lasted the client's
/// patience: until then readiness stays 200 and reports the check held
/// (the app's own requests are still waiting, and would be served by a
/// recovery); `fail_after = 1` fails at once.
#[tokio::test(start_paused = true)]
async fn a_failure_counts_once_it_outlasts_the_clients_patience() {
    let (waits, probes) = ready_waits().await;

    waits.db.down.store(true, Ordering::SeqCst);
    let failed = Instant::now();
    let report = probes.readiness().await;
    assert_eq!(report.status(), Status::Warn, "{report:?}");
    held_for_the_patience(&probes, failed).await;

    // Back before its patience ran out: never unready.
    waits.db.down.store(false, Ordering::SeqCst);
    assert_eq!(probes.readiness().await.status(), Status::Pass);
    waits.db.down.store(true, Ordering::SeqCst);
    assert_eq!(probes.readiness().await.status(), Status::Warn);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    waits.db.down.store(false, Ordering::SeqCst);
    assert_eq!(probes.readiness().await.status(), Status::Pass);

    waits.strict.down.store(true, Ordering::SeqCst);
    assert_eq!(probes.readiness().await.status(), Status::Fail);
}

/// A failure lasts from the start of the run that first saw it, however
/// that run ended: a first run that took its whole deadline to fail (a
/// silent server), then runs refused at once, count as long as runs
/// refused at once from the start. Counted from the end of the first run
/// instead, readiness turned 503 a deadline (300 ms) after the client's
/// patience ran out.
#[tokio::test(start_paused = true)]
async fn a_failure_lasts_from_the_start_of_the_run_that_first_saw_it() {
    let (waits, probes) = ready_waits().await;

    waits.db.down.store(true, Ordering::SeqCst);
    waits.db.hang_once.store(true, Ordering::SeqCst);
    let failed = Instant::now();
    let report = probes.readiness().await;
    assert_eq!(report.status(), Status::Warn, "{report:?}");
    assert_eq!(failed.elapsed(), Duration::from_millis(300), "timed out");
    held_for_the_patience(&probes, failed).await;
}

/// `Waits` with both checks passing, and its probes, ready.
async fn ready_waits() -> (Waits, Probes<Waits>) {
    let waits = Waits {
        db: Patient::default(),
        strict: Patient::default(),
    };
    let probes = waits.probes();
    assert_eq!(probes.readiness().await.status(), Status::Pass);
    (waits, probes)
}

/// Readiness holds the failure of a check that went down at `failed`
/// (reported degraded) until the client's patience, 2 s, has passed, and
/// fails from then on.
async fn held_for_the_patience(probes: &Probes<Waits>, failed: Instant) {
    tokio::time::sleep_until(failed + Duration::from_millis(1_999)).await;
    assert_eq!(probes.readiness().await.status(), Status::Warn);
    tokio::time::sleep_until(failed + Duration::from_secs(2)).await;
    let report = probes.readiness().await;
    assert_eq!(report.status(), Status::Fail, "{report:?}");
}

/// A check whose blocking call waits until the test opens its gate: a sync
/// client behind a black-holed server.
#[derive(Clone)]
struct Gate(Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>);

impl Gate {
    fn new(open: bool) -> Gate {
        Gate(Arc::new((
            std::sync::Mutex::new(open),
            std::sync::Condvar::new(),
        )))
    }

    fn set(&self, open: bool) {
        *self.0 .0.lock().unwrap() = open;
        self.0 .1.notify_all();
    }
}

impl Check for Gate {
    async fn check(&self) -> Result<(), CheckError> {
        let gate = Arc::clone(&self.0);
        healthz::check::blocking(move || {
            let (open, changed) = &*gate;
            let mut open = open.lock().unwrap();
            while !*open {
                open = changed.wait(open).unwrap();
            }
        })
        .await
    }
}

struct Reopen(Gate);

impl Drop for Reopen {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "100ms", cache = "200ms")]
struct Blocked {
    #[healthz(fail_after = 3)]
    dep: Gate,
}

/// A blocking call stuck past its deadline holds new runs back; each run
/// it holds back counts as one that timed out, once per TTL, so damping
/// turns the probe 503 after `fail_after` TTLs, not only once the stuck
/// call is written off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_held_back_by_a_stuck_blocking_call_count_for_damping() {
    let gate = Gate::new(true);
    let probes = Blocked { dep: gate.clone() }.probes();
    assert_eq!(probes.readiness().await.status(), Status::Pass);
    gate.set(false);
    // Open again however the test ends: the runtime waits for its
    // blocking threads before it shuts down.
    let _reopen = Reopen(gate.clone());
    let write_off = healthz::limits::write_off_after(Duration::from_millis(100));
    let closed = Instant::now();
    // Probed as a kubelet would, every 50 ms.
    while probes.readiness().await.status() != Status::Fail {
        assert!(
            closed.elapsed() < write_off,
            "still ready {:?} after the check hung",
            closed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "100ms", interval = "200ms")]
struct BlockedInTheBackground {
    #[healthz(fail_after = "400ms")]
    dep: Gate,
}

/// In the background, runs due a whole number of intervals apart count as
/// that far apart, however late each timer fired: behind a stuck blocking
/// call, the first failed run (a task of its own) and the runs it holds
/// back (recorded at once) span `fail_after` = two intervals after three
/// runs. Counted at the moment each began, the first run's spawn made the
/// span a hair short, most times, and readiness turned 503 a whole interval
/// late (the chaos campaign's diesel rows in background mode); the test
/// goes through several outages to see it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_runs_count_at_the_moment_they_were_due() {
    let gate = Gate::new(true);
    let probes = BlockedInTheBackground { dep: gate.clone() }.probes();
    let _reopen = Reopen(gate.clone());
    let mut reports = probes.subscribe();
    for outage in 1..=6 {
        gate.set(true);
        reports
            .wait_for(|report| report.status() == Status::Pass)
            .await
            .expect("a run passes");
        gate.set(false);
        let mut held = Vec::new();
        loop {
            reports.changed().await.expect("the probes are alive");
            let report = reports.borrow_and_update().clone();
            if report.status() == Status::Fail {
                break;
            }
            held.push(report.checks[0].damping);
        }
        assert_eq!(
            held,
            [
                Damping::Holding { failures: 1 },
                Damping::Holding { failures: 2 }
            ],
            "damping before the 503 of outage {outage}"
        );
    }
}
