//! `Check` for `sqlx::Pool<DB>` (sqlx 0.8): PostgreSQL, MySQL/MariaDB,
//! SQLite and `Any`.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{Database, Executor, Pool};
use tokio::time::{timeout_at, Instant};

use crate::check::{deadline, CheckError, ErrorKind};

/// Deadline used when a pool is checked outside a probe (the default probe
/// timeout).
const FALLBACK_TIMEOUT: Duration = Duration::from_millis(800);

/// Acquires a connection from the application's own pool and runs
/// `SELECT 1` on it, both before the check's deadline.
///
/// - A pool whose connections are all in use is **busy**: the check reports
///   [`ErrorKind::Busy`] (degraded, still ready), because failing readiness
///   on load would only move that load to the other pods.
/// - A connection whose query failed or did not answer in time is detached
///   from the pool and dropped (its socket closed), never returned: sqlx
///   pings a returned connection with no timeout, which on a dead socket
///   would hold a pool permit forever.
/// - A closed pool fails.
impl<DB> crate::Check for Pool<DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    async fn check(&self) -> Result<(), CheckError> {
        let deadline = deadline().unwrap_or_else(|| Instant::now() + FALLBACK_TIMEOUT);
        if self.is_closed() {
            return Err(CheckError::unavailable(CheckError::DATABASE).with_detail("the pool is closed"));
        }
        let mut connection = match timeout_at(deadline, self.acquire()).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(sqlx::Error::PoolTimedOut)) | Err(_) if is_saturated(self) => {
                return Err(CheckError::busy("busy: every connection is in use.").with_detail(
                    format_args!("no connection became free (pool size {})", self.size()).to_string(),
                ));
            }
            Ok(Err(error)) => {
                return Err(CheckError::unavailable(CheckError::DATABASE).with_detail(error));
            }
            Err(_elapsed) => {
                return Err(CheckError::new(ErrorKind::TimedOut, CheckError::DATABASE)
                    .with_detail("timed out acquiring a connection"));
            }
        };
        match timeout_at(deadline, select_one(&mut connection)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => {
                discard(connection);
                Err(CheckError::unavailable(CheckError::DATABASE).with_detail(error))
            }
            Err(_elapsed) => {
                discard(connection);
                Err(CheckError::new(ErrorKind::TimedOut, CheckError::DATABASE)
                    .with_detail("SELECT 1 did not answer before the deadline"))
            }
        }
    }
}

/// Runs `SELECT 1` (as a simple query: no statement is prepared or cached).
///
/// Boxed so that the check's future is `Send` without the compiler having
/// to prove it through the higher-ranked `Executor` bound, which it cannot.
fn select_one<DB>(
    connection: &mut PoolConnection<DB>,
) -> Pin<Box<dyn Future<Output = Result<(), sqlx::Error>> + Send + '_>>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let query = (&mut **connection).execute("SELECT 1");
    Box::pin(async move { query.await.map(drop) })
}

/// Takes a connection out of the pool (freeing its permit so the pool can
/// open a replacement) and drops it, which closes the socket without a
/// round trip that could hang.
fn discard<DB: Database>(connection: PoolConnection<DB>) {
    drop(connection.detach());
}

fn is_saturated<DB: Database>(pool: &Pool<DB>) -> bool {
    pool.num_idle() == 0 && pool.size() >= pool.options().get_max_connections()
}
