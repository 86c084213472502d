//! `Check` for `sqlx::Pool<DB>`: PostgreSQL, MySQL/MariaDB, SQLite and
//! `Any`, for sqlx 0.8 (feature `sqlx`) and sqlx 0.9 (feature `sqlx-0-9`).

use super::{check_deadline, pool_busy};
use crate::check::{CheckError, ErrorKind};

fn unavailable(detail: impl std::fmt::Display + Send + Sync + 'static) -> CheckError {
    CheckError::unavailable(CheckError::DATABASE).with_detail(detail)
}

fn timed_out(detail: &'static str) -> CheckError {
    CheckError::new(ErrorKind::TimedOut, CheckError::DATABASE).with_detail(detail)
}

/// The same check for each supported sqlx major version: the crates differ,
/// the API used here does not.
macro_rules! pool_check {
    ($sqlx:ident) => {
        /// Acquires a connection from the application's own pool and runs
        /// `SELECT 1` on it (as a simple query: nothing is prepared or
        /// cached), both before the check's deadline.
        ///
        /// - A pool whose connections are all in use when the check starts,
        ///   and stay so until the deadline, is **busy**: the check reports
        ///   [`ErrorKind::Busy`] (degraded, still ready), because failing
        ///   readiness under load would only move that load to the other
        ///   pods. A pool that had room but could not connect in time fails.
        ///   (A connection that sqlx is pinging on its way back to the pool
        ///   counts as in use: with a one-connection pool on a dead network,
        ///   the check can only say busy until that ping gives up.)
        /// - A connection whose query failed or did not answer in time is
        ///   detached from the pool and dropped (its socket closed), never
        ///   returned: sqlx pings a returned connection with no timeout,
        ///   which on a dead socket would hold a pool permit forever.
        /// - A closed pool fails.
        // Kept out of "other types implement `Check`" lists in errors: they
        // would vary with the features enabled and bury the actual advice.
        #[diagnostic::do_not_recommend]
        impl<DB> crate::Check for $sqlx::Pool<DB>
        where
            DB: $sqlx::Database,
            for<'c> &'c mut DB::Connection: $sqlx::Executor<'c, Database = DB>,
        {
            async fn check(&self) -> Result<(), CheckError> {
                use tokio::time::timeout_at;

                let deadline = check_deadline();
                if self.is_closed() {
                    return Err(unavailable("the pool is closed"));
                }
                // Judged before acquiring: a pool that had room but could
                // not hand out a connection in time is failing to connect
                // (its size counts connects in progress), not busy.
                let saturated =
                    self.num_idle() == 0 && self.size() >= self.options().get_max_connections();
                let mut connection = match timeout_at(deadline, self.acquire()).await {
                    Ok(Ok(connection)) => connection,
                    Ok(Err($sqlx::Error::PoolTimedOut)) | Err(_) if saturated => {
                        return Err(pool_busy(self.size()));
                    }
                    Ok(Err(error)) => return Err(unavailable(error)),
                    Err(_elapsed) => return Err(timed_out("timed out acquiring a connection")),
                };
                // Boxed so that the check's future is `Send` without the
                // compiler having to prove it through the higher-ranked
                // `Executor` bound, which it cannot.
                let query: std::pin::Pin<
                    Box<dyn std::future::Future<Output = Result<_, $sqlx::Error>> + Send + '_>,
                > = Box::pin($sqlx::Executor::execute(&mut *connection, "SELECT 1"));
                match timeout_at(deadline, query).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(error)) => {
                        // Take it out of the pool (freeing its permit for a
                        // replacement) and close the socket without a round
                        // trip that could hang.
                        drop(connection.detach());
                        Err(unavailable(error))
                    }
                    Err(_elapsed) => {
                        drop(connection.detach());
                        Err(timed_out("SELECT 1 did not answer before the deadline"))
                    }
                }
            }
        }
    };
}

#[cfg(feature = "sqlx")]
pool_check!(sqlx);

#[cfg(feature = "sqlx-0-9")]
pool_check!(sqlx09);
