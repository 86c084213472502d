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
use http::StatusCode;
use support::backend::{Backend, PoolBackend, SlowQueries};
use support::fault::{Fault, FaultProxy};
use support::load::AppLoad;
use support::servers::{Kind, Server, DATABASE, PASSWORD, USER};
use support::verdict::until_status;

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

/// `DbState` without damping: every failed run counts.
#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms", cache = "0s")]
struct Strict<P> {
    #[healthz(fail_after = 1)]
    db: P,
}

/// Connects hang (a Service with no endpoints) while the app's own
/// requests hold the pool on black-holed connections, so the check opens
/// its spare connection, and libmysqlclient has no connect timeout. Each
/// spare connect then stayed on a blocking thread until the kernel's SYN
/// retries reached the server again, holding the runs after it back: 503
/// while the app served again. The TCP pre-flight is dropped at the
/// deadline instead, and the first probe once the app serves is ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_a_hung_connect_leaves_no_spare_connect_stuck() {
    let bound = Duration::from_secs(30);
    let server = Server::start(Kind::MariaDb);
    let proxy = FaultProxy::start(server.addr());
    let pool = R2d2::<MysqlConnection>::client(&server, proxy.addr()).await;
    let app = support::backend::app::<R2d2<MysqlConnection>, _>(
        pool.clone(),
        Strict { db: pool.clone() }.probes(),
    );
    let addr = support::serve(app).await;
    let load = AppLoad::once_ready(addr, "/query", 3 * POOL_SIZE as usize, bound).await;

    proxy.set(Fault::HangConnect);
    until_status(addr, "/readiness", StatusCode::SERVICE_UNAVAILABLE, bound).await;
    // Runs that each find the pool held and open a spare connection.
    for _ in 0..4 {
        let reply = support::get(addr, "/readiness").await;
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            reply.body
        );
    }
    proxy.set(Fault::Pass);
    proxy.reset_black_holes();
    load.wait_for_success(5, bound).await;
    let reply = support::get(addr, "/readiness").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    load.stop().await;
}
