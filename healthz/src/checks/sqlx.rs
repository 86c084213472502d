//! `Check` for `sqlx::Pool<DB>`: PostgreSQL, MySQL/MariaDB, SQLite and
//! `Any`, for sqlx 0.8 (feature `sqlx`) and sqlx 0.9 (feature `sqlx-0-9`).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::pool::{self, Acquired, PooledBackend};
use crate::check::CheckError;

fn unavailable(detail: impl std::fmt::Display + Send + Sync + 'static) -> CheckError {
    CheckError::unavailable(CheckError::DATABASE).with_detail(detail)
}

/// The same check for each supported sqlx major version: the crates differ,
/// the API used here does not.
macro_rules! pool_check {
    ($sqlx:ident) => {
        impl<DB> PooledBackend for $sqlx::Pool<DB>
        where
            DB: $sqlx::Database,
            for<'c> &'c mut DB::Connection: $sqlx::Executor<'c, Database = DB>,
        {
            type Connection = DB::Connection;
            type Lent = $sqlx::pool::PoolConnection<DB>;
            type Recipe = ();
            const PUBLIC: &'static str = CheckError::DATABASE;
            const PING: &'static str = "SELECT 1";

            fn looks_saturated(&self) -> bool {
                self.num_idle() == 0 && self.size() >= self.options().get_max_connections()
            }

            async fn take(&self) -> Acquired<Self::Lent> {
                if self.is_closed() {
                    return Acquired::Failed(unavailable("the pool is closed"));
                }
                match self.acquire().await {
                    Ok(connection) => Acquired::Connection(connection),
                    Err($sqlx::Error::PoolTimedOut) => Acquired::NoneInTime,
                    Err(error) => Acquired::Failed(unavailable(error)),
                }
            }

            async fn open(&self, _recipe: Option<()>) -> Result<DB::Connection, CheckError> {
                let options = self.connect_options();
                $sqlx::ConnectOptions::connect(&*options)
                    .await
                    .map_err(unavailable)
            }

            // Boxed so that the check's future is `Send` without the
            // compiler having to prove it through the higher-ranked
            // `Executor` bound, which it cannot. As a simple query, nothing
            // is prepared or cached.
            fn ping(
                connection: &mut DB::Connection,
            ) -> impl Future<Output = Result<(), CheckError>> + Send + '_ {
                let query: Pin<Box<dyn Future<Output = _> + Send + '_>> =
                    Box::pin($sqlx::Executor::execute(connection, "SELECT 1"));
                async move { query.await.map(drop).map_err(unavailable) }
            }

            fn detach(lent: Self::Lent) {
                // Out of the pool (freeing its permit for a replacement),
                // and the socket closed without a round trip that could
                // hang: sqlx pings a returned connection with no timeout.
                drop(lent.detach());
            }

            fn in_use(&self) -> String {
                format!(
                    "{} of {}",
                    self.size(),
                    self.options().get_max_connections()
                )
            }
        }

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
        ///   check's own **spare connection** (one per check, opened with
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
                pool::check(self).await
            }

            /// The pool's `acquire_timeout`: sqlx spends it retrying a
            /// refused connect, and a connect that does not answer waits
            /// for it, so the app's own requests ride out an outage that
            /// short (a reset connection fails them at once). None once the
            /// pool is closed: every acquire fails at once then.
            fn patience(&self) -> Option<Duration> {
                (!self.is_closed()).then(|| self.options().get_acquire_timeout())
            }
        }
    };
}

#[cfg(feature = "sqlx")]
pool_check!(sqlx);

#[cfg(feature = "sqlx-0-9")]
pool_check!(sqlx09);
