//! `sea_orm::DatabaseConnection` against a real PostgreSQL server, through
//! the fault proxy and under the app's own load (every request queries
//! through the same connection pool as the check).

use std::time::Duration;

use healthz::HealthChecks;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use support::fault::FaultProxy;
use support::load::{every_fault_under_load, AppLoad};
use support::servers::{Kind, Server, DATABASE, PASSWORD, USER};
use support::verdict::{assert_busy_when, assert_recovers, assert_unready};
use support::{get, serve};

const DEADLINE: Duration = Duration::from_millis(500);
const MESSAGES: &[&str] = &["cannot connect to database.", "timed out after 500ms."];
const RECOVERY: Duration = Duration::from_secs(30);
const POOL_SIZE: u32 = 2;
const APP_CLIENTS: usize = 3 * POOL_SIZE as usize;
const APP_QUERY_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms", cache = "0s")]
struct State {
    #[healthz]
    db: DatabaseConnection,
}

/// A connection as an application opens one: lazy (the app starts while
/// the database is down), with an acquire timeout longer than the probe
/// deadline (the check's own deadline must bound it).
async fn connect(server: &Server, addr: std::net::SocketAddr, max: u32) -> DatabaseConnection {
    let mut options = ConnectOptions::new(server.url_via(addr));
    options
        .max_connections(max)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(2))
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy(true)
        .sqlx_logging(false);
    Database::connect(options).await.expect("connect lazily")
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

/// The app: `/query` runs `SELECT 1` through sea-orm under its own
/// timeout; the probes are mounted outermost.
fn app(db: DatabaseConnection) -> axum::Router {
    async fn query(
        axum::extract::State(db): axum::extract::State<DatabaseConnection>,
    ) -> http::StatusCode {
        match tokio::time::timeout(APP_QUERY_TIMEOUT, db.execute_unprepared("SELECT 1")).await {
            Ok(Ok(_)) => http::StatusCode::OK,
            _ => http::StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    let probes = State { db: db.clone() }.probes();
    axum::Router::new()
        .route("/query", axum::routing::get(query))
        .with_state(db)
        .layer(probes)
}

/// Every fault while the app's own requests keep more queries in flight
/// than the pool has connections; recovery without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_under_the_apps_own_load() {
    let mut server = Server::start(Kind::Postgres);
    let proxy = FaultProxy::start(server.addr());
    let db = connect(&server, proxy.addr(), POOL_SIZE).await;
    let addr = serve(app(db)).await;
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
async fn a_saturated_pool_is_busy_not_broken() {
    let server = Server::start(Kind::Postgres);
    let db = connect(&server, server.addr(), POOL_SIZE).await;
    let addr = serve(app(db.clone())).await;
    assert_recovers(addr, RECOVERY).await;

    let slow: Vec<_> = (0..POOL_SIZE)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move { db.execute_unprepared("SELECT pg_sleep(3)").await })
        })
        .collect();
    let pool = db.get_postgres_connection_pool();
    let saturated = || pool.size() == POOL_SIZE && pool.num_idle() == 0;
    let secrets = [USER.to_owned(), PASSWORD.to_owned()];
    assert_busy_when(addr, "db", saturated, RECOVERY, &secrets).await;
    for query in slow {
        query.await.unwrap().expect("slow query");
    }
    let reply = get(addr, "/readiness?verbose").await;
    assert_eq!(reply.body, "[+]db ok\nreadiness check passed");
}

/// A closed connection fails, and so does one that was never connected
/// (sea-orm's `Disconnected`, checked with its own `ping`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_and_disconnected_connections_fail() {
    let server = Server::start(Kind::Postgres);
    let db = connect(&server, server.addr(), POOL_SIZE).await;
    let addr = serve(app(db.clone())).await;
    assert_recovers(addr, RECOVERY).await;
    db.close_by_ref().await.expect("close");
    let reply = get(addr, "/readiness").await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (
            http::StatusCode::SERVICE_UNAVAILABLE,
            "db: cannot connect to database."
        )
    );

    let addr = serve(
        axum::Router::new().layer(
            State {
                db: DatabaseConnection::default(),
            }
            .probes(),
        ),
    )
    .await;
    let reply = get(addr, "/readiness").await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (
            http::StatusCode::SERVICE_UNAVAILABLE,
            "db: cannot connect to database."
        )
    );
}
