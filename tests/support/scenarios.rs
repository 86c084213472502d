//! Behaviour scenarios shared by the tests of every server integration
//! (tower over hyper, actix-web, poem, warp, rocket), so that each
//! integration is held to the same answers.
//!
//! Most take the state and the address of an app that serves that state's
//! probes, set what the fake dependencies do, and assert what the probes
//! answer. The rest need the app itself: a framework's test file says how
//! it builds and serves that app ([`Framework`]) and stamps every shared
//! test with [`framework_suite!`](crate::framework_suite); what it proves
//! beyond that stays in that file.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use healthz::{HealthChecks, Probes};
use http::{Method, StatusCode};
use http_body_util::Full;

use crate::fake::{state, AppState, Mode};
use crate::{get as http_get, request, send};

/// Paths that only look like probes: the app's own, never a probe's answer.
pub const LOOKALIKE_PATHS: [&str; 5] = [
    "/healthz/",
    "/Readiness",
    "/readinessx",
    "//readiness",
    "/startupz/x",
];

/// Whether the app's auth rejects every request, as one whose session
/// store is down would.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    /// Every request of the app is answered 401 `unauthorized`.
    Broken,
    /// The app's routes answer.
    Open,
}

/// How a server integration's test file builds and serves the app the
/// shared tests probe.
///
/// The app's own routes, behind its auth: `GET /` answers `app`, `POST
/// /readiness` answers `app got the POST`, `GET /healthz/extra` answers
/// `app's own path`, and `POST /echo` sends the request body back with
/// status 201 and the header `x-app: echo`. With [`Auth::Broken`] the auth
/// answers every request of the app 401 with the body `unauthorized`. The
/// probes are mounted the way the integration documents, ahead of it all.
#[allow(async_fn_in_trait)] // run on the test's own task, never spawned
pub trait Framework {
    /// Serves the app with `probes` on a free port of 127.0.0.1, in the
    /// background, until the test's runtime shuts down; its address.
    async fn serve<T: HealthChecks>(probes: Probes<T>, auth: Auth) -> SocketAddr;
}

/// The app of `F` with [`crate::trusted`] probes of a fresh
/// [`state`](crate::fake::state), and that state.
async fn serve_state<F: Framework>(auth: Auth) -> (AppState, SocketAddr) {
    let state = state();
    let addr = F::serve(crate::trusted(&state), auth).await;
    (state, addr)
}

pub async fn probes_are_answered_while_the_auth_rejects_everything<F: Framework>() {
    let (_state, addr) = serve_state::<F>(Auth::Broken).await;
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
        assert_eq!(reply.header("content-length"), "2");
    }
    assert_eq!(http_get(addr, "/readiness/db").await.status, StatusCode::OK);
    // Not a probe: the auth gets it, and rejects it.
    assert_eq!(
        send(addr, request(Method::POST, "/readiness")).await.status,
        StatusCode::UNAUTHORIZED
    );
}

pub async fn other_methods_and_paths_reach_the_app<F: Framework>() {
    let (state, addr) = serve_state::<F>(Auth::Open).await;
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
    // HEAD on probe paths, are the app's: the framework's own 404 (or 405
    // where a route of another method matched), never a probe's answer.
    for path in LOOKALIKE_PATHS {
        let reply = http_get(addr, path).await;
        assert!(reply.status.is_client_error(), "{path}: {}", reply.status);
        assert_eq!(reply.header("cache-control"), "", "{path}");
    }
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
        let reply = send(addr, request(method.clone(), "/healthz")).await;
        assert_ne!(reply.status, StatusCode::OK, "{method} /healthz");
        assert_eq!(reply.header("cache-control"), "", "{method} /healthz");
    }
    assert_eq!(state.db.calls(), 0);
}

pub async fn app_bodies_and_headers_pass_through_unchanged<F: Framework>() {
    let (_state, addr) = serve_state::<F>(Auth::Open).await;
    // A pattern that would show any reordering or loss. Printable ASCII,
    // because the reply's body is read as text.
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

pub async fn head_gets_the_same_status_and_headers_without_a_body<F: Framework>() {
    let state = state();
    state.db.set(Mode::Fail);
    let addr = F::serve(crate::trusted(&state), Auth::Broken).await;
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

pub async fn drain_fails_readiness_but_not_liveness_or_the_app<F: Framework>() {
    let state = state();
    let probes = crate::trusted(&state);
    let addr = F::serve(probes.clone(), Auth::Open).await;
    assert_eq!(http_get(addr, "/readiness").await.status, StatusCode::OK);
    probes.drain();
    let reply = http_get(addr, "/readiness").await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    );
    assert_eq!(http_get(addr, "/healthz").await.status, StatusCode::OK);
    assert_eq!(http_get(addr, "/").await.body, "app");
    let reply = http_get(addr, "/readiness?verbose").await;
    assert_eq!(reply.body, "[-]shutting down\nreadiness check failed");
    let reply = http_get(addr, "/readiness/db").await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    );
}

/// Stamps every shared test for a [`Framework`] in the calling file:
/// `framework_suite!(MyFramework);`. The scenarios that take a state and
/// an address are run with the auth broken (probes must not care), except
/// the panicking check, which asks the app too.
#[macro_export]
macro_rules! framework_suite {
    ($framework:ty) => {
        $crate::framework_suite!(@app $framework:
            probes_are_answered_while_the_auth_rejects_everything,
            other_methods_and_paths_reach_the_app,
            app_bodies_and_headers_pass_through_unchanged,
            head_gets_the_same_status_and_headers_without_a_body,
            drain_fails_readiness_but_not_liveness_or_the_app,
        );
        $crate::framework_suite!(@state $framework, Broken:
            readiness_fails_with_one_line_per_failing_check_and_no_private_detail,
            non_critical_and_busy_failures_keep_the_pod_ready,
            verbose_lists_every_check,
            exclude_skips_checks_and_unknown_names_are_ignored,
            startup_opens_once_every_critical_check_has_passed_then_stays_open,
            a_check_that_never_returns_fails_within_the_deadline,
        );
        $crate::framework_suite!(@state $framework, Open:
            a_panicking_check_fails_and_the_server_keeps_serving,
        );
    };
    (@app $framework:ty: $($test:ident,)*) => {
        $(
            #[tokio::test]
            async fn $test() {
                $crate::scenarios::$test::<$framework>().await;
            }
        )*
    };
    (@state $framework:ty, $auth:ident: $($test:ident,)*) => {
        $(
            #[tokio::test]
            async fn $test() {
                let state = $crate::fake::state();
                let probes = $crate::trusted(&state);
                let addr = <$framework as $crate::scenarios::Framework>::serve(
                    probes,
                    $crate::scenarios::Auth::$auth,
                )
                .await;
                $crate::scenarios::$test(&state, addr).await;
            }
        )*
    };
}

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
