//! Behaviour of the actix-web middleware over real HTTP: an actix
//! `HttpServer` on a loopback port, with checks whose answers the tests
//! control. The behaviour every adapter shares is stamped by
//! [`support::framework_suite!`]; what is actix's own (a service that is
//! not ready, workers, the answers the tower layer's tests also hold)
//! follows.

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
use healthz::{HealthChecks, Probes};
use http::{Method, StatusCode};
use support::fake::{state, Fake, Mode};
use support::scenarios::{Auth, Framework};
use support::{get as http_get, request, send};

/// An auth middleware that rejects every request, as one whose session
/// store is down would.
async fn broken_auth(
    _request: ServiceRequest,
    _next: Next<impl MessageBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    Err(actix_web::error::ErrorUnauthorized("unauthorized"))
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

/// The app of [`Framework`] in actix: [`app`] on one worker.
struct Actix;

impl Framework for Actix {
    async fn serve<T: HealthChecks>(probes: Probes<T>, auth: Auth) -> SocketAddr {
        serve(probes, auth)
    }
}

support::framework_suite!(Actix);

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
async fn what_only_looks_like_a_probe_gets_actixs_own_404() {
    // Beyond the shared "a client error, never a probe's answer": actix's
    // routing answers exactly 404 to every one of them.
    let state = state();
    let addr = serve(support::trusted(&state), Auth::Open);
    for path in support::scenarios::LOOKALIKE_PATHS {
        assert_eq!(
            http_get(addr, path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
        let reply = send(addr, request(method.clone(), "/healthz")).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method} /healthz");
    }
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
