//! A listener that serves the probes and nothing else (feature
//! `listener`), for teams that keep probes off the public port: no
//! framework needed, the same [`Probes`] handle (and so the same cache,
//! single-flight, startup latch and drain) as the application's.
//!
//! ```no_run
//! use healthz::{details::Details, HealthChecks};
//!
//! #[derive(Clone, HealthChecks)]
//! struct AppState {}
//!
//! # async fn run() -> std::io::Result<()> {
//! let probes = AppState {}.probes();
//! // Only the kubelet and operators reach this port, so it shows details.
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:9090").await?;
//! tokio::spawn(probes.clone().with_details(Details::always()).serve(listener));
//! // ... serve the application on its own port, without the probes layer.
//! # Ok(())
//! # }
//! ```
//!
//! The trade-off, as with any separate management port: a probe answered
//! on this port proves that the process runs and that its dependencies
//! answer, not that the application's own listener accepts connections. A
//! main listener that died, or whose accept queue is full, goes unnoticed
//! by readiness here; the layer on the main port does not have that blind
//! spot.
//!
//! Every other request gets `404 not found`. Each connection must send its
//! request head within [`HEADER_READ_TIMEOUT`], so that idle or slow
//! connections cannot pile up on the port.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::details::Caller;
use crate::probes::{HealthChecks, Probes};

/// How long a connection to the probe listener may take to send a request
/// head.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the listener waits before accepting again after an error that
/// may pass (out of file descriptors, say).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

impl<T> Probes<T>
where
    T: HealthChecks,
{
    /// Serves these probes, and nothing else, on `listener` (HTTP/1.1),
    /// each connection on its own task, until the returned future is
    /// dropped; spawn it. Errors accepting a connection are logged and the
    /// listener goes on. See the [module documentation](crate::listener).
    pub async fn serve(self, listener: TcpListener) {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "probe listener: cannot accept a connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            let probes = self.clone();
            let service = hyper::service::service_fn(move |request| {
                let probes = probes.clone();
                async move { Ok::<_, Infallible>(probes.answer_alone(request, peer).await) }
            });
            tokio::spawn(async move {
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service);
                if let Err(error) = connection.await {
                    tracing::debug!(%error, %peer, "probe listener: connection ended");
                }
            });
        }
    }

    /// The answer of the probe listener to `request`.
    async fn answer_alone(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<Full<Bytes>> {
        let caller = Caller::new(request.method(), request.uri(), request.headers())
            .with_peer(peer)
            .with_extensions(request.extensions());
        let answer = match self.probe_request_from(&caller) {
            Some(probe) => match probe.answer_now() {
                Some(answer) => answer,
                None => probe.answer().await,
            },
            None => not_found(),
        };
        answer.map(Full::new)
    }
}

/// What the probe listener answers to anything but a probe.
fn not_found() -> Response<Bytes> {
    let mut response = Response::new(Bytes::from_static(b"not found"));
    *response.status_mut() = StatusCode::NOT_FOUND;
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
