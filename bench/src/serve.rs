//! The servers under load: a bare hyper "OK" server (the baseline), and the
//! same small axum app without and with the probes layer.

use std::convert::Infallible;

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use healthz::HealthChecks;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;

use crate::{flag, BenchState};

pub fn main(args: &[String]) {
    let kind = args.first().cloned().unwrap_or_default();
    let pg: String = flag(args, "--pg", String::new());
    let memcache: String = flag(args, "--memcache", String::new());
    // One worker: the load generator gets the other core.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("listening {}", listener.local_addr().unwrap());
        match kind.as_str() {
            "bare" => serve(listener, tower::service_fn(ok)).await,
            "app" => serve(listener, app()).await,
            "layered" => {
                let state = BenchState::connect(&pg, &memcache);
                serve(listener, app().layer(state.probes())).await;
            }
            other => panic!("unknown server kind {other:?}"),
        }
    });
}

async fn ok(_request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"OK"))))
}

fn app() -> Router {
    Router::new().route("/", get(|| async { "OK" }))
}

async fn serve<S, B>(listener: tokio::net::TcpListener, service: S)
where
    S: tower::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
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
}
