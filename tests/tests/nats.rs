//! `async_nats::Client` against a real nats-server, through the fault
//! proxy and under the app's own load (every request publishes and
//! flushes through the same client): the shared backend suite.

use std::net::SocketAddr;
use std::time::Duration;

use healthz::HealthChecks;
use support::backend::Backend;
use support::servers::{Kind, Server};

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms", cache = "0s")]
struct State {
    #[healthz]
    events: async_nats::Client,
}

/// `/publish` publishes and flushes through the app's client.
struct Nats;

impl Backend for Nats {
    const KIND: Kind = Kind::Nats;
    const ROUTE: &'static str = "/publish";
    const CHECK: &'static str = "events";
    const MESSAGES: &'static [&'static str] =
        &["cannot connect to nats.", "timed out after 500ms."];
    type Client = async_nats::Client;
    type State = State;

    /// As an app connects: it starts while the server is down, and its
    /// requests wait for a reconnect less long than the app's own bound
    /// (the patience readiness holds a failure for).
    async fn client(_: &Server, addr: SocketAddr) -> async_nats::Client {
        async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(1))
            .request_timeout(Some(Duration::from_millis(1_500)))
            .retry_on_initial_connect()
            .connect(format!("nats://{addr}"))
            .await
            .expect("client")
    }

    fn state(client: &async_nats::Client) -> State {
        State {
            events: client.clone(),
        }
    }

    fn patience(client: &async_nats::Client) -> Option<Duration> {
        healthz::Check::patience(client)
    }

    async fn request(client: async_nats::Client) -> bool {
        client.publish("orders", "created".into()).await.is_ok() && client.flush().await.is_ok()
    }
}

support::backend_suite!(nats: Nats);
