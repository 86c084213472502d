//! tokio-postgres and deadpool-postgres against a real PostgreSQL server,
//! through the fault proxy and under the app's own load.

use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use healthz::HealthChecks;
use support::fault::{Fault, FaultProxy};
use support::load::{every_fault_under_load, AppLoad};
use support::servers::{Kind, Server, DATABASE, PASSWORD, USER};
use support::verdict::{assert_busy_when, assert_recovers, assert_unready};
use support::{get, serve};

const DEADLINE: Duration = Duration::from_millis(500);
const MESSAGES: &[&str] = &["cannot connect to database.", "timed out after 500ms."];
const RECOVERY: Duration = Duration::from_secs(30);
const POOL_SIZE: usize = 2;
const APP_CLIENTS: usize = 3 * POOL_SIZE;
const APP_QUERY_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms", cache = "0s")]
struct PoolState {
    #[healthz]
    db: Pool,
}

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms", cache = "0s")]
struct ClientState {
    #[healthz]
    db: std::sync::Arc<tokio_postgres::Client>,
}

fn config(addr: std::net::SocketAddr) -> tokio_postgres::Config {
    let mut config = tokio_postgres::Config::new();
    config
        .host(addr.ip().to_string())
        .port(addr.port())
        .user(USER)
        .password(PASSWORD)
        .dbname(DATABASE)
        .connect_timeout(Duration::from_secs(2));
    config
}

/// A pool as an application builds one: lazy (the app starts while the
/// database is down), with a wait timeout longer than the probe deadline
/// (the check's own deadline must bound it), recycled with a fast check.
fn pool(addr: std::net::SocketAddr, max: usize) -> Pool {
    let manager = Manager::from_config(
        config(addr),
        tokio_postgres::NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(max)
        .runtime(Runtime::Tokio1)
        .timeouts(Timeouts {
            wait: Some(Duration::from_secs(5)),
            create: Some(Duration::from_secs(2)),
            recycle: Some(Duration::from_secs(2)),
        })
        .build()
        .expect("pool")
}

fn secrets(server: &Server, proxy: &FaultProxy) -> Vec<String> {
    vec![
        USER.to_owned(),
        PASSWORD.to_owned(),
        DATABASE.to_owned(),
        server.port().to_string(),
        proxy.addr().port().to_string(),
    ]
}

/// The app: `/query` runs `SELECT 1` through the app's pool under its own
/// timeout; the probes are mounted outermost.
fn app<S: HealthChecks>(pool: Pool, probes: healthz::Probes<S>) -> axum::Router {
    async fn query(axum::extract::State(pool): axum::extract::State<Pool>) -> http::StatusCode {
        let query = async {
            let client = pool.get().await.ok()?;
            client.simple_query("SELECT 1").await.ok()
        };
        match tokio::time::timeout(APP_QUERY_TIMEOUT, query).await {
            Ok(Some(_)) => http::StatusCode::OK,
            _ => http::StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    axum::Router::new()
        .route("/query", axum::routing::get(query))
        .with_state(pool)
        .layer(probes)
}

/// Every fault while the app's own requests keep more queries in flight
/// than the pool has connections; recovery without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadpool_every_fault_under_the_apps_own_load() {
    let mut server = Server::start(Kind::Postgres);
    let proxy = FaultProxy::start(server.addr());
    let pool = pool(proxy.addr(), POOL_SIZE);
    let addr = serve(app(pool.clone(), PoolState { db: pool.clone() }.probes())).await;
    let secrets = secrets(&server, &proxy);
    let load = AppLoad::once_ready(addr, "/query", APP_CLIENTS, RECOVERY).await;

    every_fault_under_load(&mut server, &proxy, addr, &load, RECOVERY, || {
        assert_unready(addr, "db", MESSAGES, DEADLINE, &secrets)
    })
    .await;
    load.stop().await;
}

/// Every connection held by slow queries on a live server: degraded (the
/// probe connection proves the server answers), still ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadpool_saturated_pool_is_busy_not_broken() {
    let server = Server::start(Kind::Postgres);
    let pool = pool(server.addr(), 2);
    let addr = serve(axum::Router::new().layer(PoolState { db: pool.clone() }.probes())).await;
    assert_recovers(addr, RECOVERY).await;

    let slow: Vec<_> = (0..2)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let client = pool.get().await.expect("a pooled connection");
                client.simple_query("SELECT pg_sleep(3)").await.map(drop)
            })
        })
        .collect();
    let saturated = || pool.status().size == 2 && pool.status().available == 0;
    let secrets = [USER.to_owned(), PASSWORD.to_owned()];
    assert_busy_when(addr, "db", saturated, RECOVERY, &secrets).await;
    for query in slow {
        query.await.unwrap().expect("slow query");
    }
    let reply = get(addr, "/readiness?verbose").await;
    assert_eq!(reply.body, "[+]db ok\nreadiness check passed");
}

/// A bare `Client` is one connection: it passes while the connection
/// works, fails within the deadline when the server stops answering, and,
/// once that connection is gone, keeps failing, as every query of the app
/// through it does (the README says to use a pool to reconnect).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_fails_within_the_deadline_and_agrees_with_the_app() {
    let server = Server::start(Kind::Postgres);
    let proxy = FaultProxy::start(server.addr());
    let (client, connection) = config(proxy.addr())
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let client = std::sync::Arc::new(client);
    let addr = serve(axum::Router::new().layer(ClientState { db: client.clone() }.probes())).await;
    let secrets = secrets(&server, &proxy);
    assert_recovers(addr, RECOVERY).await;

    // The connection turns into a black hole: the query hangs, the check
    // answers within its deadline.
    proxy.set(Fault::Silent);
    for _ in 0..3 {
        assert_unready(addr, "db", MESSAGES, DEADLINE, &secrets).await;
    }
    // The host is back and resets the half-open connection: the client is
    // closed, and says so at once.
    proxy.set(Fault::Pass);
    proxy.reset_black_holes();
    let started = Instant::now();
    while !client.is_closed() {
        assert!(
            started.elapsed() < RECOVERY,
            "the client never saw the close"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reply = assert_unready(addr, "db", MESSAGES, DEADLINE, &secrets).await;
    assert_eq!(reply.body, "db: cannot connect to database.");
    assert!(client.simple_query("SELECT 1").await.is_err());
}
