//! diesel-async's bb8 and deadpool pools, of `AsyncPgConnection` against a
//! real PostgreSQL and of `AsyncMysqlConnection` against a real MariaDB,
//! through the shared backend suite: every fault and a stall under the
//! app's own queries through the same pool, and a saturated pool that is
//! busy, not broken.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::Duration;

use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, PoolableConnection, RecyclingMethod,
};
use diesel_async::{AsyncMysqlConnection, AsyncPgConnection};
use healthz::HealthChecks;
use support::backend::{Backend, PoolBackend, SlowQueries};
use support::servers::{Kind, Server, DATABASE, PASSWORD, USER};

const POOL_SIZE: usize = 2;
const MESSAGES: &[&str] = support::backend::DATABASE_MESSAGES;

type Bb8Pool<C> = bb8::Pool<AsyncDieselConnectionManager<C>>;
type DeadPool<C> = diesel_async::pooled_connection::deadpool::Pool<C>;

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms", cache = "0s")]
struct DbState<P> {
    #[healthz]
    db: P,
}

/// What the tests need of a diesel-async connection type: its server, its
/// URL, and a query that holds a connection for a while.
trait Database: PoolableConnection + 'static {
    const KIND: Kind;
    const SLEEP: &'static str;
    fn url(server: &Server, addr: SocketAddr) -> String;
}

impl Database for AsyncPgConnection {
    const KIND: Kind = Kind::Postgres;
    const SLEEP: &'static str = "SELECT pg_sleep(3)";
    fn url(server: &Server, addr: SocketAddr) -> String {
        server.url_via(addr)
    }
}

impl Database for AsyncMysqlConnection {
    const KIND: Kind = Kind::MariaDb;
    const SLEEP: &'static str = "SELECT SLEEP(3)";
    /// Over TCP even on one host: the fault proxy must stay in the path.
    fn url(_: &Server, addr: SocketAddr) -> String {
        format!("mysql://{USER}:{PASSWORD}@{addr}/{DATABASE}?prefer_socket=false")
    }
}

/// The app's query, and the slow one: diesel-async's recycling queries.
async fn run<C: Database>(connection: &mut C, query: &'static str) -> bool
where
    for<'a> diesel::dsl::select<diesel::dsl::AsExprOf<i32, diesel::sql_types::Integer>>:
        diesel_async::methods::LoadQuery<'a, C, i32>,
    diesel::query_builder::SqlQuery: diesel_async::methods::ExecuteDsl<C>,
{
    let method = RecyclingMethod::CustomQuery(Cow::Borrowed(query));
    connection.ping(&method).await.is_ok()
}

async fn round_trip<F: std::future::Future<Output = bool>>(query: F) {
    let worked = tokio::time::timeout(Duration::from_secs(10), query)
        .await
        .expect("the app's query hung: a pool slot is stranded");
    assert!(worked, "the app's query failed after recovery");
}

macro_rules! diesel_suite {
    ($module:ident, $connection:ty) => {
        mod $module {
            use super::*;

            /// The bb8 pool, as an app builds it: unchecked, its gets
            /// bounded by a `connection_timeout` longer than the deadline.
            pub(super) struct Bb8;

            impl Backend for Bb8 {
                const KIND: Kind = <$connection as Database>::KIND;
                const ROUTE: &'static str = "/query";
                const CHECK: &'static str = "db";
                const MESSAGES: &'static [&'static str] = MESSAGES;
                const APP_CLIENTS: usize = 3 * POOL_SIZE;
                const SECRETS: &'static [&'static str] = &[USER, PASSWORD, DATABASE];
                type Client = Bb8Pool<$connection>;
                type State = DbState<Bb8Pool<$connection>>;

                async fn client(server: &Server, addr: SocketAddr) -> Self::Client {
                    let manager = AsyncDieselConnectionManager::<$connection>::new(
                        <$connection as Database>::url(server, addr),
                    );
                    bb8::Pool::builder()
                        .max_size(POOL_SIZE as u32)
                        .connection_timeout(Duration::from_secs(2))
                        .build_unchecked(manager)
                }

                fn state(pool: &Self::Client) -> Self::State {
                    DbState { db: pool.clone() }
                }

                fn patience(pool: &Self::Client) -> Option<Duration> {
                    healthz::Check::patience(pool)
                }

                async fn request(pool: Self::Client) -> bool {
                    match pool.get().await {
                        Ok(mut connection) => run(&mut *connection, "SELECT 1").await,
                        Err(_) => false,
                    }
                }

                async fn round_trip(pool: &Self::Client) {
                    round_trip(Self::request(pool.clone())).await;
                }
            }

            impl PoolBackend for Bb8 {
                type Held = SlowQueries;

                async fn hold_every_connection(pool: &Self::Client) -> SlowQueries {
                    SlowQueries::spawn(POOL_SIZE, || {
                        let pool = pool.clone();
                        async move {
                            let mut connection =
                                pool.get_owned().await.map_err(|error| error.to_string())?;
                            let slept = run(&mut *connection, <$connection as Database>::SLEEP);
                            slept.await.then_some(()).ok_or_else(|| "the slow query failed".to_owned())
                        }
                    })
                }

                fn saturated(pool: &Self::Client) -> bool {
                    let state = pool.state();
                    state.connections == POOL_SIZE as u32 && state.idle_connections == 0
                }

                async fn release(slow: SlowQueries) {
                    slow.finish().await;
                }
            }

            support::backend_suite!(bb8_pool: Bb8, pool);

            /// The deadpool pool, as an app builds it: lazy, with wait and
            /// create timeouts longer than the deadline.
            pub(super) struct Deadpool;

            impl Backend for Deadpool {
                const KIND: Kind = <$connection as Database>::KIND;
                const ROUTE: &'static str = "/query";
                const CHECK: &'static str = "db";
                const MESSAGES: &'static [&'static str] = MESSAGES;
                const APP_CLIENTS: usize = 3 * POOL_SIZE;
                const SECRETS: &'static [&'static str] = &[USER, PASSWORD, DATABASE];
                type Client = DeadPool<$connection>;
                type State = DbState<DeadPool<$connection>>;

                async fn client(server: &Server, addr: SocketAddr) -> Self::Client {
                    let manager = AsyncDieselConnectionManager::<$connection>::new(
                        <$connection as Database>::url(server, addr),
                    );
                    DeadPool::<$connection>::builder(manager)
                        .max_size(POOL_SIZE)
                        .runtime(deadpool::Runtime::Tokio1)
                        .wait_timeout(Some(Duration::from_secs(5)))
                        .create_timeout(Some(Duration::from_secs(2)))
                        .recycle_timeout(Some(Duration::from_secs(2)))
                        .build()
                        .expect("a deadpool pool")
                }

                fn state(pool: &Self::Client) -> Self::State {
                    DbState { db: pool.clone() }
                }

                async fn request(pool: Self::Client) -> bool {
                    match pool.get().await {
                        Ok(mut connection) => run(&mut *connection, "SELECT 1").await,
                        Err(_) => false,
                    }
                }

                async fn round_trip(pool: &Self::Client) {
                    round_trip(Self::request(pool.clone())).await;
                }
            }

            impl PoolBackend for Deadpool {
                type Held = SlowQueries;

                async fn hold_every_connection(pool: &Self::Client) -> SlowQueries {
                    SlowQueries::spawn(POOL_SIZE, || {
                        let pool = pool.clone();
                        async move {
                            let mut connection =
                                pool.get().await.map_err(|error| error.to_string())?;
                            let slept = run(&mut *connection, <$connection as Database>::SLEEP);
                            slept.await.then_some(()).ok_or_else(|| "the slow query failed".to_owned())
                        }
                    })
                }

                fn saturated(pool: &Self::Client) -> bool {
                    let status = pool.status();
                    status.size == POOL_SIZE && status.available == 0
                }

                async fn release(slow: SlowQueries) {
                    slow.finish().await;
                }
            }

            support::backend_suite!(deadpool_pool: Deadpool, pool);
        }
    };
}

diesel_suite!(postgres, AsyncPgConnection);
diesel_suite!(mariadb, AsyncMysqlConnection);
