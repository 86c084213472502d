//! The Redis checks against a real Redis server, through a fault proxy: a
//! `ConnectionManager` beside a deadpool-redis pool (the shared backend
//! suite, and what each does on a half-open socket), the pool saturated,
//! and a `MultiplexedConnection`.

use std::net::SocketAddr;
use std::time::Duration;

use healthz::HealthChecks;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use support::backend::{app, secrets, Backend};
use support::fault::{Fault, FaultProxy};
use support::servers::{Kind, Server};
use support::verdict::{assert_recovers, assert_unready};
use support::{get, serve};

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms", cache = "0s")]
struct RedisState {
    #[healthz(name = "redis")]
    manager: ConnectionManager,
    #[healthz(name = "redis-pool")]
    pool: deadpool_redis::Pool,
}

const DEADLINE: Duration = Duration::from_millis(500);
const MESSAGES: &[&str] = &["cannot connect to redis.", "timed out after 500ms."];
const RECOVERY: Duration = Duration::from_secs(20);

fn manager(url: &str) -> ConnectionManager {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(250)))
        .set_response_timeout(Some(Duration::from_millis(250)))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(200));
    ConnectionManager::new_lazy_with_config(redis::Client::open(url).unwrap(), config)
        .expect("a lazy connection manager")
}

fn pool(url: &str, max_size: usize) -> deadpool_redis::Pool {
    let mut config = deadpool_redis::Config::from_url(url);
    config.pool = Some(deadpool_redis::PoolConfig::new(max_size));
    config
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .expect("a deadpool-redis pool")
}

/// A `ConnectionManager` and a deadpool-redis pool side by side: `/redis`
/// runs a command through the pool and one through the manager.
struct RedisPair;

impl Backend for RedisPair {
    const KIND: Kind = Kind::Redis;
    const ROUTE: &'static str = "/redis";
    const CHECK: &'static str = "redis";
    const MESSAGES: &'static [&'static str] = MESSAGES;
    const RECOVERY: Duration = RECOVERY;
    const APP_CLIENTS: usize = 8;
    type Client = RedisState;
    type State = RedisState;

    async fn client(server: &Server, addr: SocketAddr) -> RedisState {
        let url = server.url_via(addr);
        RedisState {
            manager: manager(&url),
            pool: pool(&url, 4),
        }
    }

    fn state(state: &RedisState) -> RedisState {
        state.clone()
    }

    async fn request(state: RedisState) -> bool {
        let commands = async {
            let mut connection = state.pool.get().await.ok()?;
            let _: Option<String> = redis::cmd("GET")
                .arg("k")
                .query_async(&mut connection)
                .await
                .ok()?;
            let mut manager = state.manager.clone();
            let _: Option<String> = redis::cmd("GET")
                .arg("k")
                .query_async(&mut manager)
                .await
                .ok()?;
            Some(())
        };
        commands.await.is_some()
    }

    /// The app's own use of Redis, which must work again after recovery.
    async fn round_trip(state: &RedisState) {
        let round_trip = async {
            let mut connection = state
                .pool
                .get()
                .await
                .expect("a pooled connection after recovery");
            let _: () = redis::cmd("SET")
                .arg("k")
                .arg("v")
                .query_async(&mut connection)
                .await
                .unwrap();
            let mut manager = state.manager.clone();
            let value: String = redis::cmd("GET")
                .arg("k")
                .query_async(&mut manager)
                .await
                .unwrap();
            assert_eq!(value, "v");
        };
        tokio::time::timeout(Duration::from_secs(10), round_trip)
            .await
            .expect("the app's Redis round trip hung after recovery");
    }

    /// Readiness names both checks while Redis is unreachable.
    async fn assert_unready(addr: SocketAddr, secrets: &[String]) {
        let reply = assert_unready(addr, "redis", MESSAGES, DEADLINE, secrets).await;
        assert!(
            reply
                .body
                .lines()
                .any(|line| line.starts_with("redis-pool: ")),
            "{:?}",
            reply.body
        );
    }
}

support::backend_suite!(redis_pair: RedisPair, campaign);

/// The pool drops the black-holed connection its check used and opens a
/// new one. The manager cannot: redis-rs reconnects on I/O errors, not on
/// response timeouts, so on a half-open socket the app's own commands fail
/// as well, and readiness says so rather than pretend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_on_a_half_open_socket_fails_until_the_socket_errors() {
    let server = Server::start(Kind::Redis);
    let proxy = FaultProxy::start(server.addr());
    let state = RedisPair::client(&server, proxy.addr()).await;
    let addr = serve(app::<RedisPair, _>(state.clone(), support::trusted(&state))).await;
    let secrets = secrets::<RedisPair>(&server, Some(&proxy));
    assert_recovers(addr, RECOVERY).await;

    proxy.set(Fault::Silent);
    RedisPair::assert_unready(addr, &secrets).await;
    proxy.set(Fault::Pass);
    let started = std::time::Instant::now();
    let verbose = loop {
        let verbose = get(addr, "/readiness?verbose").await;
        if verbose.body.contains("[+]redis-pool ok") {
            break verbose;
        }
        assert!(started.elapsed() < RECOVERY, "{}", verbose.body);
    };
    assert!(
        verbose.body.starts_with("[-]redis failed: "),
        "{}",
        verbose.body
    );
    let mut manager = state.manager.clone();
    let app = redis::cmd("PING").query_async::<String>(&mut manager).await;
    assert!(
        app.is_err(),
        "the app's manager works while the check says it does not"
    );
    // Once the dead socket errors out (TCP keepalive or retransmission
    // limits, in production), the manager reconnects and readiness
    // recovers without a restart.
    proxy.reset_black_holes();
    assert_recovers(addr, RECOVERY).await;
    RedisPair::round_trip(&state).await;
}

/// The pool's own saturation, beside a manager that stays fine: only the
/// pool's line is degraded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_pool_is_busy_not_broken() {
    let server = Server::start(Kind::Redis);
    let url = server.url();
    let state = RedisState {
        manager: manager(&url),
        pool: pool(&url, 1),
    };
    let addr = support::serve_probes(&state).await;
    assert_recovers(addr, RECOVERY).await;

    let held = state.pool.get().await.unwrap();
    let reply = get(addr, "/readiness?verbose").await;
    assert_eq!(reply.status, http::StatusCode::OK);
    assert_eq!(
        reply.body,
        "[+]redis ok\n[~]redis-pool degraded: busy: every connection is in use\nreadiness check passed"
    );
    drop(held);
    let reply = get(addr, "/readiness?verbose").await;
    assert_eq!(
        reply.body,
        "[+]redis ok\n[+]redis-pool ok\nreadiness check passed"
    );
}

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms", cache = "0s")]
struct MultiplexedState {
    #[healthz(name = "redis")]
    connection: MultiplexedConnection,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multiplexed_connection_passes_then_fails_when_its_server_dies() {
    let mut server = Server::start(Kind::Redis);
    let client = redis::Client::open(server.url()).unwrap();
    let connection = client.get_multiplexed_async_connection().await.unwrap();
    let addr = serve(
        axum::Router::new().layer(
            MultiplexedState { connection }
                .probes()
                .with_details(healthz::details::Details::always()),
        ),
    )
    .await;
    assert_eq!(get(addr, "/readiness").await.body, "OK");
    server.kill();
    assert_unready(
        addr,
        "redis",
        MESSAGES,
        DEADLINE,
        &[server.port().to_string()],
    )
    .await;
}
