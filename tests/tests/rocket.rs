//! rocket 0.5 behind the probes' fairing (feature `rocket`): `.attach(probes)`
//! as the first fairing. The behaviour every adapter shares
//! ([`support::framework_suite!`]), over real HTTP through rocket's own
//! server, twice: once with the app's auth as a request guard on each of
//! its routes, once as a catch-all route ranked ahead of every app route
//! (rocket's way to put something in front of every route without a
//! fairing). Either rejects every request of the app with 401 when
//! broken; the probes are answered anyway.

use std::collections::HashSet;
use std::io::Cursor;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Mutex;

use healthz::{HealthChecks, Probes};
use http::{Method as HttpMethod, StatusCode};
use rocket::config::{LogLevel, Shutdown};
use rocket::data::{Data, ToByteUnit};
use rocket::fairing::AdHoc;
use rocket::http::{Method, Status};
use rocket::request::{self, FromRequest, Request};
use rocket::response::{self, Responder, Response};
use rocket::route::{self, Handler, Route};
use rocket::{catch, catchers, get, post, routes, Build, Rocket};
use support::fake::state;
use support::scenarios::{Auth, Framework};
use support::{get as http_get, request, send};

/// The app's auth as a request guard: what each of its routes asks for.
struct Authorized;

/// Whether the [`Authorized`] guard lets requests through (managed state).
struct Guard(Auth);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Authorized {
    type Error = ();

    async fn from_request(request: &'r Request<'_>) -> request::Outcome<Self, ()> {
        match request.rocket().state::<Guard>() {
            Some(Guard(Auth::Open)) => request::Outcome::Success(Authorized),
            _ => request::Outcome::Error((Status::Unauthorized, ())),
        }
    }
}

#[catch(401)]
fn unauthorized() -> &'static str {
    "unauthorized"
}

#[get("/")]
fn index(_auth: Authorized) -> &'static str {
    "app"
}

#[post("/readiness")]
fn post_readiness(_auth: Authorized) -> &'static str {
    "app got the POST"
}

#[get("/healthz/extra")]
fn extra(_auth: Authorized) -> &'static str {
    "app's own path"
}

/// The request body sent back, with a status and a header of the app's
/// own.
struct Echo(Vec<u8>);

impl<'r> Responder<'r, 'static> for Echo {
    fn respond_to(self, _request: &'r Request<'_>) -> response::Result<'static> {
        Response::build()
            .status(Status::Created)
            .raw_header("x-app", "echo")
            .sized_body(self.0.len(), Cursor::new(self.0))
            .ok()
    }
}

#[post("/echo", data = "<body>")]
async fn echo(_auth: Authorized, body: Data<'_>) -> Result<Echo, Status> {
    let body = body
        .open(16.mebibytes())
        .into_bytes()
        .await
        .map_err(|_| Status::BadRequest)?;
    if !body.is_complete() {
        return Err(Status::PayloadTooLarge);
    }
    Ok(Echo(body.into_inner()))
}

/// The app's auth as a catch-all route for every method, ranked ahead of
/// the app's routes: forwards to them when open, answers 401 when broken.
#[derive(Clone)]
struct Gatekeeper(Auth);

#[rocket::async_trait]
impl Handler for Gatekeeper {
    async fn handle<'r>(&self, request: &'r Request<'_>, data: Data<'r>) -> route::Outcome<'r> {
        match self.0 {
            Auth::Open => route::Outcome::forward(data, Status::NotFound),
            Auth::Broken => route::Outcome::from(request, (Status::Unauthorized, "unauthorized")),
        }
    }
}

/// The app: its routes behind the [`Authorized`] guard (set by `guard`),
/// and, with `gatekeeper`, the [`Gatekeeper`] routes ahead of them; the
/// probes attached first.
fn app<T: HealthChecks>(probes: Probes<T>, guard: Auth, gatekeeper: Option<Auth>) -> Rocket<Build> {
    let mut app = rocket::custom(config())
        .attach(probes)
        .manage(Guard(guard))
        .mount("/", routes![index, post_readiness, extra, echo])
        .register("/", catchers![unauthorized]);
    if let Some(auth) = gatekeeper {
        let methods = [
            Method::Get,
            Method::Head,
            Method::Post,
            Method::Put,
            Method::Delete,
            Method::Options,
            Method::Patch,
        ];
        // The app's routes here have the default ranks, -12 to -1.
        let gatekeeper =
            methods.map(|method| Route::ranked(-100, method, "/<_..>", Gatekeeper(auth)));
        app = app.mount("/", gatekeeper);
    }
    app
}

/// Rocket on 127.0.0.1, a port the system picks, quiet, and leaving the
/// test's signals alone.
fn config() -> rocket::Config {
    rocket::Config {
        address: Ipv4Addr::LOCALHOST.into(),
        port: 0,
        log_level: LogLevel::Off,
        cli_colors: false,
        shutdown: Shutdown {
            ctrlc: false,
            #[cfg(unix)]
            signals: HashSet::new(),
            ..Shutdown::default()
        },
        ..rocket::Config::debug_default()
    }
}

/// Launches `app` on the test's runtime, and returns the address it
/// listens on once it has lifted off (rocket writes the port it bound
/// into its config before it runs the liftoff fairings).
async fn launch(app: Rocket<Build>) -> SocketAddr {
    let (bound, address) = tokio::sync::oneshot::channel();
    let bound = Mutex::new(Some(bound));
    let app = app.attach(AdHoc::on_liftoff("bound address", move |rocket| {
        Box::pin(async move {
            let config = rocket.config();
            if let Some(bound) = bound.lock().unwrap().take() {
                let _ = bound.send(SocketAddr::new(config.address, config.port));
            }
        })
    }));
    let mut server = tokio::spawn(app.launch());
    tokio::select! {
        address = address => address.expect("rocket lifted off"),
        stopped = &mut server => panic!("rocket stopped before its liftoff: {stopped:?}"),
    }
}

/// The app of [`Framework`] with its auth as a request guard.
struct RocketGuard;

impl Framework for RocketGuard {
    async fn serve<T: HealthChecks>(probes: Probes<T>, auth: Auth) -> SocketAddr {
        launch(app(probes, auth, None)).await
    }
}

support::framework_suite!(RocketGuard);

/// The app of [`Framework`] with its auth as a catch-all route ranked
/// ahead of every app route.
struct RocketCatchAll;

impl Framework for RocketCatchAll {
    async fn serve<T: HealthChecks>(probes: Probes<T>, auth: Auth) -> SocketAddr {
        launch(app(probes, Auth::Open, Some(auth))).await
    }
}

mod catch_all {
    use super::RocketCatchAll;

    support::framework_suite!(RocketCatchAll);
}

#[tokio::test]
async fn the_internal_route_is_the_apps_when_not_reached_through_a_probe() {
    let state = state();
    let addr = launch(app(support::trusted(&state), Auth::Open, None)).await;
    // Nothing of the app is there: rocket's own 404, not a probe answer.
    for method in [HttpMethod::GET, HttpMethod::HEAD, HttpMethod::POST] {
        let reply = send(addr, request(method.clone(), healthz::rocket::ANSWER_PATH)).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method}");
        assert_eq!(reply.header("cache-control"), "", "{method}");
    }
    // Behind the broken gatekeeper, it is the gatekeeper's, like any other
    // path of the app.
    let addr = launch(app(
        support::trusted(&state),
        Auth::Open,
        Some(Auth::Broken),
    ))
    .await;
    let reply = http_get(addr, healthz::rocket::ANSWER_PATH).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    assert_eq!(state.db.calls(), 0);
}

#[tokio::test]
async fn json_and_per_check_answers_are_the_tower_layers() {
    let state = state();
    state.sessions.set(support::fake::Mode::Fail);
    let addr = launch(app(support::trusted(&state), Auth::Broken, None)).await;
    let reply = http_get(addr, "/readiness?format=json").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.header("content-type"), "application/health+json");
    assert_eq!(reply.header("cache-control"), "no-store");
    assert!(
        reply.body.starts_with(r#"{"status":"fail""#),
        "{}",
        reply.body
    );
    let mut accept = request(HttpMethod::GET, "/readiness");
    accept.headers_mut().insert(
        "accept",
        "text/html, application/health+json;q=0.9".parse().unwrap(),
    );
    assert_eq!(
        send(addr, accept).await.header("content-type"),
        "application/health+json"
    );
    let reply = http_get(addr, "/readiness/cache").await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "cache: cannot connect to database."
        )
    );
    let reply = http_get(addr, "/readiness/db").await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "OK"));
}

#[tokio::test]
async fn fairings_after_it_see_the_rewritten_uri_and_original_uri_gives_the_one_sent() {
    let state = state();
    let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let app = app(support::trusted(&state), Auth::Open, None).attach(AdHoc::on_response(
        "records URIs",
        move |request, _response| {
            let record = record.clone();
            Box::pin(async move {
                let original = healthz::rocket::original_uri(request).map(ToString::to_string);
                record
                    .lock()
                    .unwrap()
                    .push((request.uri().to_string(), original));
            })
        },
    ));
    let addr = launch(app).await;
    assert_eq!(
        http_get(addr, "/readiness?verbose").await.status,
        StatusCode::OK
    );
    assert_eq!(http_get(addr, "/").await.body, "app");
    let answer = healthz::rocket::ANSWER_PATH.to_owned();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (answer, Some("/readiness?verbose".to_owned())),
            ("/".to_owned(), None),
        ]
    );
}

#[derive(Clone, HealthChecks)]
struct OtherState {
    #[healthz]
    db: support::fake::Fake,
}

#[tokio::test]
async fn probes_of_two_state_types_are_refused_at_ignition() {
    let state = state();
    let other = OtherState {
        db: support::fake::Fake::new(support::fake::Mode::Pass),
    };
    let ignited = rocket::custom(config())
        .attach(state.probes())
        .attach(other.probes())
        .ignite()
        .await;
    let error = ignited.expect_err("two routes on the internal path at one rank");
    assert!(
        matches!(error.kind(), rocket::error::ErrorKind::Collisions(_)),
        "{error:?}"
    );
    // Attached twice, probes of one state type are one fairing.
    rocket::custom(config())
        .attach(state.probes())
        .attach(state.probes())
        .ignite()
        .await
        .expect("the second replaces the first");
}
