//! `async_nats::Client` against a real nats-server, through the fault
//! proxy and under the app's own load (every request publishes and
//! flushes through the same client).

use std::time::Duration;

use healthz::HealthChecks;
use support::fault::FaultProxy;
use support::load::{every_fault_under_load, AppLoad};
use support::servers::{Kind, Server};
use support::verdict::assert_unready;
use support::{get, serve};

const DEADLINE: Duration = Duration::from_millis(500);
const MESSAGES: &[&str] = &["cannot connect to nats.", "timed out after 500ms."];
const RECOVERY: Duration = Duration::from_secs(30);

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms", cache = "0s")]
struct State {
    #[healthz]
    events: async_nats::Client,
}

fn app(client: async_nats::Client, probes: healthz::Probes<State>) -> axum::Router {
    async fn publish(
        axum::extract::State(client): axum::extract::State<async_nats::Client>,
    ) -> http::StatusCode {
        let sent = async {
            client.publish("orders", "created".into()).await.ok()?;
            client.flush().await.ok()
        };
        match tokio::time::timeout(Duration::from_secs(2), sent).await {
            Ok(Some(())) => http::StatusCode::OK,
            _ => http::StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    axum::Router::new()
        .route("/publish", axum::routing::get(publish))
        .with_state(client)
        .layer(probes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_every_fault_under_the_apps_own_load() {
    let mut server = Server::start(Kind::Nats);
    let proxy = FaultProxy::start(server.addr());
    // As an app connects: it starts while the server is down.
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(1))
        .retry_on_initial_connect()
        .connect(format!("nats://{}", proxy.addr()))
        .await
        .expect("client");
    let addr = serve(app(client.clone(), State { events: client }.probes())).await;
    let secrets = vec![server.port().to_string(), proxy.addr().port().to_string()];
    let load = AppLoad::once_ready(addr, "/publish", 4, RECOVERY).await;

    every_fault_under_load(&mut server, &proxy, addr, &load, RECOVERY, || {
        assert_unready(addr, "events", MESSAGES, DEADLINE, &secrets)
    })
    .await;
    load.stop().await;
    assert_eq!(get(addr, "/readiness").await.status, http::StatusCode::OK);
}
