//! Safe to expose, over real HTTP: the plain answers are for everyone, the
//! details only for callers the app trusts; probes kept on a listener of
//! their own; quality values in `Accept`; a host allow-list inside the app;
//! a field that is not configured says so.

use std::net::SocketAddr;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get as route_get;
use axum::Router;
use healthz::details::Details;
use healthz::HealthChecks;
use http::{Method, StatusCode};
use support::fake::{self, Fake, Mode};
use support::{get, send, serve, Reply};

const TOKEN: &str = "probe-reader-token";

/// The fake state behind an app whose layer trusts `details`.
async fn app(details: Details) -> (fake::AppState, SocketAddr) {
    let state = fake::state();
    let probes = state.probes().with_details(details);
    let router = Router::new()
        .route("/", route_get(|| async { "app" }))
        .layer(probes);
    (state, serve(router).await)
}

/// `GET path` with the headers given.
async fn get_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = support::request(Method::GET, path);
    for (name, value) in headers {
        request.headers_mut().insert(
            http::HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
            value.parse().expect("a header value"),
        );
    }
    send(addr, request).await
}

const TRUSTED: &[(&str, &str)] = &[("authorization", "Bearer probe-reader-token")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn details_are_for_trusted_callers_and_the_plain_answers_for_everyone() {
    let (state, addr) = app(Details::bearer(TOKEN)).await;

    // The kubelet's plain probe: unchanged, whoever asks.
    let plain = get(addr, "/readiness").await;
    assert_eq!((plain.status, plain.body.as_str()), (StatusCode::OK, "OK"));

    // Verbose: the plain answer for an untrusted caller, the lines for a
    // trusted one.
    let untrusted = get(addr, "/readiness?verbose").await;
    assert_eq!(
        (untrusted.status, untrusted.body.as_str()),
        (StatusCode::OK, "OK")
    );
    let wrong_token = get_with(
        addr,
        "/readiness?verbose",
        &[("authorization", "Bearer nope")],
    )
    .await;
    assert_eq!(wrong_token.body, "OK");
    let trusted = get_with(addr, "/readiness?verbose", TRUSTED).await;
    assert_eq!(
        trusted.body,
        "[+]db ok\n[+]cache ok\n[+]replica ok\nreadiness check passed"
    );

    // health+json: the status alone, or every check.
    let json = [("accept", "application/health+json")];
    let untrusted = get_with(addr, "/readiness", &json).await;
    assert_eq!(untrusted.body, r#"{"status":"pass"}"#);
    assert_eq!(untrusted.header("content-type"), "application/health+json");
    let trusted = get_with(addr, "/readiness", &[json[0], TRUSTED[0]]).await;
    assert!(
        trusted.body.contains(r#""db:responseTime""#),
        "{}",
        trusted.body
    );

    // A per-check path: answered as an unknown name, without running the
    // check, for an untrusted caller.
    let calls = state.db.calls();
    let untrusted = get(addr, "/readiness/db").await;
    assert_eq!(
        (untrusted.status, untrusted.body.as_str()),
        (StatusCode::NOT_FOUND, "no such check.")
    );
    assert_eq!(
        get(addr, "/readiness/nonexistent").await.body,
        untrusted.body,
        "a real name and a made-up one must look the same"
    );
    assert_eq!(state.db.calls(), calls, "an untrusted caller ran a check");
    let trusted = get_with(addr, "/readiness/db", TRUSTED).await;
    assert_eq!(
        (trusted.status, trusted.body.as_str()),
        (StatusCode::OK, "OK")
    );
    assert_eq!(state.db.calls(), calls + 1);

    // Failing: the public one-line messages stay public, in text and JSON;
    // the non-critical failure and the latencies are details.
    state.db.set(Mode::Fail);
    state.replica.set(Mode::Fail);
    let plain = get(addr, "/readiness?verbose").await;
    assert_eq!(
        (plain.status, plain.body.as_str()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "db: cannot connect to database."
        )
    );
    let untrusted = get_with(addr, "/readiness", &json).await;
    assert_eq!(
        untrusted.body,
        r#"{"status":"fail","output":"db: cannot connect to database."}"#
    );
    let trusted = get_with(addr, "/readiness?verbose", TRUSTED).await;
    assert!(
        trusted.body.contains("[-]replica failed (non-critical)"),
        "{}",
        trusted.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_nobody_reads_the_details() {
    let state = fake::state();
    let addr = serve(Router::new().layer(state.probes())).await;
    assert_eq!(get(addr, "/readiness?verbose").await.body, "OK");
    assert_eq!(
        get(addr, "/readiness?format=json").await.body,
        r#"{"status":"pass"}"#
    );
    assert_eq!(
        get(addr, "/readiness/cache").await.status,
        StatusCode::NOT_FOUND
    );
    // Liveness and startup answer as before.
    assert_eq!(get(addr, "/healthz").await.body, "OK");
    assert_eq!(get(addr, "/startupz").await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_only_listener_serves_the_probes_and_the_app_port_does_not() {
    let state = fake::state();
    let probes = state.probes();
    // The app's own port: no probes layer.
    let app = serve(Router::new().route("/", route_get(|| async { "app" }))).await;
    // The probes' port, showing details (only the kubelet reaches it).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let probe_addr = listener.local_addr().unwrap();
    tokio::spawn(
        probes
            .clone()
            .with_details(Details::always())
            .serve(listener),
    );

    assert_eq!(get(app, "/readiness").await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(app, "/").await.body, "app");

    let ready = get(probe_addr, "/readiness").await;
    assert_eq!((ready.status, ready.body.as_str()), (StatusCode::OK, "OK"));
    assert_eq!(ready.header("cache-control"), "no-store");
    assert_eq!(get(probe_addr, "/healthz").await.body, "OK");
    assert_eq!(
        get(probe_addr, "/readiness?verbose").await.body,
        "[+]db ok\n[+]cache ok\n[+]replica ok\nreadiness check passed"
    );
    let other = get(probe_addr, "/").await;
    assert_eq!(
        (other.status, other.body.as_str()),
        (StatusCode::NOT_FOUND, "not found")
    );
    let head = send(probe_addr, support::request(Method::HEAD, "/readiness")).await;
    assert_eq!((head.status, head.body.as_str()), (StatusCode::OK, ""));
    assert_eq!(head.header("content-length"), "2");

    // One handle: drain and failures show on the probe port.
    state.db.set(Mode::Fail);
    let failing = get(probe_addr, "/readiness").await;
    assert_eq!(failing.body, "db: cannot connect to database.");
    probes.drain();
    assert_eq!(get(probe_addr, "/readiness").await.body, "shutting down");
    assert_eq!(get(probe_addr, "/healthz").await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_quality_values_are_honoured() {
    let (_state, addr) = app(Details::always()).await;
    let text = get_with(
        addr,
        "/readiness",
        &[("accept", "application/health+json;q=0, text/plain")],
    )
    .await;
    assert_eq!(text.header("content-type"), "text/plain; charset=utf-8");
    assert_eq!(text.body, "OK");
    let json = get_with(
        addr,
        "/readiness",
        &[("accept", "text/plain;q=0.5, application/json")],
    )
    .await;
    assert_eq!(json.header("content-type"), "application/health+json");
    let text = get_with(
        addr,
        "/readiness",
        &[("accept", "application/json;q=0.4, text/*")],
    )
    .await;
    assert_eq!(text.header("content-type"), "text/plain; charset=utf-8");
}

/// An allow-list of `Host` values inside the app, as apps add against DNS
/// rebinding: the kubelet sends the pod's IP as `Host`, which no list
/// names, and the probes must answer anyway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_answer_ahead_of_a_host_allow_list() {
    async fn allow_list(request: Request, next: Next) -> Response {
        let host = request
            .headers()
            .get("host")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        if host == "app.example.com" {
            next.run(request).await
        } else {
            (StatusCode::MISDIRECTED_REQUEST, "unknown host").into_response()
        }
    }
    let state = fake::state();
    let router = Router::new()
        .route("/", route_get(|| async { "app" }))
        .layer(axum::middleware::from_fn(allow_list))
        .layer(state.probes());
    let addr = serve(router).await;
    let pod_ip = [("host", "10.244.1.17:8080")];
    for path in ["/healthz", "/readiness", "/startupz"] {
        let reply = get_with(addr, path, &pod_ip).await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (StatusCode::OK, "OK"),
            "{path}"
        );
    }
    let app = get_with(addr, "/", &pod_ip).await;
    assert_eq!(app.status, StatusCode::MISDIRECTED_REQUEST);
    let allowed = get_with(addr, "/", &[("host", "app.example.com")]).await;
    assert_eq!(allowed.body, "app");
}

#[derive(Clone, HealthChecks)]
#[healthz(cache = "0s")]
struct Optional {
    #[healthz]
    db: Fake,
    #[healthz]
    cache: Option<Fake>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_left_none_says_it_is_not_configured() {
    let state = Optional {
        db: Fake::new(Mode::Pass),
        cache: None,
    };
    let addr = serve(Router::new().layer(state.probes().with_details(Details::always()))).await;
    assert_eq!(get(addr, "/readiness").await.body, "OK");
    assert_eq!(
        get(addr, "/readiness?verbose").await.body,
        "[+]db ok\n[+]cache not configured\nreadiness check passed"
    );
    let json = get(addr, "/readiness?format=json").await.body;
    assert!(
        json.contains(r#""cache:responseTime":[{"status":"pass""#)
            && json.contains(r#""output":"not configured"}]"#),
        "{json}"
    );
    // Configured, it is checked and says ok.
    let configured = Optional {
        db: Fake::new(Mode::Pass),
        cache: Some(Fake::new(Mode::Pass)),
    };
    let addr =
        serve(Router::new().layer(configured.probes().with_details(Details::always()))).await;
    assert_eq!(
        get(addr, "/readiness?verbose").await.body,
        "[+]db ok\n[+]cache ok\nreadiness check passed"
    );
}
