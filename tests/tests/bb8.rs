//! The bb8 pool check against real PostgreSQL (bb8-postgres) and Redis
//! (bb8-redis) servers, through the shared backend suite: every fault and a
//! stall under the app's own requests through the same pool, and a
//! saturated pool that is busy, not broken. What bb8 cannot do (give a
//! connection up) is shown here too: a half-open connection on a live
//! server is replaced, never handed back to the app.

use std::net::SocketAddr;
use std::time::Duration;

use ::bb8_postgres::PostgresConnectionManager;
use ::bb8_redis::RedisConnectionManager;
use bb8::{Pool, PooledConnection};
use healthz::HealthChecks;
use support::backend::{secrets, Backend, PoolBackend, SlowQueries};
use support::fault::{Fault, FaultProxy};
use support::servers::{Kind, Server, DATABASE, PASSWORD, USER};
use support::verdict::{assert_recovers, assert_unready};

const POOL_SIZE: u32 = 2;

type PgManager = PostgresConnectionManager<tokio_postgres::NoTls>;

/// The same, failing on the first failed run (not after the pool's
/// `connection_timeout`, its patience): for the tests of what happens to a
/// connection, not of damping.
#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms", cache = "0s")]
struct StrictState<M: healthz::checks::bb8::Manager> {
    #[healthz(fail_after = 1)]
    db: Pool<M>,
}

/// The same, with a short `busy_limit`.
#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms", cache = "0s")]
struct StuckState<M: healthz::checks::bb8::Manager> {
    #[healthz(busy_limit = "2s", fail_after = 1)]
    db: Pool<M>,
}

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms", cache = "0s")]
struct Bb8State<M: healthz::checks::bb8::Manager> {
    #[healthz]
    db: Pool<M>,
}

/// A bb8 pool as an app builds it: unchecked (nothing connected up front,
/// so the app starts while the server is down), its gets bounded by a
/// `connection_timeout` longer than the probe deadline (the check's own
/// deadline must bound it), connections tested on checkout (bb8's default).
fn pool<M: bb8::ManageConnection>(manager: M) -> Pool<M> {
    Pool::builder()
        .max_size(POOL_SIZE)
        .connection_timeout(Duration::from_secs(2))
        .build_unchecked(manager)
}

fn pg_manager(addr: SocketAddr) -> PgManager {
    let mut config = tokio_postgres::Config::new();
    config
        .host(addr.ip().to_string())
        .port(addr.port())
        .user(USER)
        .password(PASSWORD)
        .dbname(DATABASE)
        .connect_timeout(Duration::from_secs(2));
    PostgresConnectionManager::new(config, tokio_postgres::NoTls)
}

/// bb8-postgres: `/query` runs `SELECT 1` through the app's pool.
struct Bb8Postgres;

impl Backend for Bb8Postgres {
    const KIND: Kind = Kind::Postgres;
    const ROUTE: &'static str = "/query";
    const CHECK: &'static str = "db";
    const MESSAGES: &'static [&'static str] = support::backend::DATABASE_MESSAGES;
    const APP_CLIENTS: usize = 3 * POOL_SIZE as usize;
    const SECRETS: &'static [&'static str] = &[USER, PASSWORD, DATABASE];
    type Client = Pool<PgManager>;
    type State = Bb8State<PgManager>;

    async fn client(_: &Server, addr: SocketAddr) -> Pool<PgManager> {
        pool(pg_manager(addr))
    }

    fn state(pool: &Pool<PgManager>) -> Bb8State<PgManager> {
        Bb8State { db: pool.clone() }
    }

    fn patience(pool: &Pool<PgManager>) -> Option<Duration> {
        healthz::Check::patience(pool)
    }

    async fn request(pool: Pool<PgManager>) -> bool {
        match pool.get().await {
            Ok(client) => client.simple_query("SELECT 1").await.is_ok(),
            Err(_) => false,
        }
    }

    async fn round_trip(pool: &Pool<PgManager>) {
        let query = async {
            let client = pool.get().await.map_err(|error| error.to_string())?;
            client
                .simple_query("SELECT 1")
                .await
                .map_err(|error| error.to_string())
        };
        tokio::time::timeout(Duration::from_secs(10), query)
            .await
            .expect("the app's query hung: a pool slot is stranded")
            .expect("the app's query failed after recovery");
    }
}

impl PoolBackend for Bb8Postgres {
    type Held = SlowQueries;

    async fn hold_every_connection(pool: &Pool<PgManager>) -> SlowQueries {
        SlowQueries::spawn(POOL_SIZE as usize, || {
            let pool = pool.clone();
            async move {
                let client = pool.get_owned().await.map_err(|error| error.to_string())?;
                client
                    .simple_query("SELECT pg_sleep(3)")
                    .await
                    .map(drop)
                    .map_err(|error| error.to_string())
            }
        })
    }

    fn saturated(pool: &Pool<PgManager>) -> bool {
        saturated(pool)
    }

    async fn release(slow: SlowQueries) {
        slow.finish().await;
    }
}

fn saturated<M: bb8::ManageConnection>(pool: &Pool<M>) -> bool {
    let state = pool.state();
    state.connections == POOL_SIZE && state.idle_connections == 0
}

support::backend_suite!(postgres_pool: Bb8Postgres, pool);

/// bb8-redis: `/redis` runs a `GET` through the app's pool.
struct Bb8Redis;

impl Backend for Bb8Redis {
    const KIND: Kind = Kind::Redis;
    const ROUTE: &'static str = "/redis";
    const CHECK: &'static str = "db";
    const MESSAGES: &'static [&'static str] =
        &["cannot connect to redis.", "timed out after 500ms."];
    const APP_CLIENTS: usize = 3 * POOL_SIZE as usize;
    type Client = Pool<RedisConnectionManager>;
    type State = Bb8State<RedisConnectionManager>;

    async fn client(server: &Server, addr: SocketAddr) -> Pool<RedisConnectionManager> {
        pool(RedisConnectionManager::new(server.url_via(addr)).expect("a redis url"))
    }

    fn state(pool: &Pool<RedisConnectionManager>) -> Bb8State<RedisConnectionManager> {
        Bb8State { db: pool.clone() }
    }

    fn patience(pool: &Pool<RedisConnectionManager>) -> Option<Duration> {
        healthz::Check::patience(pool)
    }

    async fn request(pool: Pool<RedisConnectionManager>) -> bool {
        match pool.get().await {
            Ok(mut connection) => redis::cmd("GET")
                .arg("k")
                .query_async::<Option<String>>(&mut *connection)
                .await
                .is_ok(),
            Err(_) => false,
        }
    }

    async fn round_trip(pool: &Pool<RedisConnectionManager>) {
        let round_trip = async {
            let mut connection = pool.get().await.map_err(|error| error.to_string())?;
            redis::cmd("SET")
                .arg("k")
                .arg("v")
                .query_async::<()>(&mut *connection)
                .await
                .map_err(|error| error.to_string())
        };
        tokio::time::timeout(Duration::from_secs(10), round_trip)
            .await
            .expect("the app's Redis round trip hung: a pool slot is stranded")
            .expect("the app's Redis round trip failed after recovery");
    }
}

impl PoolBackend for Bb8Redis {
    type Held = Vec<PooledConnection<'static, RedisConnectionManager>>;

    async fn hold_every_connection(
        pool: &Pool<RedisConnectionManager>,
    ) -> Vec<PooledConnection<'static, RedisConnectionManager>> {
        let mut held = Vec::new();
        for _ in 0..POOL_SIZE {
            held.push(pool.get_owned().await.expect("a pooled connection"));
        }
        held
    }

    fn saturated(pool: &Pool<RedisConnectionManager>) -> bool {
        saturated(pool)
    }

    async fn release(held: Vec<PooledConnection<'static, RedisConnectionManager>>) {
        drop(held);
    }
}

support::backend_suite!(redis_pool: Bb8Redis, pool);

/// bb8 cannot give a connection up, so the check replaces one instead. The
/// pool's only connection turns half-open while the server stays up (the
/// proxy black-holes the connections it has for good, then serves new
/// ones): the check times out on it within its deadline, a connection
/// opened then takes its place, and readiness and the app's own query work
/// again, without a restart and without the half-open socket ever being
/// reset. With `test_on_check_out` off, so that bb8 hands the connection
/// out untested (with it on, bb8's own test hangs on it before the check
/// sees it: see `healthz::checks::bb8`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_open_connection_is_replaced_never_handed_back() {
    let server = Server::start(Kind::Postgres);
    let proxy = FaultProxy::start(server.addr());
    let pool = Pool::builder()
        .max_size(1)
        .test_on_check_out(false)
        .connection_timeout(Duration::from_secs(2))
        .build_unchecked(pg_manager(proxy.addr()));
    let addr = support::serve_probes(&StrictState { db: pool.clone() }).await;
    let secrets = secrets::<Bb8Postgres>(&server, Some(&proxy));
    assert_recovers(addr, Bb8Postgres::RECOVERY).await;
    let opened = proxy.accepted();

    proxy.set(Fault::Silent);
    assert_unready(
        addr,
        "db",
        Bb8Postgres::MESSAGES,
        Bb8Postgres::DEADLINE,
        &secrets,
    )
    .await;
    proxy.set(Fault::Pass);
    // Passing, not busy: busy would be 200 as well, while the failed
    // connection is held out of the pool until a new one opens.
    let started = std::time::Instant::now();
    loop {
        let reply = support::get(addr, "/readiness?verbose").await;
        if reply.body == "[+]db ok\nreadiness check passed" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never passed again: {}",
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Bb8Postgres::round_trip(&pool).await;
    assert!(
        proxy.accepted() > opened,
        "readiness recovered without a new connection"
    );
}

/// What bb8 does not allow, bounded: with `test_on_check_out` on (bb8's
/// default), bb8 tests a connection before it lends it, so a half-open one
/// hangs that test, every `get` that draws it times out, and the check
/// never holds it to replace it. The server answers on the spare
/// connection, so the pool reads as busy (still ready) and then, once the
/// check's `busy_limit` has passed, as down: readiness does not stay ready
/// on a pool that serves nothing past the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_open_connection_tested_by_bb8_fails_by_the_busy_limit() {
    let server = Server::start(Kind::Postgres);
    let proxy = FaultProxy::start(server.addr());
    let pool = Pool::builder()
        .max_size(1)
        .connection_timeout(Duration::from_secs(2))
        .build_unchecked(pg_manager(proxy.addr()));
    let addr = support::serve_probes(&StuckState { db: pool.clone() }).await;
    let secrets = secrets::<Bb8Postgres>(&server, Some(&proxy));
    assert_recovers(addr, Bb8Postgres::RECOVERY).await;

    proxy.set(Fault::Silent);
    assert_unready(
        addr,
        "db",
        Bb8Postgres::MESSAGES,
        Bb8Postgres::DEADLINE,
        &secrets,
    )
    .await;
    proxy.set(Fault::Pass);
    let reply = support::get(addr, "/readiness?verbose").await;
    assert_eq!(
        reply.body,
        "[~]db degraded: busy: every connection is in use\nreadiness check passed"
    );
    let started = std::time::Instant::now();
    let reply = support::verdict::until_status(
        addr,
        "/readiness",
        http::StatusCode::SERVICE_UNAVAILABLE,
        Duration::from_secs(2) + support::verdict::SLACK,
    )
    .await;
    assert_eq!(reply.body, "db: cannot connect to database.");
    assert!(started.elapsed() <= Duration::from_secs(2) + support::verdict::SLACK);
    assert!(
        tokio::time::timeout(Duration::from_secs(3), pool.get())
            .await
            .map_or(true, |got| got.is_err()),
        "bb8 lent a connection: the half-open one was dropped after all"
    );
}
