//! Liveness that means something: a watchdog on the application's runtime
//! fails liveness while that runtime's worker threads are blocked, and
//! passes again once they are free, without touching any dependency.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use healthz::watchdog::Watchdog;
use healthz::HealthChecks;
use http::StatusCode;
use support::fake::{Fake, Mode};
use support::get;

const BOUND: Duration = Duration::from_secs(30);

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "300ms", cache = "0s")]
struct State {
    #[healthz(probe = "liveness")]
    runtime: Watchdog,
    #[healthz]
    db: Fake,
}

async fn liveness_until(addr: std::net::SocketAddr, status: StatusCode) -> support::Reply {
    support::verdict::until_status(addr, "/healthz", status, BOUND).await
}

/// The probes are served from this test's runtime; the watchdog watches an
/// application runtime of two workers, which the test then wedges with
/// tasks that block in `std::thread::sleep`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wedged_runtime_fails_liveness_and_recovers() {
    let app_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let state = State {
        runtime: Watchdog::new(Duration::from_millis(300)),
        db: Fake::new(Mode::Pass),
    };
    state.runtime.start_on(app_runtime.handle());
    let addr = support::serve_probes(&state).await;
    let live = liveness_until(addr, StatusCode::OK).await;
    assert_eq!(live.body, "OK");

    let wedged = Arc::new(AtomicBool::new(true));
    for _ in 0..4 {
        let wedged = Arc::clone(&wedged);
        app_runtime.spawn(async move {
            // Bounded: at most 150 × 200ms.
            for _ in 0..150 {
                if !wedged.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
    }
    let failed = liveness_until(addr, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(
        failed
            .body
            .starts_with("runtime: runtime stalled: heartbeat ")
            && failed.body.ends_with(" late."),
        "{failed:?}"
    );
    // Readiness is not liveness's business, nor the reverse.
    assert_eq!(get(addr, "/readiness").await.status, StatusCode::OK);
    assert!(state.db.calls() > 0);

    wedged.store(false, Ordering::SeqCst);
    liveness_until(addr, StatusCode::OK).await;
    app_runtime.shutdown_background();
}

/// Without liveness checks, liveness answers at once and runs nothing.
#[tokio::test]
async fn a_readiness_check_never_runs_for_liveness() {
    let db = Fake::new(Mode::Fail);
    let state = support::fake::AppState {
        db: db.clone(),
        sessions: Fake::new(Mode::Pass),
        replica: Fake::new(Mode::Pass),
        settings: String::new(),
    };
    let addr = support::serve_probes(&state).await;
    let reply = get(addr, "/healthz").await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "OK"));
    assert_eq!(db.calls(), 0);
}
