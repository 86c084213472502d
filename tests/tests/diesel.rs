//! diesel's synchronous connections in `healthz::checks::diesel::Pool` (an
//! r2d2 pool), `PgConnection` against a real PostgreSQL and
//! `MysqlConnection` against a real MariaDB, through the shared backend
//! suite: every fault and a stall under the app's own queries through the
//! same pool (on tokio's blocking pool, as a sync app's handlers run them),
//! a saturated pool that is busy, not broken, and the chaos campaign.

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::mysql::MysqlConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::R2D2Connection;
use healthz::checks::diesel::Pool;
use healthz::HealthChecks;
use support::backend::{Backend, PoolBackend, SlowQueries};
use support::servers::{Kind, Server, DATABASE, PASSWORD, USER};

const POOL_SIZE: u32 = 2;
/// How long the app's requests wait for a pooled connection.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms", cache = "0s")]
struct DbState<P> {
    #[healthz]
    db: P,
}

/// What the tests need of a diesel connection type: its server, its URL
/// (through the fault proxy at `addr`), and a query that holds a
/// connection for a while.
trait Database: R2D2Connection + SimpleConnection + Send + 'static {
    const KIND: Kind;
    const SLEEP: &'static str;
    fn url(server: &Server, addr: SocketAddr) -> String;
}

impl Database for PgConnection {
    const KIND: Kind = Kind::Postgres;
    const SLEEP: &'static str = "SELECT pg_sleep(3)";
    /// With libpq's `connect_timeout`, as the module docs tell apps to.
    fn url(server: &Server, addr: SocketAddr) -> String {
        format!("{}&connect_timeout=2", server.url_via(addr))
    }
}

impl Database for MysqlConnection {
    const KIND: Kind = Kind::MariaDb;
    const SLEEP: &'static str = "SELECT SLEEP(3)";
    /// An IP address, so that libmysqlclient connects over TCP through the
    /// fault proxy.
    fn url(_: &Server, addr: SocketAddr) -> String {
        format!("mysql://{USER}:{PASSWORD}@{addr}/{DATABASE}")
    }
}

/// The pool as an app builds it: lazy, its gets bounded by a
/// `connection_timeout` longer than the deadline.
struct R2d2<C>(PhantomData<C>);

/// One query on a connection of `pool`, on tokio's blocking pool: what a
/// handler of a sync app does.
async fn query<C: Database>(pool: Pool<C>, sql: &'static str) -> Result<(), String> {
    tokio::task::spawn_blocking(move || {
        let mut connection = pool.get().map_err(|error| error.to_string())?;
        connection
            .batch_execute(sql)
            .map_err(|error| error.to_string())
    })
    .await
    .map_err(|error| error.to_string())?
}

impl<C: Database> Backend for R2d2<C> {
    const KIND: Kind = C::KIND;
    const ROUTE: &'static str = "/query";
    const CHECK: &'static str = "db";
    const MESSAGES: &'static [&'static str] = support::backend::DATABASE_MESSAGES;
    const APP_CLIENTS: usize = 3 * POOL_SIZE as usize;
    const SECRETS: &'static [&'static str] = &[USER, PASSWORD, DATABASE];
    type Client = Pool<C>;
    type State = DbState<Pool<C>>;

    async fn client(server: &Server, addr: SocketAddr) -> Pool<C> {
        Pool::new(
            r2d2::Pool::builder()
                .max_size(POOL_SIZE)
                .connection_timeout(CONNECTION_TIMEOUT),
            C::url(server, addr),
        )
    }

    fn state(pool: &Pool<C>) -> DbState<Pool<C>> {
        DbState { db: pool.clone() }
    }

    async fn request(pool: Pool<C>) -> bool {
        query(pool, "SELECT 1").await.is_ok()
    }

    fn patience(pool: &Pool<C>) -> Option<Duration> {
        healthz::Check::patience(pool)
    }

    async fn round_trip(pool: &Pool<C>) {
        let worked = tokio::time::timeout(Duration::from_secs(10), query(pool.clone(), "SELECT 1"))
            .await
            .expect("the app's query hung: a pool slot is stranded");
        assert_eq!(worked, Ok(()), "the app's query failed after recovery");
    }
}

impl<C: Database> PoolBackend for R2d2<C> {
    type Held = SlowQueries;

    async fn hold_every_connection(pool: &Pool<C>) -> SlowQueries {
        SlowQueries::spawn(POOL_SIZE as usize, || query(pool.clone(), C::SLEEP))
    }

    fn saturated(pool: &Pool<C>) -> bool {
        let state = pool.state();
        state.connections == POOL_SIZE && state.idle_connections == 0
    }

    async fn release(slow: SlowQueries) {
        slow.finish().await;
    }
}

support::backend_suite!(postgres: R2d2<PgConnection>, pool, campaign);
support::backend_suite!(mariadb: R2d2<MysqlConnection>, pool);
