//! The HTTP upstream check against a hostile local upstream: a huge body,
//! a body that trickles, a redirect off the host, a 500 with a body worth
//! hiding, a server that never answers, and one that goes away; on each
//! client the check supports; and the shared backend suite on each client,
//! against a real upstream process.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use healthz::checks::http::Upstream;
use healthz::HealthChecks;
use http::StatusCode;
use http::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use support::backend::Backend;
use support::fault::{Fault, FaultProxy};
use support::servers::{Kind, Server};
use support::verdict::{assert_no_secrets, SLACK};
use support::{get as probe, serve};

const DEADLINE: Duration = Duration::from_millis(300);
/// What the upstream says that must never reach a probe body.
const UPSTREAM_SECRET: &str = "internal-stack-trace-at-billing.internal";
const URL_PASSWORD: &str = "hunter2";

/// The hostile upstream: one route per way of misbehaving.
fn upstream(trap: SocketAddr) -> axum::Router {
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
            get(move || async move {
                Response::builder()
                    .status(StatusCode::FOUND)
                    .header("location", format!("http://{trap}/steal"))
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

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "300ms", cache = "0s")]
struct State<T: healthz::checks::http::Client + Clone> {
    #[healthz]
    ok: Upstream<T>,
    #[healthz]
    huge: Upstream<T>,
    #[healthz]
    slow: Upstream<T>,
    #[healthz]
    redirect: Upstream<T>,
    #[healthz]
    fail: Upstream<T>,
    #[healthz]
    hang: Upstream<T>,
    #[healthz]
    proxied: Upstream<T>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_upstream_is_judged_by_its_status_and_never_echoed_on_hyper_util() {
    let client = Client::builder(TokioExecutor::new()).build_http();
    hostile_upstream(|uri| Upstream::new(client.clone(), uri)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_upstream_is_judged_by_its_status_and_never_echoed_on_reqwest() {
    // A builder that would follow redirects, as reqwest's default does:
    // the check must turn that off.
    hostile_upstream(|uri| {
        let builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::limited(10))
            .connect_timeout(Duration::from_secs(1));
        Upstream::from_reqwest(builder, uri).unwrap()
    })
    .await;
}

async fn hostile_upstream<T>(upstream_on: impl Fn(Uri) -> Upstream<T>)
where
    T: healthz::checks::http::Client + Clone,
{
    // Another host the redirect points at: it counts who comes.
    let trapped = Arc::new(AtomicUsize::new(0));
    let trap = {
        let trapped = trapped.clone();
        serve(axum::Router::new().fallback(move || async move {
            trapped.fetch_add(1, Ordering::SeqCst);
            "followed"
        }))
        .await
    };
    let upstream_addr = serve(upstream(trap)).await;
    let proxy = FaultProxy::start(upstream_addr);
    let check = |addr: SocketAddr, path: &str| {
        let uri = format!("http://admin:{URL_PASSWORD}@{addr}{path}");
        upstream_on(uri.parse().unwrap())
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
    let addr = support::serve_probes(&state).await;
    let secrets = [
        URL_PASSWORD.to_owned(),
        "admin".to_owned(),
        UPSTREAM_SECRET.to_owned(),
        trap.port().to_string(),
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
    assert_eq!(
        trapped.load(Ordering::SeqCst),
        0,
        "the check followed a redirect off the configured host"
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

/// The check alone, for the fault matrix.
#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms", cache = "0s")]
struct Billing<T: healthz::checks::http::Client + Clone> {
    #[healthz]
    billing: Upstream<T>,
}

/// What both HTTP clients say to the suite, on a real upstream process
/// behind the proxy: `/work` is the app's own `GET` of the upstream's
/// `/work` through the same client as the check, 200 on a 200.
macro_rules! upstream_backend {
    () => {
        const KIND: Kind = Kind::HttpUpstream;
        const ROUTE: &'static str = "/work";
        const CHECK: &'static str = "billing";
        const MESSAGES: &'static [&'static str] =
            &["cannot reach upstream.", "timed out after 500ms."];
        const SECRETS: &'static [&'static str] = &[URL_PASSWORD, "admin"];
    };
}

/// The upstream's base URL at `addr`, with credentials that must not leak.
fn base(addr: SocketAddr) -> String {
    format!("http://admin:{URL_PASSWORD}@{addr}")
}

type HyperClient = Client<HttpConnector, http_body_util::Empty<Bytes>>;

/// hyper-util's legacy client, shared by the app and the check.
struct HyperUtil;

impl Backend for HyperUtil {
    upstream_backend!();
    type Client = (HyperClient, SocketAddr);
    type State = Billing<HyperClient>;

    async fn client(_: &Server, addr: SocketAddr) -> (HyperClient, SocketAddr) {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(1)));
        (Client::builder(TokioExecutor::new()).build(connector), addr)
    }

    fn state((client, addr): &(HyperClient, SocketAddr)) -> Self::State {
        let uri = format!("{}/healthz", base(*addr)).parse().unwrap();
        Billing {
            billing: Upstream::new(client.clone(), uri),
        }
    }

    async fn request((client, addr): (HyperClient, SocketAddr)) -> bool {
        let uri: Uri = format!("{}/work", base(addr)).parse().unwrap();
        let request = http::Request::get(uri)
            .body(http_body_util::Empty::new())
            .unwrap();
        let reply = client.request(request).await;
        reply.is_ok_and(|reply| reply.status() == StatusCode::OK)
    }
}

/// reqwest: the app's own client, and the check's built from a builder
/// of the same settings.
struct Reqwest;

fn reqwest_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().connect_timeout(Duration::from_secs(1))
}

impl Backend for Reqwest {
    upstream_backend!();
    type Client = (reqwest::Client, SocketAddr);
    type State = Billing<reqwest::Client>;

    async fn client(_: &Server, addr: SocketAddr) -> (reqwest::Client, SocketAddr) {
        (reqwest_builder().build().unwrap(), addr)
    }

    fn state((_, addr): &(reqwest::Client, SocketAddr)) -> Self::State {
        let uri = format!("{}/healthz", base(*addr)).parse().unwrap();
        Billing {
            billing: Upstream::from_reqwest(reqwest_builder(), uri).unwrap(),
        }
    }

    async fn request((client, addr): (reqwest::Client, SocketAddr)) -> bool {
        let reply = client.get(format!("{}/work", base(addr))).send().await;
        reply.is_ok_and(|reply| reply.status() == StatusCode::OK)
    }
}

support::backend_suite!(hyper_util_client: HyperUtil);
support::backend_suite!(reqwest_client: Reqwest);
