//! The HTTP upstream check against a hostile local upstream: a huge body,
//! a body that trickles, a redirect off the host, a 500 with a body worth
//! hiding, a server that never answers, and one that goes away.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use healthz::checks::http::Upstream;
use healthz::HealthChecks;
use http::StatusCode;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use support::fault::{Fault, FaultProxy};
use support::verdict::{assert_no_secrets, SLACK};
use support::{get as probe, serve};

const DEADLINE: Duration = Duration::from_millis(300);
/// What the upstream says that must never reach a probe body.
const UPSTREAM_SECRET: &str = "internal-stack-trace-at-billing.internal";
const URL_PASSWORD: &str = "hunter2";

/// The hostile upstream: one route per way of misbehaving.
fn upstream() -> axum::Router {
    axum::Router::new()
        .route("/ok", get(|| async { "fine" }))
        .route(
            "/huge",
            get(|| async {
                // 64 MiB, far more than the check may read; bounded.
                let chunks = futures_util::stream::iter(
                    (0..1024).map(|_| Ok::<_, Infallible>(Bytes::from(vec![b'x'; 64 * 1024]))),
                );
                Response::new(Body::from_stream(chunks))
            }),
        )
        .route(
            "/slow",
            get(|| async {
                // A byte every 100ms, for at most 10 minutes.
                let trickle = futures_util::stream::unfold(0u32, |sent| async move {
                    if sent >= 6000 {
                        return None;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Some((Ok::<_, Infallible>(Bytes::from_static(b"x")), sent + 1))
                });
                Response::new(Body::from_stream(trickle))
            }),
        )
        .route(
            "/redirect",
            get(|| async {
                Response::builder()
                    .status(StatusCode::FOUND)
                    .header("location", "http://elsewhere.invalid/steal")
                    .body(Body::from(UPSTREAM_SECRET))
                    .unwrap()
            }),
        )
        .route(
            "/fail",
            get(|| async {
                Response::builder()
                    .status(StatusCode::INTERNAL_SERVER_ERROR)
                    .body(Body::from(UPSTREAM_SECRET))
                    .unwrap()
            }),
        )
        .route("/hang", get(std::future::pending::<&'static str>))
}

type Http = Upstream<HttpConnector>;

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "300ms", cache = "0s")]
struct State {
    #[healthz]
    ok: Http,
    #[healthz]
    huge: Http,
    #[healthz]
    slow: Http,
    #[healthz]
    redirect: Http,
    #[healthz]
    fail: Http,
    #[healthz]
    hang: Http,
    #[healthz]
    proxied: Http,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_upstream_is_judged_by_its_status_and_never_echoed() {
    let upstream_addr = serve(upstream()).await;
    let proxy = FaultProxy::start(upstream_addr);
    let client = Client::builder(TokioExecutor::new()).build_http();
    let check = |addr: std::net::SocketAddr, path: &str| {
        let uri = format!("http://admin:{URL_PASSWORD}@{addr}{path}");
        Upstream::new(client.clone(), uri.parse().unwrap())
    };
    let state = State {
        ok: check(upstream_addr, "/ok"),
        huge: check(upstream_addr, "/huge"),
        slow: check(upstream_addr, "/slow"),
        redirect: check(upstream_addr, "/redirect"),
        fail: check(upstream_addr, "/fail"),
        hang: check(upstream_addr, "/hang"),
        proxied: check(proxy.addr(), "/ok"),
    };
    let addr = serve(axum::Router::new().layer(state.probes())).await;
    let secrets = [
        URL_PASSWORD.to_owned(),
        "admin".to_owned(),
        UPSTREAM_SECRET.to_owned(),
        "elsewhere.invalid".to_owned(),
        upstream_addr.port().to_string(),
    ];

    for (name, status, body) in [
        ("ok", StatusCode::OK, "OK"),
        // The status decides; the body is read no further than 4 KiB.
        ("huge", StatusCode::OK, "OK"),
        ("slow", StatusCode::OK, "OK"),
        (
            "redirect",
            StatusCode::SERVICE_UNAVAILABLE,
            "redirect: upstream redirected.",
        ),
        (
            "fail",
            StatusCode::SERVICE_UNAVAILABLE,
            "fail: upstream answered 500.",
        ),
    ] {
        let started = Instant::now();
        let reply = probe(addr, &format!("/readiness/{name}")).await;
        assert!(
            started.elapsed() < DEADLINE + SLACK,
            "{name} took {:?}",
            started.elapsed()
        );
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (status, body),
            "{name}"
        );
    }
    let started = Instant::now();
    let hang = probe(addr, "/readiness/hang").await;
    assert!(started.elapsed() < DEADLINE + SLACK);
    assert_eq!(hang.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        [
            "hang: cannot reach upstream.",
            "hang: timed out after 300ms."
        ]
        .contains(&hang.body.as_str()),
        "{hang:?}"
    );
    for path in ["/readiness", "/readiness?verbose", "/readiness?format=json"] {
        let reply = probe(addr, path).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_no_secrets(&reply.body, &secrets);
    }

    // The upstream goes away, and comes back.
    assert_eq!(
        probe(addr, "/readiness/proxied").await.status,
        StatusCode::OK
    );
    proxy.set(Fault::Refuse);
    let reply = probe(addr, "/readiness/proxied").await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "proxied: cannot reach upstream."
        )
    );
    proxy.set(Fault::Pass);
    let started = Instant::now();
    while probe(addr, "/readiness/proxied").await.status != StatusCode::OK {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never recovered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
