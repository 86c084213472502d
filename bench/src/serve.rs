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
use support::serve;

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
        let addr = match kind.as_str() {
            "bare" => serve(tower::service_fn(ok)).await,
            "app" => serve(app()).await,
            "layered" => {
                let state = BenchState::connect(&pg, &memcache);
                serve(app().layer(state.probes())).await
            }
            other => panic!("unknown server kind {other:?}"),
        };
        println!("listening {addr}");
        std::future::pending::<()>().await;
    });
}

async fn ok(_request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"OK"))))
}

fn app() -> Router {
    Router::new().route("/", get(|| async { "OK" }))
}
