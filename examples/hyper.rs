//! Probes in front of a plain hyper 1 service, without a web framework.
//!
//! ```text
//! cargo run --example hyper
//! curl -i http://127.0.0.1:8081/readiness
//! ```
//!
//! The layer is a tower `Layer`, so it wraps any tower `Service`; hyper-util
//! adapts the result to hyper's own `Service` trait.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use healthz::{Check, CheckError, HealthChecks};
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tower::ServiceBuilder;

/// A dependency of this toy service: a TCP endpoint that must accept.
#[derive(Clone)]
struct Upstream {
    addr: String,
}

impl Check for Upstream {
    async fn check(&self) -> Result<(), CheckError> {
        tokio::net::TcpStream::connect(&self.addr)
            .await
            .map(drop)
            .map_err(|error| CheckError::unavailable("cannot reach upstream.").with_detail(error))
    }
}

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms")]
struct State {
    #[healthz(name = "upstream")]
    upstream: Upstream,
}

async fn app(_request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"hello from hyper\n",
    ))))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:8081".to_owned());
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    let addr = listener.local_addr()?;
    // The service checks that it can reach itself: ready while it listens.
    let state = State {
        upstream: Upstream {
            addr: addr.to_string(),
        },
    };
    let probes = state.probes();
    let service = ServiceBuilder::new()
        .layer(probes.clone())
        .service(tower::service_fn(app));
    println!("listening on http://{addr} (try /healthz, /readiness?verbose, /)");

    let shutdown = probes.drain_on_signal(Duration::from_secs(2));
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            if let Err(error) = connection.await {
                eprintln!("connection error: {error}");
            }
        });
    }
    Ok(())
}
