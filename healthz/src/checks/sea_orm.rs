//! `Check` for `sea_orm::DatabaseConnection` (sea-orm 2, feature `sea-orm`).
//!
//! With only `sea-orm`, the check is sea-orm's own `ping` under the
//! deadline, whatever driver your sea-orm dependency turned on. A sqlx
//! backend's `ping` waits for a pooled connection first, so on a pool whose
//! every connection is in use it cannot tell busy from down, and fails at
//! the deadline. Turn on the feature that matches your sea-orm driver
//! (`sea-orm-postgres`, `sea-orm-mysql`, `sea-orm-sqlite`) and the check
//! runs on the sqlx pool inside the connection with the pooled rule of the
//! sqlx check instead: failed connections detached, busy only when proven
//! on a spare connection.

use std::time::Duration;

use sea_orm::DatabaseConnection;
#[cfg(any(
    feature = "sea-orm-postgres",
    feature = "sea-orm-mysql",
    feature = "sea-orm-sqlite"
))]
use sea_orm::DatabaseConnectionType;

use super::deadline::in_time;
use crate::check::CheckError;

#[diagnostic::do_not_recommend]
impl crate::Check for DatabaseConnection {
    async fn check(&self) -> Result<(), CheckError> {
        match &self.inner {
            #[cfg(feature = "sea-orm-postgres")]
            DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
                return crate::Check::check(self.get_postgres_connection_pool()).await
            }
            #[cfg(feature = "sea-orm-mysql")]
            DatabaseConnectionType::SqlxMySqlPoolConnection(_) => {
                return crate::Check::check(self.get_mysql_connection_pool()).await
            }
            #[cfg(feature = "sea-orm-sqlite")]
            DatabaseConnectionType::SqlxSqlitePoolConnection(_) => {
                return crate::Check::check(self.get_sqlite_connection_pool()).await
            }
            _ => {}
        }
        ping(self).await
    }

    /// The sqlx pool's (its `acquire_timeout`), on a pool-backed
    /// connection; `None` otherwise.
    fn patience(&self) -> Option<Duration> {
        match &self.inner {
            #[cfg(feature = "sea-orm-postgres")]
            DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
                crate::Check::patience(self.get_postgres_connection_pool())
            }
            #[cfg(feature = "sea-orm-mysql")]
            DatabaseConnectionType::SqlxMySqlPoolConnection(_) => {
                crate::Check::patience(self.get_mysql_connection_pool())
            }
            #[cfg(feature = "sea-orm-sqlite")]
            DatabaseConnectionType::SqlxSqlitePoolConnection(_) => {
                crate::Check::patience(self.get_sqlite_connection_pool())
            }
            _ => None,
        }
    }
}

/// sea-orm's `ping`, under the deadline.
async fn ping(connection: &DatabaseConnection) -> Result<(), CheckError> {
    in_time(CheckError::DATABASE, "ping", connection.ping()).await
}
