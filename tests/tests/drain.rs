//! Graceful drain of a real process: the quickstart example, sent a real
//! SIGTERM.

use std::process::Command;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use support::quickstart::Quickstart;
use support::{get, send};

const DRAIN_DELAY: Duration = Duration::from_millis(2500);

/// Starts the quickstart on a free port, on a SQLite file in `dir`.
fn start_quickstart(dir: &std::path::Path) -> Quickstart {
    let url = format!("sqlite://{}/app.sqlite3?mode=rwc", dir.display());
    let delay = DRAIN_DELAY.as_millis().to_string();
    Quickstart::start(&url, &[("DRAIN_DELAY_MS", &delay)])
}

fn authorized(path: &str) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    let mut request = support::request(Method::GET, path);
    request
        .headers_mut()
        .insert("authorization", "Bearer demo-token".parse().unwrap());
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_then_exits_after_the_delay() {
    let dir = std::env::temp_dir().join(format!("healthz-drain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut process = start_quickstart(&dir);
    let addr = process.addr;

    support::verdict::assert_recovers(addr, Duration::from_secs(30)).await;
    assert_eq!(send(addr, authorized("/")).await.status, StatusCode::OK);

    let signalled = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &process.pid()])
        .status()
        .unwrap();
    assert!(status.success());

    // Readiness flips at once (allow the signal a moment to arrive).
    let mut reply = get(addr, "/readiness").await;
    while reply.status == StatusCode::OK && signalled.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        reply = get(addr, "/readiness").await;
    }
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    );

    // During the delay the app serves and liveness stays 200.
    let mut served = 0;
    while signalled.elapsed() < DRAIN_DELAY - Duration::from_millis(700) {
        assert_eq!(get(addr, "/healthz").await.status, StatusCode::OK);
        let app = send(addr, authorized("/")).await;
        assert_eq!(
            app.status,
            StatusCode::OK,
            "the app stopped serving during the drain delay"
        );
        served += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served > 0);

    // Then the process exits, cleanly, and not before the delay.
    let exit = loop {
        if let Some(exit) = process.child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            signalled.elapsed() < DRAIN_DELAY + Duration::from_secs(15),
            "the process did not exit after the drain delay"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "the quickstart exited with {exit}");
    assert!(
        signalled.elapsed() >= DRAIN_DELAY,
        "exited before the drain delay"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
