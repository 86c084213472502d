//! The Redis checks against a real Redis server, through a fault proxy: a
//! `ConnectionManager`, a deadpool-redis pool and a `MultiplexedConnection`.

use std::time::Duration;

use healthz::HealthChecks;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use support::fault::{Fault, FaultProxy};
use support::load::{every_fault_under_load, AppLoad};
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

/// The app's own use of Redis, which must work again after recovery.
async fn app_round_trip(pool: &deadpool_redis::Pool, manager: &ConnectionManager) {
    let round_trip = async {
        let mut connection = pool
            .get()
            .await
            .expect("a pooled connection after recovery");
        let _: () = redis::cmd("SET")
            .arg("k")
            .arg("v")
            .query_async(&mut connection)
            .await
            .unwrap();
        let mut manager = manager.clone();
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

/// The app: `/redis` runs a command through the pool and one through the
/// manager (under the app's own timeout), and the probes are mounted
/// outermost.
fn app(state: RedisState) -> axum::Router {
    async fn command(
        axum::extract::State(state): axum::extract::State<RedisState>,
    ) -> http::StatusCode {
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
        match tokio::time::timeout(Duration::from_secs(2), commands).await {
            Ok(Some(())) => http::StatusCode::OK,
            _ => http::StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    let probes = state.probes();
    axum::Router::new()
        .route("/redis", axum::routing::get(command))
        .with_state(state)
        .layer(probes)
}

/// Readiness names both checks while Redis is unreachable.
async fn assert_both_unready(addr: std::net::SocketAddr, secrets: &[String]) {
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

/// Redis behind a fault proxy, a manager and a pool through the proxy, and
/// their probes served over HTTP, ready.
struct Fixture {
    server: Server,
    proxy: FaultProxy,
    state: RedisState,
    addr: std::net::SocketAddr,
    secrets: Vec<String>,
}

async fn fixture() -> Fixture {
    let server = Server::start(Kind::Redis);
    let proxy = FaultProxy::start(server.addr());
    let url = server.url_via(proxy.addr());
    let state = RedisState {
        manager: manager(&url),
        pool: pool(&url, 4),
    };
    let addr = serve(app(state.clone())).await;
    let secrets = vec![server.port().to_string(), proxy.addr().port().to_string()];
    assert_recovers(addr, RECOVERY).await;
    Fixture {
        server,
        proxy,
        state,
        addr,
        secrets,
    }
}

/// Every fault, each while the app's own Redis commands run concurrently,
/// more of them in flight than the pool has connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_under_the_apps_own_load() {
    let Fixture {
        mut server,
        proxy,
        state,
        addr,
        secrets,
    } = fixture().await;
    let load = AppLoad::start(addr, "/redis", 8);
    load.wait_for_success(20, RECOVERY).await;

    every_fault_under_load(&mut server, &proxy, addr, &load, RECOVERY, || {
        assert_both_unready(addr, &secrets)
    })
    .await;
    load.stop().await;
    app_round_trip(&state.pool, &state.manager).await;
}

/// The pool drops the black-holed connection its check used and opens a
/// new one. The manager cannot: redis-rs reconnects on I/O errors, not on
/// response timeouts, so on a half-open socket the app's own commands fail
/// as well, and readiness says so rather than pretend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_on_a_half_open_socket_fails_until_the_socket_errors() {
    let Fixture {
        server: _server,
        proxy,
        state,
        addr,
        secrets,
    } = fixture().await;
    proxy.set(Fault::Silent);
    assert_both_unready(addr, &secrets).await;
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
    app_round_trip(&state.pool, &state.manager).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_pool_is_busy_not_broken() {
    let server = Server::start(Kind::Redis);
    let url = server.url();
    let state = RedisState {
        manager: manager(&url),
        pool: pool(&url, 1),
    };
    let addr = serve(axum::Router::new().layer(state.probes())).await;
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
    let addr = serve(axum::Router::new().layer(MultiplexedState { connection }.probes())).await;
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
