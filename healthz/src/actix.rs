//! The probes as an actix-web 4 middleware (feature `actix`).
//!
//! [`Probes`] implements actix's [`Transform`], so `.wrap(state.probes())`
//! answers `/healthz`, `/readiness`, `/readiness/<name>` and `/startupz`
//! exactly as the tower layer does (same statuses, bodies, headers, query
//! parameters, startup latch and drain), ahead of every other middleware.
//!
//! Register it with the **last** `.wrap(...)` of the `App`: actix runs the
//! last registered middleware first, so that one sees a probe before auth,
//! sessions or rate limits can turn it into an unrelated error. Wrap the
//! `App`, not a `Scope` or `Resource`: those only see requests after the
//! app's own middleware and routing.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use actix_web::{middleware, web, App, HttpServer};
//! use healthz::HealthChecks;
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
//! async fn index() -> &'static str {
//!     "hello"
//! }
//!
//! fn main() -> std::io::Result<()> {
//!     actix_web::rt::System::new().block_on(async {
//!         let state = AppState { db: Database };
//!         let probes = state.probes();
//!         let app_probes = probes.clone();
//!         let server = HttpServer::new(move || {
//!             App::new()
//!                 .app_data(web::Data::new(state.clone()))
//!                 .route("/", web::get().to(index))
//!                 .wrap(middleware::Logger::default()) // your middleware, auth...
//!                 .wrap(app_probes.clone()) // last wrap = outermost = runs first
//!         })
//!         // The probes decide when to stop: on SIGTERM, readiness turns
//!         // 503 at once and the server keeps serving for 5s, then stops
//!         // gracefully.
//!         .disable_signals()
//!         .bind(("0.0.0.0", 8080))?
//!         .run();
//!         let handle = server.handle();
//!         actix_web::rt::spawn(async move {
//!             probes.drain_on_signal(Duration::from_secs(5)).await;
//!             handle.stop(true).await;
//!         });
//!         server.await
//!     })
//! }
//! ```
//!
//! Requests that are not probes reach the inner service untouched, and its
//! response comes back as it was: the body type becomes
//! [`EitherBody<B>`](EitherBody), whose left side is the app's own body,
//! streamed unchanged. Telling a probe from an app request looks only at
//! the method and the path, without allocating; only probes are converted
//! to the `http` 1 types the rest of this crate speaks.
//!
//! Two actix specifics:
//!
//! - `poll_ready` is always ready. actix-server asks it before accepting a
//!   connection, and the kubelet opens a new connection for every probe, so
//!   an inner service that is not ready must not stop probes from getting
//!   in. App requests that arrive while it is not ready wait for it in
//!   their response future instead, so the app is still not called before
//!   it has said it is ready.
//! - A `HEAD` probe is answered like a `GET` and actix drops the body, as it
//!   does for every `HEAD` response: actix computes `Content-Length` from
//!   the body, so only the full body gives the `HEAD` answer the `GET`'s
//!   headers.
//!
//! Checks run as tokio tasks on the actix worker that received the probe
//! (every actix worker is a tokio runtime); concurrent probes on different
//! workers still share one run of each check.

use std::cell::Cell;
use std::fmt;
use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_web::body::{BoxBody, EitherBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use bytes::Bytes;

use crate::answer::{self, ProbeRequest};
use crate::probes::{HealthChecks, Probes};

/// Mounts the probes in an actix-web `App` with `.wrap(probes)`, as its
/// last `.wrap` (see the [module documentation](self)).
impl<S, B, T> Transform<S, ServiceRequest> for Probes<T>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>>,
    T: HealthChecks,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = S::Error;
    type Transform = ProbeMiddleware<S, T>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(ProbeMiddleware {
            inner: Rc::new(Inner {
                service,
                ready: Cell::new(false),
            }),
            probes: self.clone(),
        }))
    }
}

/// The service made by `.wrap(probes)`: answers probe requests itself and
/// passes every other request to `S`.
pub struct ProbeMiddleware<S, T> {
    inner: Rc<Inner<S>>,
    probes: Probes<T>,
}

/// The wrapped service, shared with the response futures of requests that
/// wait for it to become ready.
struct Inner<S> {
    service: S,
    /// What `service` answered to the last `poll_ready`. actix calls
    /// `poll_ready` once per accepted connection, not once per request, so
    /// this is a hint that lets most requests skip the wait, not a permit.
    ready: Cell<bool>,
}

impl<S: fmt::Debug, T> fmt::Debug for ProbeMiddleware<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProbeMiddleware")
            .field("inner", &self.inner.service)
            .field("probes", &self.probes)
            .finish()
    }
}

impl<S, B, T> Service<ServiceRequest> for ProbeMiddleware<S, T>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>>,
    T: HealthChecks,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = S::Error;
    type Future = ResponseFuture<S>;

    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self.inner.service.poll_ready(cx) {
            Poll::Ready(Ok(())) => self.inner.ready.set(true),
            Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
            // Probes need not wait for the app; app requests wait for it
            // in their response future.
            Poll::Pending => self.inner.ready.set(false),
        }
        Poll::Ready(Ok(()))
    }

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let kind = match self.probe_request(&request) {
            Some(probe) => match probe.answer_now() {
                Some(response) => Kind::Answered {
                    response: Some(service_response(request.into_parts().0, response)),
                },
                None => Kind::Probe {
                    request: Some(request.into_parts().0),
                    answer: Box::pin(probe.answer()),
                },
            },
            None if self.inner.ready.get() => Kind::Inner {
                future: self.inner.service.call(request),
            },
            None => Kind::Waiting {
                inner: Rc::clone(&self.inner),
                request: Some(request),
            },
        };
        ResponseFuture { kind }
    }
}

impl<S, T> ProbeMiddleware<S, T>
where
    T: HealthChecks,
{
    /// The probe `request` asks for, or `None` for an app request, decided
    /// on the method and path alone before anything is allocated.
    fn probe_request(&self, request: &ServiceRequest) -> Option<ProbeRequest<T>> {
        let method = request.method();
        self.probes.probe_request_foreign(
            method == Method::GET || method == Method::HEAD,
            request.path(),
            || http::Uri::try_from(request.uri().path_and_query()?.as_str()).ok(),
            || {
                let mut headers = http::HeaderMap::with_capacity(request.headers().len());
                for (name, value) in request.headers() {
                    let name = name.as_str().as_bytes();
                    answer::append_header(&mut headers, name, value.as_bytes());
                }
                headers
            },
            request.peer_addr(),
        )
    }
}

/// Builds the actix response to `request` from a probe answer.
fn service_response(request: HttpRequest, answer: http::Response<Bytes>) -> ServiceResponse {
    let (parts, body) = answer.into_parts();
    // Every `http` 1 status code is in 100..=999, which `http` 0.2 accepts.
    let status =
        StatusCode::from_u16(parts.status.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::with_body(status, BoxBody::new(body));
    for (name, value) in &parts.headers {
        // actix writes its own from the body's length, and would ignore
        // this one anyway.
        if name == http::header::CONTENT_LENGTH {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    ServiceResponse::new(request, response)
}

type AnswerFuture = Pin<Box<dyn Future<Output = http::Response<Bytes>>>>;

pin_project_lite::pin_project! {
    /// The response future of [`ProbeMiddleware`].
    pub struct ResponseFuture<S>
    where
        S: Service<ServiceRequest>,
    {
        #[pin]
        kind: Kind<S>,
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<S>
    where
        S: Service<ServiceRequest>,
    {
        Inner { #[pin] future: S::Future },
        Waiting { inner: Rc<Inner<S>>, request: Option<ServiceRequest> },
        Answered { response: Option<ServiceResponse> },
        Probe { request: Option<HttpRequest>, answer: AnswerFuture },
    }
}

impl<S, B> Future for ResponseFuture<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>>,
{
    type Output = Result<ServiceResponse<EitherBody<B>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut kind = self.project().kind;
        loop {
            match kind.as_mut().project() {
                KindProj::Inner { future } => {
                    let response = std::task::ready!(future.poll(cx))?;
                    return Poll::Ready(Ok(response.map_into_left_body()));
                }
                KindProj::Waiting { inner, request } => {
                    std::task::ready!(inner.service.poll_ready(cx))?;
                    inner.ready.set(true);
                    let request = request.take().expect("polled after completion");
                    let future = inner.service.call(request);
                    kind.set(Kind::Inner { future });
                }
                KindProj::Answered { response } => {
                    let response = response.take().expect("polled after completion");
                    return Poll::Ready(Ok(response.map_into_right_body()));
                }
                KindProj::Probe { request, answer } => {
                    let answer = std::task::ready!(answer.as_mut().poll(cx));
                    let request = request.take().expect("polled after completion");
                    let response = service_response(request, answer);
                    return Poll::Ready(Ok(response.map_into_right_body()));
                }
            }
        }
    }
}
