//! The sqlx pool check against real PostgreSQL and MariaDB servers, through
//! a fault proxy, for every supported sqlx major version; and on SQLite.
//!
//! Every fault must give an honest 503 (or a 200 "degraded" for a busy
//! pool) within the probe deadline, leak nothing, keep liveness at 200, and
//! once the database is back readiness must return to 200 without a restart
//! and the application's own queries must work (no stranded pool permit).

use std::time::Duration;

use healthz::HealthChecks;
use support::fault::{Fault, FaultProxy};
use support::servers::{Kind, Server, DATABASE, PASSWORD, USER};
use support::verdict::{assert_no_secrets, assert_recovers, assert_unready};
use support::{get, serve};

/// One pool, checked under a short deadline and without a result cache so
/// that every probe sees the dependency as it is now.
#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms", cache = "0s")]
struct SqlState<P> {
    #[healthz]
    db: P,
}

const DEADLINE: Duration = Duration::from_millis(500);
const MESSAGES: &[&str] = &["cannot connect to database.", "timed out after 500ms."];
/// How long the database may take to be usable again after a fault ends.
const RECOVERY: Duration = Duration::from_secs(30);

fn secrets(server: &Server, proxy: &FaultProxy) -> Vec<String> {
    vec![
        USER.to_owned(),
        PASSWORD.to_owned(),
        DATABASE.to_owned(),
        server.port().to_string(),
        proxy.addr().port().to_string(),
        "localhost".to_owned(),
    ]
}

macro_rules! sql_suite {
    ($module:ident, $sqlx:ident, $db:ident, $kind:expr, $sleep:literal) => {
        mod $module {
            use super::*;
            use $sqlx as sqlx;

            type Pool = sqlx::Pool<sqlx::$db>;

            fn pool(url: &str, max: u32, test_before_acquire: bool) -> Pool {
                sqlx::pool::PoolOptions::<sqlx::$db>::new()
                    .max_connections(max)
                    // Longer than the probe deadline: the check's own
                    // deadline must be what bounds it.
                    .acquire_timeout(Duration::from_secs(5))
                    .test_before_acquire(test_before_acquire)
                    .connect_lazy(url)
                    .expect("pool options")
            }

            /// Waits until every connection of the pool is idle in it: sqlx
            /// pings a connection on its way back, and a fault switched on
            /// during that ping would leave it neither idle nor usable.
            async fn settle(pool: &Pool) {
                let started = std::time::Instant::now();
                while pool.num_idle() < pool.size() as usize {
                    assert!(started.elapsed() < RECOVERY, "the pool never settled");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }

            /// The application's own query: must work once the database is back.
            async fn app_query(pool: &Pool) {
                let query = sqlx::query("SELECT 1").execute(pool);
                tokio::time::timeout(Duration::from_secs(10), query)
                    .await
                    .expect("the app's query hung: a pool permit is stranded")
                    .expect("the app's query failed after recovery");
            }

            /// A real server behind a fault proxy, a pool through the
            /// proxy, and the probes of that pool served over HTTP.
            struct Fixture {
                server: Server,
                proxy: FaultProxy,
                pool: Pool,
                addr: std::net::SocketAddr,
                secrets: Vec<String>,
            }

            async fn fixture(max: u32, test_before_acquire: bool) -> Fixture {
                let server = Server::start($kind);
                let proxy = FaultProxy::start(server.addr());
                let pool = pool(&server.url_via(proxy.addr()), max, test_before_acquire);
                let addr =
                    serve(axum::Router::new().layer(SqlState { db: pool.clone() }.probes())).await;
                let secrets = secrets(&server, &proxy);
                assert_recovers(addr, RECOVERY).await;
                Fixture {
                    server,
                    proxy,
                    pool,
                    addr,
                    secrets,
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn server_stopped_killed_and_restarted() {
                let Fixture {
                    mut server,
                    proxy: _proxy,
                    pool,
                    addr,
                    secrets,
                } = fixture(2, true).await;
                app_query(&pool).await;

                for stop in [Server::stop, Server::kill] {
                    stop(&mut server);
                    assert_unready(addr, "db", MESSAGES, DEADLINE, &secrets).await;
                    server.resume();
                    assert_recovers(addr, RECOVERY).await;
                    app_query(&pool).await;
                }

                // Restarted under the pool's feet: its idle connections are dead.
                server.restart();
                assert_recovers(addr, RECOVERY).await;
                app_query(&pool).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn network_faults() {
                let Fixture {
                    server: _server,
                    proxy,
                    pool,
                    addr,
                    secrets,
                } = fixture(2, true).await;

                for fault in [
                    Fault::Refuse,
                    Fault::Reset,
                    Fault::Silent,
                    Fault::HangConnect,
                ] {
                    settle(&pool).await;
                    proxy.set(fault);
                    for _ in 0..3 {
                        assert_unready(addr, "db", MESSAGES, DEADLINE, &secrets).await;
                    }
                    proxy.set(Fault::Pass);
                    assert_recovers(addr, RECOVERY).await;
                    app_query(&pool).await;
                }
            }

            /// A pooled connection whose peer vanished without a FIN: the
            /// check's query hangs on it. The pool holds one connection and
            /// does not ping on acquire, so the check itself must detach it,
            /// or the pool is stranded for good.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn half_open_pooled_connection_is_detached_not_stranded() {
                let Fixture {
                    server: _server,
                    proxy,
                    pool,
                    addr,
                    secrets,
                } = fixture(1, false).await;
                app_query(&pool).await;
                settle(&pool).await;
                assert_eq!((pool.size(), pool.num_idle()), (1, 1));

                proxy.set(Fault::Silent);
                assert_unready(addr, "db", MESSAGES, DEADLINE, &secrets).await;
                proxy.set(Fault::Pass);
                assert_recovers(addr, RECOVERY).await;
                app_query(&pool).await;
            }

            /// Every connection busy with slow queries: degraded, still ready.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn saturated_pool_is_busy_not_broken() {
                let server = Server::start($kind);
                let pool = pool(&server.url(), 2, true);
                let addr =
                    serve(axum::Router::new().layer(SqlState { db: pool.clone() }.probes())).await;
                assert_recovers(addr, RECOVERY).await;

                let slow: Vec<_> = (0..2)
                    .map(|_| {
                        let pool = pool.clone();
                        tokio::spawn(async move { sqlx::query($sleep).execute(&pool).await })
                    })
                    .collect();
                // Wait until both slow queries hold their connections.
                let started = std::time::Instant::now();
                while !(pool.size() == 2 && pool.num_idle() == 0) {
                    assert!(
                        started.elapsed() < RECOVERY,
                        "the slow queries never started"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                let reply = get(addr, "/readiness?verbose").await;
                assert_eq!(reply.status, http::StatusCode::OK, "{reply:?}");
                assert_eq!(
                    reply.body,
                    "[~]db degraded: busy: every connection is in use\nreadiness check passed"
                );
                let json = get(addr, "/readiness?format=json").await;
                assert!(
                    json.body.starts_with(r#"{"status":"warn""#),
                    "{}",
                    json.body
                );
                assert_no_secrets(&json.body, &[USER.to_owned(), PASSWORD.to_owned()]);

                for query in slow {
                    query.await.unwrap().expect("slow query");
                }
                let reply = get(addr, "/readiness?verbose").await;
                assert_eq!(reply.body, "[+]db ok\nreadiness check passed");
                app_query(&pool).await;
            }
        }
    };
}

sql_suite!(
    postgres_sqlx_0_8,
    sqlx,
    Postgres,
    Kind::Postgres,
    "SELECT pg_sleep(3)"
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
                let addr =
                    serve(axum::Router::new().layer(SqlState { db: pool.clone() }.probes())).await;
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
