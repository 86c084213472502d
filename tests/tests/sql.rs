//! The sqlx pool check against real PostgreSQL and MariaDB servers, through
//! a fault proxy, for every supported sqlx major version; and on SQLite.
//!
//! Every fault is applied **while the application's own requests run**
//! (more in flight than the pool has connections, real queries through the
//! app's pool): that is when a dead database looks like a busy pool. Every
//! readiness answer during a fault must be an honest 503 within the probe
//! deadline that leaks nothing, liveness stays 200, and once the database
//! is back readiness returns to 200 without a restart and the app's own
//! requests succeed again (no stranded pool permit). A pool saturated by
//! slow queries on a live server is busy (200, degraded), until the
//! `busy_limit` says its connections are stuck. The fault matrix, the
//! stall and the saturated pool are the shared backend suite
//! (`support::backend`), stamped per database; what is SQL's own stays here.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use healthz::HealthChecks;
use support::backend::{app, secrets, Backend, PoolBackend, SlowQueries};
use support::fault::{Fault, FaultProxy};
use support::servers::{Kind, Server, DATABASE, PASSWORD, USER};
use support::verdict::{assert_recovers, assert_unready};
use support::{get, serve};

/// One pool, checked under a short deadline and without a result cache so
/// that every probe sees the dependency as it is now.
#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms", cache = "0s")]
struct SqlState<P> {
    #[healthz]
    db: P,
}

/// The same, in background mode: the pool is checked every second on its
/// own timer, and probes answer from the latest result.
#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms", interval = "1s")]
struct BackgroundState<P> {
    #[healthz]
    db: P,
}

/// The same, failing on the first failed run rather than after the pool's
/// patience: what the tests of the pooled rule itself (detached, stranded,
/// busy) time.
#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms", cache = "0s")]
struct StrictState<P> {
    #[healthz(fail_after = 1)]
    db: P,
}

/// The same, with a short `busy_limit`.
#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms", cache = "0s")]
struct StuckState<P> {
    #[healthz(busy_limit = "2s", fail_after = 1)]
    db: P,
}

const DEADLINE: Duration = Duration::from_millis(500);
const BUSY_LIMIT: Duration = Duration::from_secs(2);
const MESSAGES: &[&str] = support::backend::DATABASE_MESSAGES;
/// How long the database may take to be usable again after a fault ends.
const RECOVERY: Duration = Duration::from_secs(30);
/// Connections in the app's pool; the app's load keeps more requests than
/// that in flight.
const POOL_SIZE: u32 = 2;
const APP_CLIENTS: usize = 3 * POOL_SIZE as usize;

macro_rules! sql_suite {
    ($module:ident, $sqlx:ident, $db:ident, $kind:expr, $sleep:literal $(, $in_ci:ident)?) => {
        mod $module {
            use super::*;
            use $sqlx as sqlx;

            type Pool = sqlx::Pool<sqlx::$db>;

            /// The app's pool. Its `acquire_timeout` is longer than the
            /// probe deadline: the check's own deadline must be what bounds
            /// it.
            fn pool(url: &str, max: u32, test_before_acquire: bool, acquire: Duration) -> Pool {
                sqlx::pool::PoolOptions::<sqlx::$db>::new()
                    .max_connections(max)
                    .acquire_timeout(acquire)
                    .test_before_acquire(test_before_acquire)
                    .connect_lazy(url)
                    .expect("pool options")
            }

            /// The application's own query: must work once the database is back.
            async fn app_query(pool: &Pool) {
                let query = sqlx::query("SELECT 1").execute(pool);
                tokio::time::timeout(Duration::from_secs(10), query)
                    .await
                    .expect("the app's query hung: a pool permit is stranded")
                    .expect("the app's query failed after recovery");
            }

            /// The app's pool, pinging connections on acquire; `/query`
            /// runs a real query through it.
            pub(super) struct Sql;

            impl Backend for Sql {
                const KIND: Kind = $kind;
                const ROUTE: &'static str = "/query";
                const CHECK: &'static str = "db";
                const MESSAGES: &'static [&'static str] = MESSAGES;
                const APP_CLIENTS: usize = APP_CLIENTS;
                const SECRETS: &'static [&'static str] = &[USER, PASSWORD, DATABASE, "localhost"];
                type Client = Pool;
                type State = SqlState<Pool>;

                async fn client(server: &Server, addr: SocketAddr) -> Pool {
                    // Shorter than the app's own bound on a request: it is
                    // the patience readiness holds a failure for.
                    pool(&server.url_via(addr), POOL_SIZE, true, Duration::from_millis(1_500))
                }

                fn state(pool: &Pool) -> SqlState<Pool> {
                    SqlState { db: pool.clone() }
                }

                fn patience(pool: &Pool) -> Option<Duration> {
                    healthz::Check::patience(pool)
                }

                async fn request(pool: Pool) -> bool {
                    sqlx::query("SELECT 1").execute(&pool).await.is_ok()
                }

                async fn round_trip(pool: &Pool) {
                    app_query(pool).await;
                }
            }

            impl PoolBackend for Sql {
                type Held = SlowQueries;

                async fn hold_every_connection(pool: &Pool) -> SlowQueries {
                    SlowQueries::spawn(POOL_SIZE as usize, || {
                        let pool = pool.clone();
                        async move { sqlx::query($sleep).execute(&pool).await.map(drop) }
                    })
                }

                fn saturated(pool: &Pool) -> bool {
                    pool.size() == POOL_SIZE && pool.num_idle() == 0
                }

                async fn release(slow: SlowQueries) {
                    slow.finish().await;
                }
            }

            support::backend_suite!(shared: Sql, pool $(, $in_ci)?);

            /// Background mode under the suite's faults and load: the
            /// snapshot turns unready within one interval of each fault,
            /// and ready again without a restart.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn background_mode_sees_every_fault_under_the_apps_own_load() {
                support::backend::every_fault_under_load_of::<Sql, _>(
                    |pool| BackgroundState { db: pool.clone() },
                    Duration::from_secs(1) + DEADLINE,
                )
                .await;
            }

            /// A real server behind a fault proxy, a pool through the
            /// proxy that does not ping on acquire, and the app with its
            /// probes (`StuckState` when `stuck`) served over HTTP.
            struct Fixture {
                _server: Server,
                proxy: FaultProxy,
                pool: Pool,
                addr: SocketAddr,
                secrets: Vec<String>,
            }

            async fn fixture(max: u32, stuck: bool) -> Fixture {
                let server = Server::start($kind);
                let proxy = FaultProxy::start(server.addr());
                // Long enough that stuck queries keep every connection.
                let pool = pool(&server.url_via(proxy.addr()), max, false, Duration::from_secs(5));
                let app = if stuck {
                    app::<Sql, _>(pool.clone(), StuckState { db: pool.clone() }.probes().with_details(healthz::details::Details::always()))
                } else {
                    app::<Sql, _>(pool.clone(), StrictState { db: pool.clone() }.probes().with_details(healthz::details::Details::always()))
                };
                let addr = serve(app).await;
                let secrets = secrets::<Sql>(&server, Some(&proxy));
                assert_recovers(addr, RECOVERY).await;
                Fixture {
                    _server: server,
                    proxy,
                    pool,
                    addr,
                    secrets,
                }
            }

            /// A pooled connection whose peer vanished without a FIN: the
            /// check's query hangs on it. The pool holds one connection and
            /// does not ping on acquire, so the check itself must detach it,
            /// or the pool is stranded for good.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn half_open_pooled_connection_is_detached_not_stranded() {
                let Fixture {
                    _server,
                    proxy,
                    pool,
                    addr,
                    secrets,
                } = fixture(1, false).await;
                app_query(&pool).await;
                // The scenario needs the one connection idle in the pool, so
                // that the check is what takes it.
                let started = Instant::now();
                while pool.num_idle() < 1 {
                    assert!(
                        started.elapsed() < RECOVERY,
                        "the connection never came back"
                    );
                    tokio::task::yield_now().await;
                }
                assert_eq!((pool.size(), pool.num_idle()), (1, 1));

                proxy.set(Fault::Silent);
                assert_unready(addr, "db", MESSAGES, DEADLINE, &secrets).await;
                proxy.set(Fault::Pass);
                assert_recovers(addr, RECOVERY).await;
                app_query(&pool).await;
            }

            /// The app's own queries, straight through its pool and with no
            /// timeout of their own (as many apps run them): `clients` tasks
            /// in a loop, bounded in count and time; counts the successes.
            fn unbounded_queries(
                pool: &Pool,
                clients: usize,
            ) -> (tokio::task::JoinSet<()>, Arc<AtomicUsize>) {
                let ok = Arc::new(AtomicUsize::new(0));
                let mut set = tokio::task::JoinSet::new();
                for _ in 0..clients {
                    let (pool, ok) = (pool.clone(), ok.clone());
                    set.spawn(async move {
                        let started = Instant::now();
                        for _ in 0..100_000 {
                            if started.elapsed() > Duration::from_secs(120) {
                                return;
                            }
                            if sqlx::query("SELECT 1").execute(&pool).await.is_ok() {
                                ok.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    });
                }
                (set, ok)
            }

            /// The pool's sockets go dead while new connects keep working
            /// (a middlebox dropped the flows): the app's queries hold every
            /// connection, stuck. The spare connection answers, so for a
            /// while this reads as busy; past the `busy_limit` it must be a
            /// 503, and stay one while the app cannot serve.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn stuck_sockets_on_a_live_server_turn_unready_after_the_busy_limit() {
                let Fixture {
                    _server,
                    proxy,
                    pool,
                    addr,
                    secrets,
                } = fixture(POOL_SIZE, true).await;
                // Without a ping on acquire, an idle dead connection is
                // handed to the next query and sticks there too: every
                // connection of the pool ends up stuck.
                let (mut queries, ok) = unbounded_queries(&pool, APP_CLIENTS);
                let running = ok.load(Ordering::SeqCst);
                while ok.load(Ordering::SeqCst) < running + 20 {
                    tokio::task::yield_now().await;
                }

                proxy.set(Fault::Silent);
                proxy.set(Fault::Pass);
                let stuck_at = Instant::now();
                loop {
                    let reply = get(addr, "/readiness").await;
                    if reply.status == http::StatusCode::SERVICE_UNAVAILABLE
                        && stuck_at.elapsed() > BUSY_LIMIT
                    {
                        break;
                    }
                    assert!(
                        stuck_at.elapsed() < BUSY_LIMIT + RECOVERY,
                        "stuck connections never turned readiness unready: {reply:?}"
                    );
                }
                // The answer is the seed's, and the app is indeed stuck. (How
                // long such a state lasts is the driver's business: sqlx's
                // PostgreSQL connections give up on the dead sockets after
                // a few seconds, its MySQL ones do not.)
                assert_unready(addr, "db", MESSAGES, DEADLINE, &secrets).await;

                proxy.reset_black_holes();
                assert_recovers(addr, RECOVERY).await;
                let recovered = ok.load(Ordering::SeqCst);
                let started = Instant::now();
                while ok.load(Ordering::SeqCst) < recovered + 5 {
                    assert!(
                        started.elapsed() < RECOVERY,
                        "the app's queries never recovered"
                    );
                    tokio::task::yield_now().await;
                }
                queries.abort_all();
                while queries.join_next().await.is_some() {}
                app_query(&pool).await;
            }
        }
    };
}

// The one sqlx suite whose chaos campaign CI runs.
sql_suite!(
    postgres_sqlx_0_8,
    sqlx,
    Postgres,
    Kind::Postgres,
    "SELECT pg_sleep(3)",
    campaign
);
sql_suite!(
    mariadb_sqlx_0_8,
    sqlx,
    MySql,
    Kind::MariaDb,
    "SELECT SLEEP(3)"
);
sql_suite!(
    postgres_sqlx_0_9,
    sqlx09,
    Postgres,
    Kind::Postgres,
    "SELECT pg_sleep(3)"
);
sql_suite!(
    mariadb_sqlx_0_9,
    sqlx09,
    MySql,
    Kind::MariaDb,
    "SELECT SLEEP(3)"
);

macro_rules! sqlite_suite {
    ($module:ident, $sqlx:ident) => {
        mod $module {
            use super::*;
            use $sqlx as sqlx;

            #[tokio::test]
            async fn a_file_database_passes_and_a_closed_pool_fails() {
                let path = std::env::temp_dir().join(format!(
                    "healthz-{}-{}.sqlite3",
                    stringify!($module),
                    std::process::id()
                ));
                let url = format!("sqlite://{}?mode=rwc", path.display());
                let pool = sqlx::sqlite::SqlitePoolOptions::new()
                    .connect_lazy(&url)
                    .expect("pool options");
                let addr = serve(
                    axum::Router::new().layer(
                        SqlState { db: pool.clone() }
                            .probes()
                            .with_details(healthz::details::Details::always()),
                    ),
                )
                .await;
                let reply = get(addr, "/readiness").await;
                assert_eq!(
                    (reply.status, reply.body.as_str()),
                    (http::StatusCode::OK, "OK")
                );

                pool.close().await;
                let reply = get(addr, "/readiness").await;
                assert_eq!(reply.status, http::StatusCode::SERVICE_UNAVAILABLE);
                assert_eq!(reply.body, "db: cannot connect to database.");
                let _ = std::fs::remove_file(path);
            }
        }
    };
}

sqlite_suite!(sqlite_sqlx_0_8, sqlx);
sqlite_suite!(sqlite_sqlx_0_9, sqlx09);
