//! The probes as a rocket 0.5 fairing (feature `rocket`).
//!
//! [`Probes`] implements rocket's [`Fairing`], so `.attach(state.probes())`
//! answers `/healthz`, `/readiness`, `/readiness/<name>` and `/startupz`
//! exactly as the tower layer does (same statuses, bodies, headers, query
//! parameters, startup latch and drain), ahead of the app's routes and
//! their request guards.
//!
//! **Attach it first**, before every other fairing: rocket runs the
//! request fairings in the order they were attached, and the probes must
//! be recognised before another fairing rewrites or inspects the request.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use healthz::HealthChecks;
//! use rocket::{get, routes};
//!
//! # #[derive(Clone)]
//! # struct Database;
//! # async fn ping(_db: &Database) -> Result<(), std::io::Error> { Ok(()) }
//! #[derive(Clone, HealthChecks)]
//! #[healthz(timeout = "800ms")]
//! struct AppState {
//!     #[healthz(with = ping)]
//!     db: Database,
//! }
//!
//! #[get("/")]
//! fn index() -> &'static str {
//!     "hello"
//! }
//!
//! #[rocket::main]
//! async fn main() -> Result<(), rocket::Error> {
//!     let state = AppState { db: Database };
//!     let probes = state.probes();
//!     // The probes decide when to stop: rocket's own reaction to Ctrl-C
//!     // and SIGTERM (stop at once) is turned off.
//!     let figment = rocket::Config::figment()
//!         .merge(("shutdown.ctrlc", false))
//!         .merge(("shutdown.signals", Vec::<String>::new()));
//!     let rocket = rocket::custom(figment)
//!         .attach(probes.clone()) // first: it sees every request first
//!         // .attach(your_fairings), ...
//!         .manage(state)
//!         .mount("/", routes![index])
//!         .ignite()
//!         .await?;
//!     // On SIGTERM, readiness turns 503 at once and the app keeps serving
//!     // for 5s, then rocket shuts down gracefully.
//!     let shutdown = rocket.shutdown();
//!     rocket::tokio::spawn(async move {
//!         probes.drain_on_signal(Duration::from_secs(5)).await;
//!         shutdown.notify();
//!     });
//!     rocket.launch().await?;
//!     Ok(())
//! }
//! ```
//!
//! # How it works
//!
//! A rocket fairing cannot answer a request itself, so the fairing does
//! two things:
//!
//! - on ignition it mounts one internal route, `GET` and `HEAD`
//!   [`ANSWER_PATH`], at the lowest rank there is (`isize::MIN`) and with
//!   no guards, so that no route of the app is tried before it;
//! - on each request it asks the crate's own probe routing (the tower
//!   layer's: method, path, query, `Accept`) whether the request is a
//!   probe. If it is, the probe is decided there, kept in the request's
//!   local cache, and the request's URI is rewritten to the internal
//!   route, which answers it with the probe's status, headers and body.
//!
//! Requests that are not probes are left as they are: telling them apart
//! looks at the method and the path only, allocates nothing, and nothing
//! of the request is changed, so the app's routes, guards, bodies and
//! responses are the app's, byte for byte. A request sent to
//! [`ANSWER_PATH`] itself (not rewritten by the fairing) is forwarded,
//! with its body untouched, to the app's routes, as if the internal route
//! were not there.
//!
//! # What it cannot do
//!
//! - **Response fairings still run.** Rocket runs every fairing's
//!   `on_response` on the probe's answer too: rocket's own `Shield`
//!   (attached by default) adds its security headers, and a fairing of
//!   the app that rewrites responses could alter a probe's answer. Rocket
//!   also adds its `Server` header unless the `ident` setting is off, and
//!   writes `Content-Length` itself, from the body (the same value).
//! - **Request fairings attached before it run first.** The one attached
//!   first sees the request first; attach the probes first. Request
//!   fairings attached after it see a probe's rewritten URI, and so does
//!   rocket's log: [`original_uri`] gives the URI the probe arrived with.
//! - **Rocket's own request handling comes first.** A request rocket
//!   cannot parse is answered by rocket before any fairing runs, and
//!   rocket applies its `_method` form field (a `POST` form whose first
//!   field is `_method=get`) before the fairings see the method.
//! - **Guards never run for probes**, by design: the probes are for the
//!   kubelet, which cannot authenticate. Which callers may read the
//!   details (verbose, health+json checks, per-check paths) is the
//!   [`Details`](crate::details::Details) policy's to decide; it sees the
//!   request's headers and peer address.
//! - **One `Probes` per rocket.** The fairing is a singleton: attaching
//!   probes of the same state type again replaces the first. Probes of
//!   two different state types would mount two routes on [`ANSWER_PATH`]
//!   at the same rank, a collision rocket refuses to launch with. That
//!   path is the fairing's: an app route on it is only reached by
//!   requests sent to it directly.
//!
//! A `HEAD` probe is decided like a `GET` and rocket drops the body, as it
//! does for every `HEAD` response, keeping the `GET`'s `Content-Length`.
//! Checks run as tokio tasks on rocket's runtime.

use std::fmt;
use std::io::Cursor;
use std::marker::PhantomData;
use std::sync::{Mutex, PoisonError};

use ::rocket::fairing::{self, Fairing, Info, Kind};
use ::rocket::http::ext::IntoOwned;
use ::rocket::http::uri::Origin;
use ::rocket::http::{Method, Status};
use ::rocket::route::{self, Handler, Route};
use ::rocket::{Build, Data, Request, Response, Rocket};
use bytes::Bytes;

use crate::answer::{self, ProbeRequest};
use crate::probes::{HealthChecks, Probes};

/// Where the fairing mounts its internal route; probe requests are
/// rewritten to this path.
pub const ANSWER_PATH: &str = "/__healthz/answer";

/// Mounts the probes in a rocket with `.attach(probes)`, attached first
/// (see the [module documentation](self)).
#[::rocket::async_trait]
impl<T: HealthChecks> Fairing for Probes<T> {
    fn info(&self) -> Info {
        Info {
            name: "healthz probes",
            kind: Kind::Ignite | Kind::Request | Kind::Singleton,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        let routes = [Method::Get, Method::Head].map(|method| {
            let mut route =
                Route::ranked(isize::MIN, method, ANSWER_PATH, Answer::<T>(PhantomData));
            route.name = Some("healthz probe".into());
            route
        });
        Ok(rocket.mount("/", routes))
    }

    async fn on_request(&self, request: &mut Request<'_>, _data: &mut Data<'_>) {
        let Some(probe) = probe_request(self, request) else {
            return;
        };
        let original = request.uri().clone().into_owned();
        request.local_cache(|| OriginalUri(Some(original)));
        request.local_cache(|| Pending(Mutex::new(Some(probe))));
        // A fresh `Origin` (it caches its parsed segments): no allocation.
        request.set_uri(Origin::const_new(ANSWER_PATH, None));
    }
}

/// The URI a probe request arrived with, before the fairing rewrote it to
/// [`ANSWER_PATH`]; `None` for every other request. For logging, and for
/// the `on_response` of other fairings, which see the rewritten URI.
pub fn original_uri<'r>(request: &'r Request<'_>) -> Option<&'r Origin<'static>> {
    request.local_cache(|| OriginalUri(None)).0.as_ref()
}

/// The request-local record of the URI a probe arrived with.
struct OriginalUri(Option<Origin<'static>>);

/// The request-local probe, decided by the fairing and answered by the
/// internal route (which takes it: it is answered once).
struct Pending<T>(Mutex<Option<ProbeRequest<T>>>);

/// The probe `request` asks for, or `None` for an app request, decided on
/// the method and path alone before anything is allocated.
fn probe_request<T: HealthChecks>(
    probes: &Probes<T>,
    request: &Request<'_>,
) -> Option<ProbeRequest<T>> {
    probes.probe_request_foreign(
        matches!(request.method(), Method::Get | Method::Head),
        request.uri().path().as_str(),
        || http::Uri::try_from(request.uri().to_string()).ok(),
        || {
            let mut headers = http::HeaderMap::with_capacity(request.headers().len());
            for header in request.headers().iter() {
                let name = header.name().as_str().as_bytes();
                answer::append_header(&mut headers, name, header.value().as_bytes());
            }
            headers
        },
        request.remote(),
    )
}

/// The internal route's handler: answers the probe the fairing kept for
/// this request, or forwards a request that was not rewritten.
struct Answer<T>(PhantomData<fn() -> T>);

impl<T> Clone for Answer<T> {
    fn clone(&self) -> Self {
        Answer(PhantomData)
    }
}

impl<T> fmt::Debug for Answer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Answer")
    }
}

#[::rocket::async_trait]
impl<T: HealthChecks> Handler for Answer<T> {
    async fn handle<'r>(&self, request: &'r Request<'_>, data: Data<'r>) -> route::Outcome<'r> {
        let probe = request
            .local_cache(|| Pending::<T>(Mutex::new(None)))
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(probe) = probe else {
            // Not a probe the fairing rewrote: the app's, as if this route
            // were not there.
            return route::Outcome::forward(data, Status::NotFound);
        };
        let answer = match probe.answer_now() {
            Some(answer) => answer,
            None => probe.answer().await,
        };
        route::Outcome::Success(response(answer))
    }
}

/// The rocket response of a probe answer: its status, headers and body as
/// they are (rocket writes `Content-Length` itself, from the body).
fn response<'r>(answer: http::Response<Bytes>) -> Response<'r> {
    let (parts, body) = answer.into_parts();
    let mut response = Response::build();
    response.status(Status::new(parts.status.as_u16()));
    for (name, value) in &parts.headers {
        if name == http::header::CONTENT_LENGTH {
            continue;
        }
        if let Ok(value) = value.to_str() {
            response.raw_header_adjoin(name.as_str().to_owned(), value.to_owned());
        }
    }
    response.sized_body(body.len(), Cursor::new(body));
    response.finalize()
}
