//! Assertions on what the probes of a served app answer while a dependency
//! misbehaves, and once it is back.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http::StatusCode;

use crate::{get, Reply};

/// Added to a probe's deadline for the time a response may take on a
/// loaded, shared machine. Generous on purpose: the precise timing is
/// measured by the benchmarks, not asserted here.
pub const SLACK: Duration = Duration::from_secs(2);

/// Asserts that readiness answers 503 within `deadline` + [`SLACK`], that the
/// body names `check` with one of the `messages`, that no body contains any
/// of `secrets`, and that liveness stays 200. Returns the readiness reply.
pub async fn assert_unready(
    addr: SocketAddr,
    check: &str,
    messages: &[&str],
    deadline: Duration,
    secrets: &[String],
) -> Reply {
    let started = Instant::now();
    let reply = get(addr, "/readiness").await;
    let took = started.elapsed();
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "readiness: {reply:?}"
    );
    assert!(
        took < deadline + SLACK,
        "readiness took {took:?}, deadline {deadline:?}"
    );
    assert!(
        reply
            .body
            .lines()
            .any(|line| messages.iter().any(|m| line == format!("{check}: {m}"))),
        "readiness body {:?} does not name `{check}` with one of {messages:?}",
        reply.body
    );
    let verbose = get(addr, "/readiness?verbose").await;
    let json = get(addr, "/readiness?format=json").await;
    for body in [&reply.body, &verbose.body, &json.body] {
        assert_no_secrets(body, secrets);
    }
    let live = get(addr, "/healthz").await;
    assert_eq!((live.status, live.body.as_str()), (StatusCode::OK, "OK"));
    reply
}

/// Asserts that `body` contains none of `secrets` (hosts, ports, users,
/// passwords, database names) nor text from a driver's error.
pub fn assert_no_secrets(body: &str, secrets: &[String]) {
    let driver_words = [
        "os error",
        "refused",
        "Connection",
        "error:",
        "SQLSTATE",
        "127.0.0.1",
    ];
    for secret in secrets.iter().map(String::as_str).chain(driver_words) {
        assert!(
            !body.contains(secret),
            "a probe body leaks {secret:?}: {body:?}"
        );
    }
}

/// Polls readiness until it answers 200, for at most `bound`; panics with
/// the last answer otherwise.
pub async fn assert_recovers(addr: SocketAddr, bound: Duration) {
    let started = Instant::now();
    loop {
        let reply = get(addr, "/readiness").await;
        if reply.status == StatusCode::OK {
            return;
        }
        assert!(
            started.elapsed() < bound,
            "readiness did not recover within {bound:?}; last answer: {reply:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls `GET path` until it answers `status` (at most `bound`), and
/// returns that answer.
pub async fn until_status(
    addr: SocketAddr,
    path: &str,
    status: StatusCode,
    bound: Duration,
) -> Reply {
    let started = Instant::now();
    loop {
        let reply = get(addr, path).await;
        if reply.status == status {
            return reply;
        }
        assert!(
            started.elapsed() < bound,
            "{path} never answered {status} within {bound:?}: last {reply:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (at most `bound`) until `saturated` says the app's pool has every
/// connection in use, then asserts that readiness answers 200 with its one
/// check, `check`, busy, and no body names any of `secrets`. Returns that
/// reply.
pub async fn assert_busy_when(
    addr: SocketAddr,
    check: &str,
    saturated: impl Fn() -> bool,
    bound: Duration,
    secrets: &[String],
) -> Reply {
    let started = Instant::now();
    while !saturated() {
        assert!(
            started.elapsed() < bound,
            "the pool never had every connection in use"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reply = get(addr, "/readiness?verbose").await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(
        reply.body,
        format!("[~]{check} degraded: busy: every connection is in use\nreadiness check passed")
    );
    assert_no_secrets(&reply.body, secrets);
    reply
}
