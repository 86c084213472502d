//! Behaviour of the probes over real HTTP (a hyper server on a loopback
//! port) and through `oneshot`, with checks whose answers the tests control.
//! The behaviour every adapter shares is stamped by
//! [`support::framework_suite!`] on an axum app; what the tower layer
//! proves beyond it (an inner service that is not ready, trailers, the
//! cache through `oneshot`, runs lost with their runtime) follows.
//!
//! (Over the usual size: a list of tests that each stand alone and share
//! only `app` and the fake check.)

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use healthz::{HealthChecks, Probes};
use http_body_util::BodyExt;
use support::fake::{state, Fake, Mode};
use support::scenarios::{Auth, Framework};
use support::{get as http_get, request, send, serve};
use tower::ServiceExt;

/// The app of [`Framework`] in axum: its routes behind an auth
/// middleware, the probes the last (outermost) layer.
struct Tower;

impl Framework for Tower {
    async fn serve<T: HealthChecks>(probes: Probes<T>, auth: Auth) -> SocketAddr {
        serve(app(probes, auth)).await
    }
}

support::framework_suite!(Tower);

/// The app of [`Tower`].
fn app<T: HealthChecks>(probes: Probes<T>, auth: Auth) -> Router {
    // As one whose session store is down would.
    let auth = move |request: Request, next: Next| async move {
        match auth {
            Auth::Broken => (StatusCode::UNAUTHORIZED, "unauthorized").into_response(),
            Auth::Open => next.run(request).await,
        }
    };
    Router::new()
        .route("/", get(|| async { "app" }))
        .route("/readiness", post(|| async { "app got the POST" }))
        .route("/healthz/extra", get(|| async { "app's own path" }))
        .route("/echo", post(echo))
        .layer(middleware::from_fn(auth))
        .layer(probes)
}

#[tokio::test]
async fn liveness_answers_ok_and_never_runs_a_check() {
    let state = state();
    let addr = Tower::serve(support::trusted(&state), Auth::Broken).await;
    for _ in 0..5 {
        let reply = http_get(addr, "/healthz").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body, "OK");
        assert_eq!(reply.header("cache-control"), "no-store");
        assert_eq!(reply.header("content-type"), "text/plain; charset=utf-8");
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
    let addr = Tower::serve(support::trusted(&state), Auth::Broken).await;
    let reply = http_get(addr, "/readiness").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "OK");
    assert_eq!(reply.header("cache-control"), "no-store");
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
    let addr = Tower::serve(support::trusted(&state), Auth::Broken).await;

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
}

/// Asked about one check, the answer is that check's: a failing
/// non-critical check keeps `/readiness` at 200 but fails its own path.
#[tokio::test]
async fn a_sub_path_fails_for_a_failing_non_critical_check() {
    let state = state();
    state.replica.set(Mode::Fail);
    let addr = Tower::serve(support::trusted(&state), Auth::Broken).await;

    let reply = http_get(addr, "/readiness").await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "OK"));

    let reply = http_get(addr, "/readiness/replica").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body, "replica: cannot connect to database.");

    let reply = http_get(addr, "/readiness/replica?format=json").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        reply.body.starts_with(r#"{"status":"fail""#),
        "{}",
        reply.body
    );

    // A busy check asked alone is still degraded, not down.
    state.replica.set(Mode::Busy);
    let reply = http_get(addr, "/readiness/replica").await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "OK"));
}

/// A check function that is not `async` panics while its future is being
/// built, before anything polls it.
fn panics_while_building(_: &Fake) -> std::future::Ready<Result<(), std::io::Error>> {
    panic!("building the check's future")
}

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "300ms", cache = "0s")]
struct BuildPanics {
    #[healthz(with = panics_while_building)]
    db: Fake,
}

#[tokio::test]
async fn a_panic_while_building_the_check_is_caught_like_one_while_running_it() {
    let probes = BuildPanics {
        db: Fake::new(Mode::Pass),
    }
    .probes()
    .with_details(healthz::details::Details::always());
    let addr = serve(Router::new().layer(probes)).await;
    for _ in 0..2 {
        let reply = http_get(addr, "/readiness").await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(reply.body, "db: check panicked.");
    }
    let reply = http_get(addr, "/healthz").await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "OK"));
}

#[tokio::test]
async fn what_only_looks_like_a_probe_gets_axums_own_404() {
    // Beyond the shared "a client error, never a probe's answer": axum's
    // routing answers exactly 404 to every one of them.
    let state = state();
    let addr = Tower::serve(support::trusted(&state), Auth::Open).await;
    for path in support::scenarios::LOOKALIKE_PATHS {
        assert_eq!(
            http_get(addr, path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
}

#[tokio::test]
async fn probes_are_answered_while_an_inner_concurrency_limit_is_saturated() {
    let state = state();
    let release = Arc::new(tokio::sync::Notify::new());
    let entered = Arc::new(tokio::sync::Notify::new());
    let (release_app, entered_app) = (release.clone(), entered.clone());
    let app = Router::new().route(
        "/",
        get(move || {
            let (release, entered) = (release_app.clone(), entered_app.clone());
            async move {
                entered.notify_one();
                release.notified().await;
                "app"
            }
        }),
    );
    // One request at a time, shared by every connection.
    let limited = tower::ServiceBuilder::new()
        .layer(support::trusted(&state))
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(1))
        .service(app);
    let addr = serve(limited).await;

    let first = tokio::spawn(async move { http_get(addr, "/").await });
    entered.notified().await;
    let second = tokio::spawn(async move { http_get(addr, "/").await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !second.is_finished(),
        "the limit should hold the second app request"
    );

    assert_eq!(http_get(addr, "/healthz").await.status, StatusCode::OK);
    assert_eq!(http_get(addr, "/readiness").await.status, StatusCode::OK);

    release.notify_one();
    assert_eq!(first.await.unwrap().body, "app");
    entered.notified().await;
    release.notify_one();
    assert_eq!(second.await.unwrap().body, "app");
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
async fn concurrent_probes_share_one_run_of_each_check() {
    let state = CachedState {
        db: Fake::new(Mode::Slow),
        cache: Fake::new(Mode::Slow),
    };
    let addr = support::serve_probes(&state).await;
    let probes: Vec<_> = (0..200)
        .map(|_| tokio::spawn(async move { http_get(addr, "/readiness").await }))
        .collect();
    for probe in probes {
        let reply = probe.await.unwrap();
        assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "OK"));
    }
    assert_eq!(state.db.calls(), 1);
    assert_eq!(state.cache.calls(), 1);
}

#[tokio::test]
async fn results_are_reused_for_the_cache_ttl_through_oneshot() {
    let state = CachedState {
        db: Fake::new(Mode::Pass),
        cache: Fake::new(Mode::Pass),
    };
    let app = Router::new().layer(support::trusted(&state));
    for _ in 0..10 {
        let response = app
            .clone()
            .oneshot(Request::get("/readiness").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!((state.db.calls(), state.cache.calls()), (1, 1));
}

/// An app route that streams the request body back, frame by frame, with
/// a status and a header of the app's own, and ends with a trailer holding
/// the byte count.
async fn echo(request: Request) -> Response {
    let mut body = request.into_body();
    let (sender, receiver) =
        tokio::sync::mpsc::channel::<Result<http_body::Frame<Bytes>, Infallible>>(4);
    tokio::spawn(async move {
        let mut total = 0usize;
        while let Some(frame) = body.frame().await {
            let data = frame
                .expect("request frame")
                .into_data()
                .unwrap_or_default();
            total += data.len();
            if sender.send(Ok(http_body::Frame::data(data))).await.is_err() {
                return;
            }
        }
        let mut trailers = http::HeaderMap::new();
        trailers.insert("x-total", total.to_string().parse().unwrap());
        let _ = sender.send(Ok(http_body::Frame::trailers(trailers))).await;
    });
    let stream = http_body_util::StreamBody::new(ReceiverStream(receiver));
    Response::builder()
        .status(StatusCode::CREATED)
        .header("x-app", "echo")
        .header("trailer", "x-total")
        .body(Body::new(stream))
        .unwrap()
}

struct ReceiverStream<T>(tokio::sync::mpsc::Receiver<T>);

impl<T> futures_util::Stream for ReceiverStream<T> {
    type Item = T;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        self.0.poll_recv(cx)
    }
}

#[tokio::test]
async fn large_streamed_bodies_pass_through_byte_for_byte() {
    let state = state();
    let app = Router::new()
        .route("/echo", post(echo))
        .layer(support::trusted(&state));
    let addr = serve(app).await;

    // 8 MiB of a pattern that would show any reordering or loss, sent in
    // 64 KiB chunks.
    let payload: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let chunks: Vec<Result<http_body::Frame<Bytes>, Infallible>> = payload
        .chunks(64 * 1024)
        .map(|c| Ok(http_body::Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    let body = http_body_util::StreamBody::new(futures_util::stream::iter(chunks));
    let request = http::Request::post("/echo")
        .header("host", "localhost")
        .header("te", "trailers")
        .body(body)
        .unwrap();

    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let response = tokio::time::timeout(support::REQUEST_BOUND, sender.send_request(request))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["x-app"], "echo");
    let collected = tokio::time::timeout(support::REQUEST_BOUND, response.into_body().collect())
        .await
        .unwrap()
        .unwrap();
    let trailers = collected.trailers().cloned();
    let echoed = collected.to_bytes();
    assert_eq!(echoed.len(), payload.len());
    assert!(
        echoed == payload[..],
        "the echoed body differs from what was sent"
    );
    let trailers = trailers.expect("the app's trailers reach the client");
    assert_eq!(trailers["x-total"], payload.len().to_string().as_str());
}

#[tokio::test]
async fn draining_answers_at_once_even_with_a_hung_dependency() {
    let state = state();
    state.db.set(Mode::Hang);
    let probes = support::trusted(&state);
    let addr = Tower::serve(probes.clone(), Auth::Open).await;
    probes.drain();
    let reply = http_get(addr, "/readiness").await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    );
    // Not asked at all, so the hung dependency cannot delay the answer.
    assert_eq!(
        state.db.calls(),
        0,
        "a draining readiness probe ran a check"
    );
}

#[tokio::test]
async fn json_is_chosen_by_accept_or_format() {
    let state = state();
    state.sessions.set(Mode::Fail);
    let addr = Tower::serve(support::trusted(&state), Auth::Open).await;
    let reply = http_get(addr, "/readiness?format=json").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.header("content-type"), "application/health+json");
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

    let mut accept = request(Method::GET, "/readiness");
    accept.headers_mut().insert(
        "accept",
        "text/html, application/health+json;q=0.9".parse().unwrap(),
    );
    let reply = send(addr, accept).await;
    assert_eq!(reply.header("content-type"), "application/health+json");
}

/// A run that dies with its runtime (a test's, or a server's at shutdown)
/// must not leave its check waiting on it forever.
#[test]
fn a_run_lost_with_its_runtime_does_not_wedge_the_check() {
    let state = state();
    state.db.set(Mode::Hang);
    let probes = support::trusted(&state);
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let first = runtime();
    let gave_up = first.block_on(async {
        tokio::time::timeout(Duration::from_millis(50), probes.readiness()).await
    });
    assert!(gave_up.is_err(), "the hung check should still be running");
    // Drops the run's task, which never published a result.
    drop(first);

    state.db.set(Mode::Pass);
    let report = runtime().block_on(probes.readiness());
    assert!(report.status().is_ready(), "{report:?}");
}

/// A run belongs to the runtime that spawned it. When that runtime stalls
/// (an actix worker, which is a single-threaded runtime, blocked by a
/// handler), probes answered on another runtime must not keep waiting on
/// the stranded run: once it is overdue, it is replaced.
#[test]
fn a_run_stranded_on_a_stalled_runtime_is_replaced() {
    let state = state();
    let probes = support::trusted(&state);
    let (stalled_tx, stalled_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let stalled_probes = probes.clone();
    let stalled = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            // Polled exactly once, without yielding: the runs are spawned
            // on this runtime, and none of them gets to run…
            let mut readiness = std::pin::pin!(stalled_probes.readiness());
            std::future::poll_fn(|cx| {
                let _ = std::future::Future::poll(readiness.as_mut(), cx);
                std::task::Poll::Ready(())
            })
            .await;
            stalled_tx.send(()).unwrap();
            // …which then stops polling anything until released.
            release_rx.recv().unwrap();
        });
    });
    stalled_rx.recv().unwrap();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ready = runtime.block_on(async {
        // The first probe can only wait for the runs in flight; the ones
        // after them find the runs overdue and start new ones.
        for _ in 0..4 {
            if probes.readiness().await.status().is_ready() {
                return true;
            }
        }
        false
    });
    release_tx.send(()).unwrap();
    stalled.join().unwrap();
    assert!(
        ready,
        "probes kept waiting on runs stranded on a stalled runtime"
    );
}
