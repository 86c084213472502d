//! `SELECT 1` on a connection of a mysql_async `Pool` (MySQL, MariaDB),
//! under the pooled rule of `super::pool`.
//!
//! - A connection whose query failed or did not answer before the deadline
//!   is never handed back as it is: mysql_async marks a connection
//!   disconnected for the length of each command, and clears the mark only
//!   when the command ends with an answer, so the pool discards a
//!   connection whose query was cut short at the deadline or failed on the
//!   socket, and opens a new one on demand. Dropping it detaches it.
//! - Busy is proven on a spare connection opened outside the pool. The
//!   pool keeps its options to itself, so the spare is opened with the
//!   options of the last connection the pool lent the check: until the
//!   pool has lent it one, a saturated pool cannot be shown busy and fails.
//!
//! The check's own `get_conn` is dropped at its deadline when the pool
//! gives it nothing in time, as any bounded wait is: see below for what
//! that can cost a request queued behind it.
//!
//! mysql_async has no connect timeout, and its pool loses a wakeup when a
//! `get_conn` it woke is dropped (the requests queued behind it then wait
//! beside idle connections until another connection comes back): bound
//! your requests' waits by running `get_conn` in a task of its own
//! (`tokio::spawn(pool.get_conn())`) and timing out the wait for the task
//! rather than cancelling the `get_conn`, set `tcp_keepalive`, and keep
//! `prefer_socket(false)` when the server is reached through a proxy or a
//! Service address (mysql_async otherwise switches a connection to the
//! server's Unix socket when it finds one on the same host). `Pool::new`
//! connects nothing, so the application starts while the database is down.

use std::ops::{Deref, DerefMut};

use mysql_async::prelude::Queryable;

use super::pool::{self, Acquired, PooledBackend};
use crate::check::CheckError;

fn unavailable(detail: impl std::fmt::Display + Send + Sync + 'static) -> CheckError {
    CheckError::unavailable(CheckError::DATABASE).with_detail(detail)
}

/// A connection the pool lent the check.
pub(crate) struct Lent(mysql_async::Conn);

impl Deref for Lent {
    type Target = mysql_async::Conn;

    fn deref(&self) -> &mysql_async::Conn {
        &self.0
    }
}

impl DerefMut for Lent {
    fn deref_mut(&mut self) -> &mut mysql_async::Conn {
        &mut self.0
    }
}

impl PooledBackend for mysql_async::Pool {
    type Connection = mysql_async::Conn;
    type Lent = Lent;
    type Recipe = mysql_async::Opts;
    const PUBLIC: &'static str = CheckError::DATABASE;
    const PING: &'static str = "SELECT 1";

    fn looks_saturated(&self) -> bool {
        let metrics = self.metrics();
        let load = |count: &std::sync::atomic::AtomicUsize| {
            count.load(std::sync::atomic::Ordering::Relaxed)
        };
        load(&metrics.connections_in_pool) == 0
            && load(&metrics.connections_in_use) > 0
            && load(&metrics.active_wait_requests) > 0
    }

    async fn take(&self) -> Acquired<Lent> {
        match self.get_conn().await {
            Ok(connection) => Acquired::Connection(Lent(connection)),
            Err(error) => Acquired::Failed(unavailable(error)),
        }
    }

    fn recipe(lent: &Lent) -> Option<mysql_async::Opts> {
        Some(lent.opts().clone())
    }

    async fn open(
        &self,
        recipe: Option<mysql_async::Opts>,
    ) -> Result<mysql_async::Conn, CheckError> {
        let Some(opts) = recipe else {
            return Err(unavailable(
                "the pool has not lent the check a connection yet, so the spare \
                 connection cannot be opened (the pool does not tell its options)",
            ));
        };
        mysql_async::Conn::new(opts).await.map_err(unavailable)
    }

    async fn ping(connection: &mut mysql_async::Conn) -> Result<(), CheckError> {
        connection.query_drop("SELECT 1").await.map_err(unavailable)
    }

    fn detach(lent: Lent) {
        // Still marked disconnected by the query that failed or was cut
        // short: the pool discards it (see the module documentation).
        drop(lent);
    }

    fn in_use(&self) -> String {
        let metrics = self.metrics();
        format!(
            "{} of {} open",
            metrics
                .connections_in_use
                .load(std::sync::atomic::Ordering::Relaxed),
            metrics
                .connection_count
                .load(std::sync::atomic::Ordering::Relaxed)
        )
    }
}

/// Takes a connection from the application's own pool and runs `SELECT 1`
/// on it, both before the deadline, under the pooled rule of the module
/// documentation.
#[diagnostic::do_not_recommend]
impl crate::Check for mysql_async::Pool {
    async fn check(&self) -> Result<(), CheckError> {
        pool::check(self).await
    }
}
