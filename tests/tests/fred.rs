//! The fred checks against a real Redis server, through the shared backend
//! suite: a fred `Pool` (every client of it must answer), under every fault
//! and a stall with the app's own commands running through it.

use std::net::SocketAddr;
use std::time::Duration;

use fred::prelude::{Builder, ClientLike, Config, KeysInterface, Pool, ReconnectPolicy};
use healthz::HealthChecks;
use support::backend::Backend;
use support::servers::{Kind, Server};

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms", cache = "0s")]
struct FredState {
    #[healthz(name = "redis")]
    pool: Pool,
}

/// A fred pool of two clients, as an app builds it: connected in the
/// background with a reconnect policy, its commands and connects bounded.
struct FredPool;

impl Backend for FredPool {
    const KIND: Kind = Kind::Redis;
    const ROUTE: &'static str = "/redis";
    const CHECK: &'static str = "redis";
    const MESSAGES: &'static [&'static str] =
        &["cannot connect to redis.", "timed out after 500ms."];
    const RECOVERY: Duration = Duration::from_secs(20);
    type Client = Pool;
    type State = FredState;

    async fn client(server: &Server, addr: SocketAddr) -> Pool {
        let config = Config::from_url(&server.url_via(addr)).expect("a fred config");
        let pool = Builder::from_config(config)
            .with_connection_config(|connection| {
                connection.connection_timeout = Duration::from_millis(250);
            })
            .with_performance_config(|performance| {
                performance.default_command_timeout = Duration::from_millis(500);
            })
            .set_policy(ReconnectPolicy::new_constant(0, 100))
            .build_pool(2)
            .expect("a fred pool");
        // Connected in the background: the app starts while Redis is down.
        drop(pool.connect());
        pool
    }

    fn state(pool: &Pool) -> FredState {
        FredState { pool: pool.clone() }
    }

    async fn request(pool: Pool) -> bool {
        pool.get::<Option<String>, _>("k").await.is_ok()
    }

    async fn round_trip(pool: &Pool) {
        let round_trip = async {
            let () = pool.set("k", "v", None, None, false).await.unwrap();
            let value: String = pool.get("k").await.unwrap();
            assert_eq!(value, "v");
        };
        tokio::time::timeout(Duration::from_secs(10), round_trip)
            .await
            .expect("the app's Redis round trip hung after recovery");
    }
}

support::backend_suite!(fred_pool: FredPool);
