//! `Check` for `sqlx::Pool<DB>`: PostgreSQL, MySQL/MariaDB, SQLite and
//! `Any`, for sqlx 0.8 (feature `sqlx`) and sqlx 0.9 (feature `sqlx-0-9`).

use super::pool::{Acquired, Ping, PoolProbe};
use crate::check::{deadline_or_default, CheckError};

fn unavailable(detail: impl std::fmt::Display + Send + Sync + 'static) -> CheckError {
    CheckError::unavailable(CheckError::DATABASE).with_detail(detail)
}

/// The same check for each supported sqlx major version: the crates differ,
/// the API used here does not.
macro_rules! pool_check {
    ($sqlx:ident) => {
        /// Acquires a connection from the application's own pool and runs
        /// `SELECT 1` on it (as a simple query: nothing is prepared or
        /// cached), both before the check's deadline.
        ///
        /// - A connection whose query failed or did not answer in time is
        ///   detached from the pool and dropped (its socket closed), never
        ///   returned: sqlx pings a returned connection with no timeout,
        ///   which on a dead socket would hold a pool permit forever.
        /// - A pool that gives no connection in time is **busy** (degraded,
        ///   still ready) only when the database answers `SELECT 1` on the
        ///   check's own **probe connection** (one per check, opened with
        ///   the pool's connect options outside the pool when first needed,
        ///   then reused), and only for the check's `busy_limit` (15 s by
        ///   default) of continuous saturation. Otherwise it fails: a pool
        ///   held by requests stuck on a dead database is down, not busy.
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
                // Boxed so that the check's future is `Send` without the
                // compiler having to prove it through the higher-ranked
                // `Executor` bound, which it cannot.
                fn select_one<DB>(connection: &mut DB::Connection) -> Ping<'_, $sqlx::Error>
                where
                    DB: $sqlx::Database,
                    for<'c> &'c mut DB::Connection: $sqlx::Executor<'c, Database = DB>,
                {
                    Box::pin(async move {
                        $sqlx::Executor::execute(connection, "SELECT 1").await?;
                        Ok(())
                    })
                }

                let deadline = deadline_or_default();
                if self.is_closed() {
                    return Err(unavailable("the pool is closed"));
                }
                let max = self.options().get_max_connections();
                let looks_saturated = self.num_idle() == 0 && self.size() >= max;
                let acquire = async {
                    match self.acquire().await {
                        Ok(connection) => Acquired::Connection(connection),
                        Err($sqlx::Error::PoolTimedOut) => Acquired::NoneInTime,
                        Err(error) => Acquired::Failed(unavailable(error)),
                    }
                };
                let use_pooled = |mut connection: $sqlx::pool::PoolConnection<DB>| async move {
                    let query = select_one::<DB>(&mut *connection);
                    match tokio::time::timeout_at(deadline, query).await {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(error)) => {
                            // Take it out of the pool (freeing its permit for
                            // a replacement) and close the socket without a
                            // round trip that could hang.
                            drop(connection.detach());
                            Err(unavailable(error))
                        }
                        Err(_elapsed) => {
                            drop(connection.detach());
                            Err(CheckError::timed_out(CheckError::DATABASE)
                                .with_detail("SELECT 1 did not answer before the deadline"))
                        }
                    }
                };
                let options = self.connect_options();
                let open = || $sqlx::ConnectOptions::connect(&*options);
                PoolProbe::<DB::Connection>::run(
                    deadline,
                    CheckError::DATABASE,
                    looks_saturated,
                    acquire,
                    use_pooled,
                    || format!("{} of {max}", self.size()),
                    open,
                    select_one::<DB>,
                )
                .await
            }
        }
    };
}

#[cfg(feature = "sqlx")]
pool_check!(sqlx);

#[cfg(feature = "sqlx-0-9")]
pool_check!(sqlx09);
