//! tokio-postgres and deadpool-postgres against a real PostgreSQL server,
//! through the fault proxy and under the app's own load: the pool runs the
//! shared backend suite; a bare `Client` is one connection, tested here.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use healthz::HealthChecks;
use support::backend::{secrets, Backend, PoolBackend, SlowQueries};
use support::fault::{Fault, FaultProxy};
use support::serve;
use support::servers::{Kind, Server, DATABASE, PASSWORD, USER};
use support::verdict::{assert_recovers, assert_unready};

const DEADLINE: Duration = Duration::from_millis(500);
const MESSAGES: &[&str] = support::backend::DATABASE_MESSAGES;
const RECOVERY: Duration = Duration::from_secs(30);
const POOL_SIZE: usize = 2;

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

fn config(addr: SocketAddr) -> tokio_postgres::Config {
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

/// deadpool-postgres: `/query` runs `SELECT 1` through the app's pool.
struct Deadpool;

impl Backend for Deadpool {
    const KIND: Kind = Kind::Postgres;
    const ROUTE: &'static str = "/query";
    const CHECK: &'static str = "db";
    const MESSAGES: &'static [&'static str] = MESSAGES;
    const APP_CLIENTS: usize = 3 * POOL_SIZE;
    const SECRETS: &'static [&'static str] = &[USER, PASSWORD, DATABASE];
    type Client = Pool;
    type State = PoolState;

    /// A pool as an application builds one: lazy (the app starts while the
    /// database is down), with a wait timeout longer than the probe
    /// deadline (the check's own deadline must bound it), recycled with a
    /// fast check.
    async fn client(_: &Server, addr: SocketAddr) -> Pool {
        let manager = Manager::from_config(
            config(addr),
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .timeouts(Timeouts {
                wait: Some(Duration::from_secs(5)),
                create: Some(Duration::from_secs(2)),
                recycle: Some(Duration::from_secs(2)),
            })
            .build()
            .expect("pool")
    }

    fn state(pool: &Pool) -> PoolState {
        PoolState { db: pool.clone() }
    }

    async fn request(pool: Pool) -> bool {
        match pool.get().await {
            Ok(client) => client.simple_query("SELECT 1").await.is_ok(),
            Err(_) => false,
        }
    }
}

impl PoolBackend for Deadpool {
    type Held = SlowQueries;

    async fn hold_every_connection(pool: &Pool) -> SlowQueries {
        SlowQueries::spawn(POOL_SIZE, || {
            let pool = pool.clone();
            async move {
                let client = pool.get().await.expect("a pooled connection");
                client.simple_query("SELECT pg_sleep(3)").await.map(drop)
            }
        })
    }

    fn saturated(pool: &Pool) -> bool {
        pool.status().size == POOL_SIZE && pool.status().available == 0
    }

    async fn release(slow: SlowQueries) {
        slow.finish().await;
    }
}

support::backend_suite!(deadpool: Deadpool, pool);

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
    let addr = serve(
        axum::Router::new().layer(
            ClientState { db: client.clone() }
                .probes()
                .with_details(healthz::details::Details::always()),
        ),
    )
    .await;
    let secrets = secrets::<Deadpool>(&server, Some(&proxy));
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
