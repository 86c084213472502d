//! The mysql_async pool check against a real MariaDB server, through the
//! shared backend suite: every fault and a stall under the app's own
//! queries through the same pool, and a saturated pool that is busy, not
//! broken.

use std::net::SocketAddr;
use std::time::Duration;

use healthz::HealthChecks;
use mysql_async::prelude::Queryable;
use mysql_async::{OptsBuilder, Pool, PoolConstraints, PoolOpts};
use support::backend::{Backend, PoolBackend, SlowQueries};
use support::servers::{Kind, Server, DATABASE, PASSWORD, USER};

const POOL_SIZE: usize = 2;

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms", cache = "0s")]
struct MysqlState {
    #[healthz]
    db: Pool,
}

/// A mysql_async pool as an app builds it: nothing connected up front (the
/// app starts while the database is down), over TCP even on one host
/// (`prefer_socket(false)`: the fault proxy must stay in the path).
struct Mysql;

impl Backend for Mysql {
    const KIND: Kind = Kind::MariaDb;
    const ROUTE: &'static str = "/query";
    const CHECK: &'static str = "db";
    const MESSAGES: &'static [&'static str] = support::backend::DATABASE_MESSAGES;
    const APP_CLIENTS: usize = 3 * POOL_SIZE;
    const SECRETS: &'static [&'static str] = &[USER, PASSWORD, DATABASE, "localhost"];
    type Client = Pool;
    type State = MysqlState;

    async fn client(_: &Server, addr: SocketAddr) -> Pool {
        let constraints = PoolConstraints::new(0, POOL_SIZE).expect("pool constraints");
        let opts = OptsBuilder::default()
            .ip_or_hostname(addr.ip().to_string())
            .tcp_port(addr.port())
            .user(Some(USER))
            .pass(Some(PASSWORD))
            .db_name(Some(DATABASE))
            .prefer_socket(false)
            .pool_opts(
                PoolOpts::default()
                    .with_constraints(constraints)
                    // Idle connections are kept for reuse (without a TTL,
                    // mysql_async closes every connection above `min` as
                    // soon as it comes back).
                    .with_inactive_connection_ttl(Duration::from_secs(60)),
            );
        Pool::new(opts)
    }

    fn state(pool: &Pool) -> MysqlState {
        MysqlState { db: pool.clone() }
    }

    /// In a task of its own, so that the app's timeout never cancels a
    /// `get_conn`: mysql_async loses a wakeup when a `get_conn` it woke is
    /// dropped, and the requests queued behind it then sleep beside idle
    /// connections (the README says so). The query is cancelled with the
    /// request as usual: a query cut short marks its connection for
    /// discarding.
    async fn request(pool: Pool) -> bool {
        let Ok(Ok(mut conn)) = tokio::spawn(pool.get_conn()).await else {
            return false;
        };
        conn.query_drop("SELECT 1").await.is_ok()
    }

    async fn round_trip(pool: &Pool) {
        let query = async {
            let mut conn = pool.get_conn().await?;
            conn.query_drop("SELECT 1").await
        };
        tokio::time::timeout(Duration::from_secs(10), query)
            .await
            .expect("the app's query hung: a pool slot is stranded")
            .expect("the app's query failed after recovery");
    }
}

impl PoolBackend for Mysql {
    type Held = SlowQueries;

    async fn hold_every_connection(pool: &Pool) -> SlowQueries {
        SlowQueries::spawn(POOL_SIZE, || {
            let pool = pool.clone();
            async move {
                let mut conn = pool.get_conn().await?;
                conn.query_drop("SELECT SLEEP(3)").await
            }
        })
    }

    fn saturated(pool: &Pool) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let metrics = pool.metrics();
        metrics.connections_in_use.load(Relaxed) == POOL_SIZE
            && metrics.connections_in_pool.load(Relaxed) == 0
    }

    async fn release(slow: SlowQueries) {
        slow.finish().await;
    }
}

support::backend_suite!(mysql_async_pool: Mysql, pool, campaign);
