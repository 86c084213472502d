//! Behaviour of the actix-web middleware over real HTTP: an actix
//! `HttpServer` on a loopback port, with checks whose answers the tests
//! control. These mirror the tower layer's tests in `probes.rs`.

use std::future::{ready, Ready};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Service, ServiceFactory, ServiceRequest, ServiceResponse, Transform};
use actix_web::middleware::{from_fn, Condition, Next};
use actix_web::{web, App, HttpResponse, HttpServer};
use bytes::Bytes;
use healthz::{HealthChecks, Probes};
use http::{Method, StatusCode};
use http_body_util::Full;
use support::fake::{state, Fake, Mode};
use support::scenarios;
use support::{get as http_get, request, send};

/// Whether the app's auth middleware fails every request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Auth {
    Broken,
    Open,
}

/// An auth middleware that fails every request, as one whose session store
/// is down would.
async fn broken_auth(
    _request: ServiceRequest,
    _next: Next<impl MessageBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    Err(actix_web::error::ErrorInternalServerError(
        "session store unavailable",
    ))
}

/// A middleware whose readiness the test controls, as a concurrency limit
/// or a load shedder would report it.
#[derive(Clone)]
struct Gate(Arc<GateState>);

struct GateState {
    closed: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl Gate {
    fn new(closed: bool) -> Self {
        Gate(Arc::new(GateState {
            closed: AtomicBool::new(closed),
            wakers: Mutex::new(Vec::new()),
        }))
    }

    fn open(&self) {
        self.0.closed.store(false, Ordering::SeqCst);
        for waker in self.0.wakers.lock().unwrap().drain(..) {
            waker.wake();
        }
    }
}

impl<S: Service<ServiceRequest>> Transform<S, ServiceRequest> for Gate {
    type Response = S::Response;
    type Error = S::Error;
    type Transform = GateService<S>;
    type InitError = ();
    type Future = Ready<Result<GateService<S>, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(GateService {
            service,
            gate: self.clone(),
        }))
    }
}

struct GateService<S> {
    service: S,
    gate: Gate,
}

impl<S: Service<ServiceRequest>> Service<ServiceRequest> for GateService<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        if self.gate.0.closed.load(Ordering::SeqCst) {
            self.gate.0.wakers.lock().unwrap().push(cx.waker().clone());
            // Opened between the load and the push: its wake-up was missed.
            if self.gate.0.closed.load(Ordering::SeqCst) {
                return Poll::Pending;
            }
        }
        self.service.poll_ready(cx)
    }

    fn call(&self, request: ServiceRequest) -> S::Future {
        self.service.call(request)
    }
}

/// The app: `/`, `POST /readiness`, `/healthz/extra` and `POST /echo` are
/// its own routes, behind the auth middleware and the gate; the probes are
/// the last `.wrap`.
fn app<T>(
    probes: Probes<T>,
    auth: Auth,
    gate: Gate,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
>
where
    T: HealthChecks,
{
    App::new()
        .route("/", web::get().to(|| async { "app" }))
        .route(
            "/readiness",
            web::post().to(|| async { "app got the POST" }),
        )
        .route(
            "/healthz/extra",
            web::get().to(|| async { "app's own path" }),
        )
        .route("/echo", web::post().to(echo))
        .wrap(Condition::new(auth == Auth::Broken, from_fn(broken_auth)))
        .wrap(gate)
        .wrap(probes)
}

/// Streams the request body back, with a status and a header of the app's
/// own.
async fn echo(body: web::Payload) -> HttpResponse {
    HttpResponse::Created()
        .insert_header(("x-app", "echo"))
        .streaming(body)
}

/// Serves [`app`] with `workers` actix workers on a free port of 127.0.0.1,
/// until the test's runtime shuts down.
fn serve_with<T>(probes: Probes<T>, auth: Auth, gate: Gate, workers: usize) -> SocketAddr
where
    T: HealthChecks,
{
    let server = HttpServer::new(move || app(probes.clone(), auth, gate.clone()))
        .workers(workers)
        .disable_signals()
        .shutdown_timeout(0)
        .bind(("127.0.0.1", 0))
        .expect("bind 127.0.0.1:0");
    let addr = server.addrs()[0];
    tokio::spawn(server.run());
    addr
}

fn serve<T>(probes: Probes<T>, auth: Auth) -> SocketAddr
where
    T: HealthChecks,
{
    serve_with(probes, auth, Gate::new(false), 1)
}

#[tokio::test]
async fn liveness_answers_ok_and_never_runs_a_check() {
    let state = state();
    let addr = serve(support::trusted(&state), Auth::Broken);
    for _ in 0..5 {
        let reply = http_get(addr, "/healthz").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body, "OK");
        assert_eq!(reply.header("cache-control"), "no-store");
        assert_eq!(reply.header("content-type"), "text/plain; charset=utf-8");
        assert_eq!(reply.header("content-length"), "2");
    }
    state.db.set(Mode::Fail);
    assert_eq!(http_get(addr, "/healthz").await.status, StatusCode::OK);
    assert_eq!(
        state.db.calls() + state.sessions.calls() + state.replica.calls(),
        0
    );
}

#[tokio::test]
async fn readiness_is_ok_when_every_check_passes() {
    let state = state();
    let addr = serve(support::trusted(&state), Auth::Broken);
    let reply = http_get(addr, "/readiness").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "OK");
    assert_eq!(reply.header("cache-control"), "no-store");
    assert_eq!(reply.header("content-type"), "text/plain; charset=utf-8");
    assert_eq!(
        (
            state.db.calls(),
            state.sessions.calls(),
            state.replica.calls()
        ),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn readiness_fails_with_one_line_per_failing_check_and_no_private_detail() {
    let state = state();
    let addr = serve(support::trusted(&state), Auth::Broken);
    scenarios::readiness_fails_with_one_line_per_failing_check_and_no_private_detail(&state, addr)
        .await;
}

#[tokio::test]
async fn non_critical_and_busy_failures_keep_the_pod_ready() {
    let state = state();
    let addr = serve(support::trusted(&state), Auth::Broken);
    scenarios::non_critical_and_busy_failures_keep_the_pod_ready(&state, addr).await;
}

#[tokio::test]
async fn verbose_lists_every_check() {
    let state = state();
    let addr = serve(support::trusted(&state), Auth::Broken);
    scenarios::verbose_lists_every_check(&state, addr).await;
}

#[tokio::test]
async fn exclude_skips_checks_and_unknown_names_are_ignored() {
    let state = state();
    let addr = serve(support::trusted(&state), Auth::Broken);
    scenarios::exclude_skips_checks_and_unknown_names_are_ignored(&state, addr).await;
}

#[tokio::test]
async fn a_sub_path_runs_one_check() {
    let state = state();
    state.db.set(Mode::Fail);
    let addr = serve(support::trusted(&state), Auth::Broken);

    let reply = http_get(addr, "/readiness/cache").await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "OK"));
    assert_eq!((state.db.calls(), state.sessions.calls()), (0, 1));

    let reply = http_get(addr, "/readiness/db").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body, "db: cannot connect to database.");

    let reply = http_get(addr, "/readiness/db?verbose").await;
    assert_eq!(
        reply.body,
        "[-]db failed: cannot connect to database\ndb check failed"
    );

    let reply = http_get(addr, "/readiness/nope").await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::NOT_FOUND, "no such check.")
    );
    assert_eq!(reply.header("cache-control"), "no-store");
}

#[tokio::test]
async fn startup_opens_once_every_critical_check_has_passed_then_stays_open() {
    let state = state();
    let addr = serve(support::trusted(&state), Auth::Broken);
    scenarios::startup_opens_once_every_critical_check_has_passed_then_stays_open(&state, addr)
        .await;
}

#[tokio::test]
async fn head_gets_the_same_status_and_headers_without_a_body() {
    let state = state();
    state.db.set(Mode::Fail);
    let addr = serve(support::trusted(&state), Auth::Broken);
    for (path, status) in [
        ("/healthz", StatusCode::OK),
        ("/readiness", StatusCode::SERVICE_UNAVAILABLE),
        ("/readiness?verbose", StatusCode::SERVICE_UNAVAILABLE),
        ("/readiness/nope", StatusCode::NOT_FOUND),
        ("/startupz", StatusCode::SERVICE_UNAVAILABLE),
    ] {
        let get_reply = http_get(addr, path).await;
        let head_reply = send(addr, request(Method::HEAD, path)).await;
        assert_eq!(get_reply.status, status, "GET {path}");
        assert_eq!(head_reply.status, status, "HEAD {path}");
        assert!(!get_reply.body.is_empty(), "GET {path}");
        assert_eq!(head_reply.body, "", "HEAD {path}");
        assert_eq!(
            get_reply.header("content-length"),
            get_reply.body.len().to_string(),
            "GET {path}"
        );
        for name in ["content-type", "content-length", "cache-control"] {
            assert_eq!(
                head_reply.header(name),
                get_reply.header(name),
                "{name} of HEAD {path}"
            );
        }
    }
}

#[tokio::test]
async fn other_methods_and_paths_reach_the_app() {
    let state = state();
    let addr = serve(support::trusted(&state), Auth::Open);
    let reply = send(addr, request(Method::POST, "/readiness")).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "app got the POST")
    );
    let reply = http_get(addr, "/").await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "app"));
    let reply = http_get(addr, "/healthz/extra").await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "app's own path")
    );
    // Paths that only look like probes, and methods other than GET and
    // HEAD on probe paths, are the app's (here: its 404 and 405).
    for path in [
        "/healthz/",
        "/Readiness",
        "/readinessx",
        "//readiness",
        "/startupz/x",
    ] {
        assert_eq!(
            http_get(addr, path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
        let reply = send(addr, request(method.clone(), "/healthz")).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method} /healthz");
        assert_eq!(reply.header("cache-control"), "", "{method} /healthz");
    }
    assert_eq!(state.db.calls(), 0);
}

#[tokio::test]
async fn app_bodies_and_headers_pass_through_unchanged() {
    let state = state();
    let addr = serve(support::trusted(&state), Auth::Open);
    // A pattern that would show any reordering or loss, streamed back by
    // the app while it is still being read. Printable ASCII, because the
    // reply's body is read as text.
    let payload: Vec<u8> = (0..4 * 1024 * 1024u32)
        .map(|i| b'!' + (i % 89) as u8)
        .collect();
    let mut echo = request(Method::POST, "/echo");
    *echo.body_mut() = Full::new(Bytes::from(payload.clone()));
    let reply = send(addr, echo).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.header("x-app"), "echo");
    assert_eq!(reply.header("cache-control"), "");
    assert_eq!(reply.body.len(), payload.len());
    assert!(
        reply.body.as_bytes() == payload.as_slice(),
        "the echoed body differs from what was sent"
    );
}

#[tokio::test]
async fn probes_are_answered_while_the_auth_middleware_fails() {
    let state = state();
    let addr = serve(support::trusted(&state), Auth::Broken);
    let reply = http_get(addr, "/").await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "session store unavailable"
        )
    );
    assert_eq!(http_get(addr, "/healthz").await.status, StatusCode::OK);
    assert_eq!(http_get(addr, "/readiness").await.status, StatusCode::OK);
    assert_eq!(http_get(addr, "/readiness/db").await.status, StatusCode::OK);
    assert_eq!(http_get(addr, "/startupz").await.status, StatusCode::OK);
    // Not a probe: the auth middleware gets it, and fails it.
    assert_eq!(
        send(addr, request(Method::POST, "/readiness")).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

#[tokio::test]
async fn probes_get_in_while_the_app_is_not_ready_and_app_requests_wait_for_it() {
    let state = state();
    let gate = Gate::new(true);
    // Without the probes answering ready, the worker would not even accept
    // the connection of a probe while the gate is closed.
    let addr = serve_with(support::trusted(&state), Auth::Open, gate.clone(), 1);
    assert_eq!(http_get(addr, "/healthz").await.status, StatusCode::OK);
    assert_eq!(http_get(addr, "/readiness").await.status, StatusCode::OK);

    let app_request = tokio::spawn(async move { http_get(addr, "/").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !app_request.is_finished(),
        "an app request must wait for the app to be ready"
    );
    assert_eq!(http_get(addr, "/healthz").await.status, StatusCode::OK);

    gate.open();
    assert_eq!(app_request.await.unwrap().body, "app");
    assert_eq!(http_get(addr, "/").await.body, "app");
}

#[tokio::test]
async fn a_check_that_never_returns_fails_within_the_deadline() {
    let state = state();
    let addr = serve(support::trusted(&state), Auth::Broken);
    scenarios::a_check_that_never_returns_fails_within_the_deadline(&state, addr).await;
}

#[tokio::test]
async fn a_panicking_check_fails_and_the_server_keeps_serving() {
    let state = state();
    let addr = serve(support::trusted(&state), Auth::Open);
    scenarios::a_panicking_check_fails_and_the_server_keeps_serving(&state, addr).await;
}

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "2s", cache = "5s")]
struct CachedState {
    #[healthz]
    db: Fake,
    #[healthz]
    cache: Fake,
}

#[tokio::test]
async fn concurrent_probes_on_every_worker_share_one_run_of_each_check() {
    let state = CachedState {
        db: Fake::new(Mode::Slow),
        cache: Fake::new(Mode::Slow),
    };
    // Each actix worker is a runtime of its own; the run is shared anyway.
    let addr = serve_with(support::trusted(&state), Auth::Open, Gate::new(false), 2);
    let probes: Vec<_> = (0..50)
        .map(|_| tokio::spawn(async move { http_get(addr, "/readiness").await }))
        .collect();
    for probe in probes {
        let reply = probe.await.unwrap();
        assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "OK"));
    }
    assert_eq!((state.db.calls(), state.cache.calls()), (1, 1));
}

#[tokio::test]
async fn drain_fails_readiness_but_not_liveness_or_the_app() {
    let state = state();
    let probes = support::trusted(&state);
    let addr = serve(probes.clone(), Auth::Open);
    assert_eq!(http_get(addr, "/readiness").await.status, StatusCode::OK);
    probes.drain();
    let reply = http_get(addr, "/readiness").await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    );
    assert_eq!(http_get(addr, "/healthz").await.status, StatusCode::OK);
    assert_eq!(http_get(addr, "/").await.body, "app");
}

#[tokio::test]
async fn json_is_chosen_by_accept_or_format() {
    let state = state();
    state.sessions.set(Mode::Fail);
    let addr = serve(support::trusted(&state), Auth::Open);
    let reply = http_get(addr, "/readiness?format=json").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.header("content-type"), "application/health+json");
    assert_eq!(reply.header("cache-control"), "no-store");
    assert!(
        reply
            .body
            .starts_with(r#"{"status":"fail","checks":{"db:responseTime":[{"status":"pass""#),
        "{}",
        reply.body
    );
    assert!(
        reply
            .body
            .contains(r#""cache:responseTime":[{"status":"fail""#),
        "{}",
        reply.body
    );

    // Only the `Accept` header is carried over to the probe, and it is.
    let mut accept = request(Method::GET, "/readiness");
    accept.headers_mut().insert(
        "accept",
        "text/html, application/health+json;q=0.9".parse().unwrap(),
    );
    let reply = send(addr, accept).await;
    assert_eq!(reply.header("content-type"), "application/health+json");
    assert!(
        reply.body.starts_with(r#"{"status":"fail""#),
        "{}",
        reply.body
    );

    let reply = http_get(addr, "/readiness").await;
    assert_eq!(reply.header("content-type"), "text/plain; charset=utf-8");
}
