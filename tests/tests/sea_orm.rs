//! `sea_orm::DatabaseConnection` against a real PostgreSQL server, through
//! the fault proxy and under the app's own load (every request queries
//! through the same connection pool as the check): the shared backend
//! suite, and sea-orm's closed and disconnected connections.

use std::net::SocketAddr;
use std::time::Duration;

use healthz::HealthChecks;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use support::backend::{app, Backend, PoolBackend, SlowQueries};
use support::servers::{Kind, Server, DATABASE, PASSWORD, USER};
use support::verdict::assert_recovers;
use support::{get, serve};

const POOL_SIZE: u32 = 2;

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms", cache = "0s")]
struct State {
    #[healthz]
    db: DatabaseConnection,
}

/// `/query` runs `SELECT 1` through sea-orm.
struct SeaOrm;

impl Backend for SeaOrm {
    const KIND: Kind = Kind::Postgres;
    const ROUTE: &'static str = "/query";
    const CHECK: &'static str = "db";
    const MESSAGES: &'static [&'static str] = support::backend::DATABASE_MESSAGES;
    const APP_CLIENTS: usize = 3 * POOL_SIZE as usize;
    const SECRETS: &'static [&'static str] = &[USER, PASSWORD, DATABASE];
    type Client = DatabaseConnection;
    type State = State;

    /// A connection as an application opens one: lazy (the app starts
    /// while the database is down), with an acquire timeout longer than the
    /// probe deadline (the check's own deadline must bound it) and shorter
    /// than the app's bound on a request (readiness holds a failure that
    /// long: the pool's patience).
    async fn client(server: &Server, addr: SocketAddr) -> DatabaseConnection {
        let mut options = ConnectOptions::new(server.url_via(addr));
        options
            .max_connections(POOL_SIZE)
            .min_connections(0)
            .connect_timeout(Duration::from_secs(2))
            .acquire_timeout(Duration::from_millis(1_500))
            .connect_lazy(true)
            .sqlx_logging(false);
        Database::connect(options).await.expect("connect lazily")
    }

    fn state(db: &DatabaseConnection) -> State {
        State { db: db.clone() }
    }

    fn patience(db: &DatabaseConnection) -> Option<Duration> {
        healthz::Check::patience(db)
    }

    async fn request(db: DatabaseConnection) -> bool {
        db.execute_unprepared("SELECT 1").await.is_ok()
    }
}

impl PoolBackend for SeaOrm {
    type Held = SlowQueries;

    async fn hold_every_connection(db: &DatabaseConnection) -> SlowQueries {
        SlowQueries::spawn(POOL_SIZE as usize, || {
            let db = db.clone();
            async move { db.execute_unprepared("SELECT pg_sleep(3)").await.map(drop) }
        })
    }

    fn saturated(db: &DatabaseConnection) -> bool {
        let pool = db.get_postgres_connection_pool();
        pool.size() == POOL_SIZE && pool.num_idle() == 0
    }

    async fn release(slow: SlowQueries) {
        slow.finish().await;
    }
}

support::backend_suite!(sea_orm_pool: SeaOrm, pool);

/// A closed connection fails, and so does one that was never connected
/// (sea-orm's `Disconnected`, checked with its own `ping`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_and_disconnected_connections_fail() {
    let server = Server::start(Kind::Postgres);
    let db = SeaOrm::client(&server, server.addr()).await;
    let addr = serve(app::<SeaOrm, _>(
        db.clone(),
        SeaOrm::state(&db)
            .probes()
            .with_details(healthz::details::Details::always()),
    ))
    .await;
    assert_recovers(addr, SeaOrm::RECOVERY).await;
    db.close_by_ref().await.expect("close");
    // At once: a closed pool fails every acquire at once, so it has no
    // patience to hold the failure for.
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
            .probes()
            .with_details(healthz::details::Details::always()),
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
