//! Behaviour scenarios shared by the tests of every server integration
//! (tower over hyper, actix-web), so that each integration is held to the
//! same answers: each takes the state and the address of an app that
//! serves that state's probes, sets what the fake dependencies do, and
//! asserts what the probes answer.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http::StatusCode;

use crate::fake::{AppState, Mode};
use crate::get as http_get;

pub async fn a_check_that_never_returns_fails_within_the_deadline(
    state: &AppState,
    addr: SocketAddr,
) {
    state.db.set(Mode::Hang);
    let started = Instant::now();
    let reply = http_get(addr, "/readiness").await;
    let took = started.elapsed();
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body, "db: timed out after 300ms.");
    // The deadline is 300ms; the bound is generous for a shared machine.
    assert!(took < Duration::from_secs(3), "readiness took {took:?}");
    assert!(
        took >= Duration::from_millis(300),
        "readiness answered before the deadline: {took:?}"
    );
}

pub async fn a_panicking_check_fails_and_the_server_keeps_serving(
    state: &AppState,
    addr: SocketAddr,
) {
    state.db.set(Mode::Panic);
    for _ in 0..3 {
        let reply = http_get(addr, "/readiness").await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(reply.body, "db: check panicked.");
    }
    assert_eq!(http_get(addr, "/").await.body, "app");
    state.db.set(Mode::Pass);
    assert_eq!(http_get(addr, "/readiness").await.status, StatusCode::OK);
}

pub async fn exclude_skips_checks_and_unknown_names_are_ignored(
    state: &AppState,
    addr: SocketAddr,
) {
    state.db.set(Mode::Fail);
    let reply = http_get(addr, "/readiness?exclude=db&exclude=nope").await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "OK"));
    assert_eq!(state.db.calls(), 0, "an excluded check must not run");

    let reply = http_get(addr, "/readiness?exclude=db&exclude=cache&verbose").await;
    assert_eq!(
        reply.body,
        "[+]replica ok\n[+]db excluded: ok\n[+]cache excluded: ok\nreadiness check passed"
    );
    // Percent-encoded names are decoded.
    let reply = http_get(addr, "/readiness?exclude=d%62").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(state.db.calls(), 0);
}

pub async fn non_critical_and_busy_failures_keep_the_pod_ready(state: &AppState, addr: SocketAddr) {
    state.replica.set(Mode::Fail);
    state.db.set(Mode::Busy);
    let reply = http_get(addr, "/readiness").await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "OK"));

    let reply = http_get(addr, "/readiness?verbose").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.body,
        "[~]db degraded: busy: every connection is in use\n\
         [+]cache ok\n\
         [-]replica failed (non-critical): cannot connect to database\n\
         readiness check passed"
    );
}

pub async fn readiness_fails_with_one_line_per_failing_check_and_no_private_detail(
    state: &AppState,
    addr: SocketAddr,
) {
    state.db.set(Mode::Fail);
    state.sessions.set(Mode::Hang);
    let reply = http_get(addr, "/readiness").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        reply.body,
        "db: cannot connect to database.\ncache: timed out after 200ms."
    );
    assert!(!reply.body.contains("db.internal") && !reply.body.contains("admin"));

    state.db.set(Mode::Pass);
    state.sessions.set(Mode::Pass);
    // The hung run of `cache` is dropped shortly after its deadline (a
    // probe arriving before that joins it); then a new run starts.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let reply = http_get(addr, "/readiness").await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "OK"));
}

pub async fn startup_opens_once_every_critical_check_has_passed_then_stays_open(
    state: &AppState,
    addr: SocketAddr,
) {
    state.db.set(Mode::Fail);
    state.replica.set(Mode::Fail);

    let reply = http_get(addr, "/startupz").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body, "db: cannot connect to database.");

    state.db.set(Mode::Busy);
    let reply = http_get(addr, "/startupz").await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "starting"),
        "a busy pool has not passed yet"
    );

    state.db.set(Mode::Pass);
    let reply = http_get(addr, "/startupz").await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "OK"));

    // Latched: no dependency is touched any more, even if it breaks.
    state.db.set(Mode::Fail);
    let calls = state.db.calls();
    let reply = http_get(addr, "/startupz").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(state.db.calls(), calls);
    assert_eq!(
        http_get(addr, "/readiness").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

pub async fn verbose_lists_every_check(state: &AppState, addr: SocketAddr) {
    state.sessions.set(Mode::Hang);
    let reply = http_get(addr, "/readiness?verbose=1").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        reply.body,
        "[+]db ok\n[-]cache failed: timed out after 200ms\n[+]replica ok\nreadiness check failed"
    );
}
