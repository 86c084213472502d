//! The probes as a poem 3 middleware (feature `poem`).
//!
//! [`Probes`] implements poem's [`Middleware`], so `.with(state.probes())`
//! answers `/healthz`, `/readiness`, `/readiness/<name>` and `/startupz`
//! exactly as the tower layer does (same statuses, bodies, headers, query
//! parameters, startup latch and drain), ahead of every other middleware
//! and of the routing.
//!
//! Add it with the **last** `.with(...)` of the endpoint you serve: poem's
//! `ep.with(a).with(b)` wraps `a` in `b`, so the last one sees a request
//! first, before auth, sessions or rate limits can turn a probe into an
//! unrelated error. Add it to the whole app, not to a nested route: a
//! nested route only sees requests its parent's routing sent it.
//!
//! ```no_run
//! use healthz::HealthChecks;
//! use poem::{get, handler, EndpointExt, Route};
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
//! #[handler]
//! fn index() -> &'static str {
//!     "hello"
//! }
//!
//! let state = AppState { db: Database };
//! let app = Route::new()
//!     .at("/", get(index))
//!     // .with(auth), .with(session), ...
//!     .with(state.probes()); // last = outermost = runs first
//! # let _ = app;
//! ```
//!
//! Every other request goes to the wrapped endpoint untouched, and its
//! answer (or its error, for poem to render) comes back as it is.

use std::fmt;

use bytes::Bytes;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};

use crate::answer::ProbeRequest;
use crate::details::Caller;
use crate::probes::{HealthChecks, Probes};

/// Mounts the probes on a poem endpoint with `.with(probes)`, as its last
/// `.with` (see the [module documentation](self)).
impl<E: Endpoint, T: HealthChecks> Middleware<E> for Probes<T> {
    type Output = ProbeEndpoint<E, T>;

    fn transform(&self, inner: E) -> ProbeEndpoint<E, T> {
        ProbeEndpoint {
            inner,
            probes: self.clone(),
        }
    }
}

/// The endpoint made by `.with(probes)`: answers probe requests itself and
/// passes every other request to `E`.
pub struct ProbeEndpoint<E, T> {
    inner: E,
    probes: Probes<T>,
}

impl<E: fmt::Debug, T> fmt::Debug for ProbeEndpoint<E, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProbeEndpoint")
            .field("inner", &self.inner)
            .field("probes", &self.probes)
            .finish()
    }
}

impl<E: Endpoint, T: HealthChecks> Endpoint for ProbeEndpoint<E, T> {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        let Some(probe) = self.probe_request(&request) else {
            return self
                .inner
                .call(request)
                .await
                .map(IntoResponse::into_response);
        };
        let answer = match probe.answer_now() {
            Some(answer) => answer,
            None => probe.answer().await,
        };
        Ok(response(answer))
    }
}

impl<E, T: HealthChecks> ProbeEndpoint<E, T> {
    /// The probe `request` asks for, or `None` for an app request, decided
    /// on the method and path alone before anything is allocated.
    fn probe_request(&self, request: &Request) -> Option<ProbeRequest<T>> {
        let method = request.method();
        if method != http::Method::GET && method != http::Method::HEAD {
            return None;
        }
        if !self.probes.config().is_probe_path(request.uri().path()) {
            return None;
        }
        let mut caller = Caller::new(method, request.uri(), request.headers());
        if let Some(peer) = request.remote_addr().as_socket_addr() {
            caller = caller.with_peer(*peer);
        }
        self.probes.probe_request_from(&caller)
    }
}

/// The poem response of a probe answer: its status, headers and body as
/// they are.
fn response(answer: http::Response<Bytes>) -> Response {
    let (parts, body) = answer.into_parts();
    let mut response = Response::builder().status(parts.status).body(body);
    *response.headers_mut() = parts.headers;
    response
}
