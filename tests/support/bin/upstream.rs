//! An upstream the upstream checks' tests run as a real process, so that it
//! can be stopped, killed and restarted like any server:
//!
//! - `healthz-test-upstream http PORT`: `GET /healthz` answers 200 `ok`,
//!   `GET /work` answers 200 `done`;
//! - `healthz-test-upstream grpc PORT`: a `grpc.health.v1.Health` service
//!   that reports `billing` as SERVING.
//!
//! It listens on 127.0.0.1 only, prints `listening` once it does, and shuts
//! down gracefully on SIGTERM.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(mode), Some(port)) = (args.next(), args.next()) else {
        eprintln!("usage: healthz-test-upstream http|grpc PORT");
        std::process::exit(2);
    };
    let port: u16 = port.parse().expect("PORT is a number");
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .expect("bind the port");
    println!("listening");
    let terminated = async {
        signal(SignalKind::terminate())
            .expect("SIGTERM handler")
            .recv()
            .await;
    };
    match mode.as_str() {
        "http" => {
            let app = axum::Router::new()
                .route("/healthz", axum::routing::get(|| async { "ok" }))
                .route("/work", axum::routing::get(|| async { "done" }));
            axum::serve(listener, app)
                .with_graceful_shutdown(terminated)
                .await
                .expect("serve http");
        }
        "grpc" => {
            let (reporter, service) = tonic_health::server::health_reporter();
            reporter
                .set_service_status("billing", tonic_health::ServingStatus::Serving)
                .await;
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    terminated,
                )
                .await
                .expect("serve grpc");
        }
        other => {
            eprintln!("unknown mode {other:?}: http or grpc");
            std::process::exit(2);
        }
    }
}
