//! warp 0.4 behind the probes: a warp filter is a tower `Service` through
//! `warp::service`, so the tower layer wraps it as it wraps any other
//! (`tower::Layer::layer(&probes, warp::service(routes))`), and the result
//! is served by hyper. The behaviour the tower and actix adapters share,
//! over real HTTP: probes answered ahead of an auth filter that rejects
//! every request with 401, pass-through byte for byte, HEAD, drain, and the
//! shared scenarios.

use std::net::SocketAddr;

use bytes::Bytes;
use healthz::{HealthChecks, Probes};
use http::{Method, StatusCode};
use http_body_util::Full;
use support::fake::{state, Mode};
use support::scenarios;
use support::{get as http_get, request, send, serve};
use warp::Filter;

/// The rejection of the app's auth filter.
#[derive(Debug)]
struct Unauthorized;

impl warp::reject::Reject for Unauthorized {}

/// Whether the app's auth filter rejects every request, as one whose
/// session store is down would.
#[derive(Clone, Copy, PartialEq)]
enum Auth {
    Broken,
    Open,
}

/// The app's routes behind its auth filter, wrapped by the probes:
/// `GET /`, `POST /readiness` and `GET /healthz/extra` are its own, `POST
/// /echo` sends the body back with a status and header of the app's own.
async fn serve_app<T: HealthChecks>(probes: Probes<T>, auth: Auth) -> SocketAddr {
    let auth = warp::any()
        .and_then(move || async move {
            if auth == Auth::Broken {
                Err(warp::reject::custom(Unauthorized))
            } else {
                Ok(())
            }
        })
        .untuple_one();
    let index = warp::get().and(warp::path::end()).map(|| "app");
    let post_readiness = warp::post()
        .and(warp::path!("readiness"))
        .map(|| "app got the POST");
    let extra = warp::get()
        .and(warp::path!("healthz" / "extra"))
        .map(|| "app's own path");
    let echo = warp::post()
        .and(warp::path!("echo"))
        .and(warp::body::bytes())
        .map(|body: Bytes| {
            let reply = warp::reply::with_header(body.to_vec(), "x-app", "echo");
            warp::reply::with_status(reply, StatusCode::CREATED)
        });
    let routes = auth
        .and(index.or(post_readiness).or(extra).or(echo))
        .recover(|rejection: warp::Rejection| async move {
            if rejection.find::<Unauthorized>().is_some() {
                Ok(warp::reply::with_status(
                    "unauthorized",
                    StatusCode::UNAUTHORIZED,
                ))
            } else {
                Err(rejection)
            }
        });
    serve(tower::Layer::layer(&probes, warp::service(routes))).await
}

#[tokio::test]
async fn probes_are_answered_while_the_auth_filter_rejects_everything() {
    let state = state();
    let addr = serve_app(support::trusted(&state), Auth::Broken).await;
    let reply = http_get(addr, "/").await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    for (path, body) in [
        ("/healthz", "OK"),
        ("/readiness", "OK"),
        ("/startupz", "OK"),
    ] {
        let reply = http_get(addr, path).await;
        assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, body));
        assert_eq!(reply.header("cache-control"), "no-store");
        assert_eq!(reply.header("content-type"), "text/plain; charset=utf-8");
    }
    assert_eq!(http_get(addr, "/readiness/db").await.status, StatusCode::OK);
    // Not a probe: the auth filter gets it, and rejects it.
    assert_eq!(
        send(addr, request(Method::POST, "/readiness")).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn other_methods_and_paths_reach_the_app() {
    let state = state();
    let addr = serve_app(support::trusted(&state), Auth::Open).await;
    let reply = send(addr, request(Method::POST, "/readiness")).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "app got the POST")
    );
    assert_eq!(http_get(addr, "/").await.body, "app");
    assert_eq!(
        http_get(addr, "/healthz/extra").await.body,
        "app's own path"
    );
    // Paths that only look like probes, and other methods on probe paths,
    // are the app's: warp's own rejection (404, or 405 where a route of
    // another method matched), never a probe's answer.
    for path in ["/healthz/", "/Readiness", "/readinessx", "/startupz/x"] {
        let reply = http_get(addr, path).await;
        assert!(reply.status.is_client_error(), "{path}: {}", reply.status);
        assert_eq!(reply.header("cache-control"), "", "{path}");
    }
    for method in [Method::POST, Method::PUT, Method::DELETE] {
        let reply = send(addr, request(method.clone(), "/healthz")).await;
        assert_ne!(reply.status, StatusCode::OK, "{method} /healthz");
        assert_eq!(reply.header("cache-control"), "", "{method} /healthz");
    }
    assert_eq!(state.db.calls(), 0);
}

#[tokio::test]
async fn app_bodies_and_headers_pass_through_unchanged() {
    let state = state();
    let addr = serve_app(support::trusted(&state), Auth::Open).await;
    let payload: Vec<u8> = (0..4 * 1024 * 1024u32)
        .map(|i| b'!' + (i % 89) as u8)
        .collect();
    let mut echo = request(Method::POST, "/echo");
    *echo.body_mut() = Full::new(Bytes::from(payload.clone()));
    let reply = send(addr, echo).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.header("x-app"), "echo");
    assert_eq!(reply.header("cache-control"), "");
    assert!(
        reply.body.as_bytes() == payload.as_slice(),
        "the echoed body differs from what was sent"
    );
}

#[tokio::test]
async fn head_gets_the_same_status_and_headers_without_a_body() {
    let state = state();
    state.db.set(Mode::Fail);
    let addr = serve_app(support::trusted(&state), Auth::Broken).await;
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
async fn drain_fails_readiness_but_not_liveness_or_the_app() {
    let state = state();
    let probes = support::trusted(&state);
    let addr = serve_app(probes.clone(), Auth::Open).await;
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
async fn readiness_fails_with_one_line_per_failing_check_and_no_private_detail() {
    let state = state();
    let addr = serve_app(support::trusted(&state), Auth::Broken).await;
    scenarios::readiness_fails_with_one_line_per_failing_check_and_no_private_detail(&state, addr)
        .await;
}

#[tokio::test]
async fn non_critical_and_busy_failures_keep_the_pod_ready() {
    let state = state();
    let addr = serve_app(support::trusted(&state), Auth::Broken).await;
    scenarios::non_critical_and_busy_failures_keep_the_pod_ready(&state, addr).await;
}

#[tokio::test]
async fn verbose_lists_every_check() {
    let state = state();
    let addr = serve_app(support::trusted(&state), Auth::Broken).await;
    scenarios::verbose_lists_every_check(&state, addr).await;
}

#[tokio::test]
async fn exclude_skips_checks_and_unknown_names_are_ignored() {
    let state = state();
    let addr = serve_app(support::trusted(&state), Auth::Broken).await;
    scenarios::exclude_skips_checks_and_unknown_names_are_ignored(&state, addr).await;
}

#[tokio::test]
async fn startup_opens_once_every_critical_check_has_passed_then_stays_open() {
    let state = state();
    let addr = serve_app(support::trusted(&state), Auth::Broken).await;
    scenarios::startup_opens_once_every_critical_check_has_passed_then_stays_open(&state, addr)
        .await;
}

#[tokio::test]
async fn a_check_that_never_returns_fails_within_the_deadline() {
    let state = state();
    let addr = serve_app(support::trusted(&state), Auth::Broken).await;
    scenarios::a_check_that_never_returns_fails_within_the_deadline(&state, addr).await;
}

#[tokio::test]
async fn a_panicking_check_fails_and_the_server_keeps_serving() {
    let state = state();
    let addr = serve_app(support::trusted(&state), Auth::Open).await;
    scenarios::a_panicking_check_fails_and_the_server_keeps_serving(&state, addr).await;
}
