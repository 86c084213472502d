//! Checks that run on their own, over real HTTP: background mode answering
//! from its snapshot, staleness when the scheduler dies, flap damping,
//! subscribers, and liveness checks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use healthz::{Check, CheckError, Damping, HealthChecks, Status};
use http::StatusCode;
use support::fake::{Fake, Mode};
use support::{get, serve};
use tokio::sync::{Notify, Semaphore};

/// Bound on every wait for an event, so that a broken runtime fails the
/// test instead of hanging it.
const BOUND: Duration = Duration::from_secs(20);

/// A dependency whose runs the test holds: each run announces itself, then
/// waits for a permit (none are taken back, so an open gate stays open).
#[derive(Clone)]
struct Gate(Arc<GateState>);

struct GateState {
    permits: Semaphore,
    started: Notify,
    runs: AtomicUsize,
}

/// Permits of an open gate: more runs than any test makes.
const OPEN: usize = 1 << 20;

impl Gate {
    fn open() -> Self {
        Gate(Arc::new(GateState {
            permits: Semaphore::new(OPEN),
            started: Notify::new(),
            runs: AtomicUsize::new(0),
        }))
    }

    /// Closes the gate: runs from now on wait until `open_again`.
    async fn close(&self) {
        let all = self.0.permits.available_permits();
        self.0
            .permits
            .acquire_many(u32::try_from(all).unwrap())
            .await
            .unwrap()
            .forget();
    }

    fn open_again(&self) {
        self.0.permits.add_permits(OPEN);
    }

    fn runs(&self) -> usize {
        self.0.runs.load(Ordering::SeqCst)
    }
}

impl Check for Gate {
    async fn check(&self) -> Result<(), CheckError> {
        self.0.runs.fetch_add(1, Ordering::SeqCst);
        self.0.started.notify_waiters();
        let _permit = self.0.permits.acquire().await.expect("never closed");
        Ok(())
    }
}

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "5s", interval = "5s")]
struct GatedState {
    #[healthz]
    db: Gate,
}

async fn readiness_until(addr: std::net::SocketAddr, status: StatusCode) -> support::Reply {
    support::verdict::until_status(addr, "/readiness", status, BOUND).await
}

/// While a background run is stuck in its dependency, probes answer from
/// the latest result at once and start nothing: the run in flight is the
/// only one. (If a probe waited on the run, it would get no answer until
/// the test opened the gate.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_probes_answer_from_the_snapshot_while_a_run_is_stuck() {
    let gate = Gate::open();
    let state = GatedState { db: gate.clone() };
    let probes = support::trusted(&state);
    probes.start_background();
    let addr = serve(axum::Router::new().layer(probes.clone())).await;
    readiness_until(addr, StatusCode::OK).await;
    let mut changes = probes.subscribe();
    changes.borrow_and_update();

    gate.close().await;
    let started = gate.0.started.notified();
    // The next scheduled run (within one interval) is held at the gate.
    tokio::time::timeout(BOUND, started)
        .await
        .expect("the schedule ran the check again");
    let runs = gate.runs();
    for _ in 0..20 {
        let reply = tokio::time::timeout(BOUND, get(addr, "/readiness"))
            .await
            .expect("a probe waited on the stuck run");
        assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "OK"));
    }
    assert_eq!(gate.runs(), runs, "a probe started a run of its own");
    assert!(
        !changes.has_changed().unwrap(),
        "a probe published a result"
    );

    gate.open_again();
}

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "100ms", interval = "200ms")]
struct FastState {
    #[healthz]
    db: Fake,
}

/// The scheduler's runtime shuts down: nothing refreshes the snapshot, and
/// once it is three intervals old readiness fails as stale instead of
/// answering 200 on a result from long ago.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_scheduler_turns_readiness_stale() {
    let state = FastState {
        db: Fake::new(Mode::Pass),
    };
    let probes = support::trusted(&state);
    let scheduler = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    {
        // The schedule's tasks go to the scheduler's runtime.
        let _scheduler = scheduler.enter();
        probes.start_background();
    }
    let addr = serve(axum::Router::new().layer(probes.clone())).await;
    readiness_until(addr, StatusCode::OK).await;
    // The schedule runs the check, not the probes.
    let before = state.db.calls();
    tokio::time::timeout(BOUND, async {
        while state.db.calls() < before + 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the schedule ran the check every interval");

    scheduler.shutdown_background();
    let stale = readiness_until(addr, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(
        stale.body.starts_with("db: stale: last result ") && stale.body.ends_with(" old."),
        "{stale:?}"
    );
    let verbose = get(addr, "/readiness?verbose").await;
    assert!(
        verbose.body.contains("[-]db failed: stale: last result"),
        "{verbose:?}"
    );
}

/// Dropping the last handle stops the schedule: the check stops running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedule_stops_with_the_last_handle() {
    let db = Fake::new(Mode::Pass);
    let probes = FastState { db: db.clone() }
        .probes()
        .with_details(healthz::details::Details::always());
    probes.start_background();
    let mut changes = probes.subscribe();
    tokio::time::timeout(BOUND, changes.wait_for(|r| r.status() == Status::Pass))
        .await
        .expect("the first background result")
        .unwrap();
    drop(changes);
    drop(probes);
    // A run in flight may still finish; after that, none starts.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let calls = db.calls();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        db.calls(),
        calls,
        "the check ran after the probes were dropped"
    );
}

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "300ms", cache = "0s")]
struct DampedState {
    #[healthz(fail_after = 3, recover_after = 2)]
    db: Fake,
}

/// One bad run keeps the pod ready; three in a row take it out; two passes
/// bring it back. Verbose and JSON show the raw result beside the verdict.
#[tokio::test]
async fn damping_rides_out_a_flap_and_needs_passes_to_recover() {
    let state = DampedState {
        db: Fake::new(Mode::Pass),
    };
    let addr = support::serve_probes(&state).await;
    assert_eq!(get(addr, "/readiness").await.status, StatusCode::OK);

    state.db.set(Mode::Fail);
    let reply = get(addr, "/readiness").await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "OK"),
        "failure 1"
    );
    let verbose = get(addr, "/readiness?verbose").await;
    assert_eq!(verbose.status, StatusCode::OK, "failure 2: {verbose:?}");
    assert!(
        verbose
            .body
            .contains("[~]db degraded: cannot connect to database (failure 2, not yet counted)"),
        "{verbose:?}"
    );
    let reply = get(addr, "/readiness").await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "db: cannot connect to database."
        ),
        "failure 3"
    );

    state.db.set(Mode::Pass);
    let json = get(addr, "/readiness?format=json").await;
    assert_eq!(json.status, StatusCode::SERVICE_UNAVAILABLE, "{json:?}");
    assert!(
        json.body
            .contains(r#""output":"recovering: 1 of 2 passes.","rawStatus":"pass""#),
        "{json:?}"
    );
    let reply = get(addr, "/readiness").await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "OK"));
}

/// Without damping keys, one failure is a 503, as before.
#[tokio::test]
async fn without_damping_one_failure_fails() {
    let state = DampedDefault {
        db: Fake::new(Mode::Pass),
    };
    let addr = support::serve_probes(&state).await;
    assert_eq!(get(addr, "/readiness").await.status, StatusCode::OK);
    state.db.set(Mode::Fail);
    assert_eq!(
        get(addr, "/readiness").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "300ms", cache = "0s")]
struct DampedDefault {
    #[healthz]
    db: Fake,
}

/// A subscriber sees each change of the readiness report once, and nothing
/// for runs that change nothing.
#[tokio::test]
async fn subscribers_see_each_change_once() {
    let state = DampedDefault {
        db: Fake::new(Mode::Pass),
    };
    let probes = support::trusted(&state);
    let mut changes = probes.subscribe();
    let first = changes.borrow_and_update().clone();
    assert_eq!(first.status(), Status::Fail, "no result yet: {first:?}");
    assert_eq!(first.to_text(), "db: no result yet.");
    let addr = serve(axum::Router::new().layer(probes.clone())).await;

    let mut seen = Vec::new();
    for (mode, path) in [
        (Mode::Pass, "/readiness"),
        (Mode::Pass, "/readiness"),
        (Mode::Fail, "/readiness"),
        (Mode::Fail, "/readiness/db"),
        (Mode::Pass, "/readiness?verbose"),
        (Mode::Pass, "/readiness"),
    ] {
        state.db.set(mode);
        get(addr, path).await;
        // Published before the probe answered.
        if changes.has_changed().unwrap() {
            seen.push(changes.borrow_and_update().status());
        }
    }
    probes.drain();
    if changes.has_changed().unwrap() {
        let report = changes.borrow_and_update().clone();
        assert!(report.draining);
        seen.push(report.status());
    }
    assert_eq!(
        seen,
        [Status::Pass, Status::Fail, Status::Pass, Status::Fail]
    );
    let report = changes.borrow().clone();
    assert_eq!(report.checks[0].damping, Damping::Steady);
}
