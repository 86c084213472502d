//! Test support shared by the workspace's tests: a real HTTP server on a
//! loopback port for any tower service, and a minimal HTTP/1 client.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Incoming};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};

/// Bound on every request the helpers send, so that a hung server fails
/// the test instead of hanging it.
pub const REQUEST_BOUND: Duration = Duration::from_secs(10);

/// Serves `service` over HTTP/1 on a free port of 127.0.0.1, in the
/// background, until the test's runtime shuts down.
pub async fn serve<S, B>(service: S) -> SocketAddr
where
    S: tower::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// The probes of `state`, showing the details to every caller: what the
/// behaviour tests, which read them, mount.
pub fn trusted<S>(state: &S) -> healthz::Probes<S>
where
    S: healthz::HealthChecks + Clone,
{
    state
        .probes()
        .with_details(healthz::details::Details::always())
}

/// Serves the [`trusted`] probes of `state` alone (an empty app behind the
/// layer): what most behaviour tests probe.
pub async fn serve_probes<S>(state: &S) -> SocketAddr
where
    S: healthz::HealthChecks + Clone,
{
    serve(axum::Router::new().layer(trusted(state))).await
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    /// A header's value as text, or "" when absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// Sends `request` to `addr` on a new connection and reads the whole
/// response, within [`REQUEST_BOUND`].
pub async fn send<B>(addr: SocketAddr, request: Request<B>) -> Reply
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    try_send(addr, request, REQUEST_BOUND)
        .await
        .expect("the server did not answer within the request bound")
}

/// Sends `request` to `addr` on a new connection and reads the whole
/// response, or `None` if that failed or took longer than `bound`.
pub async fn try_send<B>(addr: SocketAddr, request: Request<B>, bound: Duration) -> Option<Reply>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let exchange = async move {
        let stream = TcpStream::connect(addr).await.ok()?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .ok()?;
        tokio::spawn(connection);
        let response = sender.send_request(request).await.ok()?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.ok()?.to_bytes();
        Some(Reply {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    };
    tokio::time::timeout(bound, exchange).await.ok().flatten()
}

/// A request with an empty body.
pub fn request(method: Method, path: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .expect("valid request")
}

/// `GET path`.
pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    send(addr, request(Method::GET, path)).await
}

pub mod backend;
pub mod chaos;
pub mod fake;
pub mod fault;
pub mod load;
pub mod quickstart;
pub mod scenarios;
pub mod servers;
pub mod verdict;

/// The binary of example `name` (of the root package, `healthz-examples`),
/// built with every feature (the tests run the quickstart on PostgreSQL)
/// and the workspace's feature set, so that after
/// `cargo test --workspace --all-features` this build is already fresh,
/// and a binary left by a plain `cargo run --example` is never used.
pub fn example_binary(name: &str) -> std::path::PathBuf {
    let test_binary = std::env::current_exe().expect("test binary path");
    let binary = test_binary
        .parent()
        .and_then(std::path::Path::parent)
        .expect("target dir")
        .join("examples")
        .join(name);
    let status = std::process::Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "--workspace",
            "--all-features",
            "--example",
            name,
        ])
        .status()
        .expect("run cargo build --example");
    assert!(
        status.success(),
        "cargo build --workspace --all-features --example {name} failed"
    );
    binary
}
