//! `Check` for a bb8 `Pool<M>` (bb8 0.9), for any connection manager that
//! implements [`Manager`] (its public message and its ping): bb8-postgres
//! (feature `bb8-postgres`, `SELECT 1`) and bb8-redis (feature `bb8-redis`,
//! `PING`) here, a few lines for any other manager.
//!
//! The check takes a connection from the application's own pool and pings
//! it, both before the deadline, and proves busy on a **spare connection**
//! opened with `Pool::dedicated_connection` (the manager's `connect` and
//! the pool's connection customizer, outside the pool), under the pooled
//! rule the crate's other pools follow.
//!
//! # What bb8 does not allow
//!
//! A connection cannot be taken out of a bb8 pool: `PooledConnection::take`
//! is private to bb8 (0.9.1, the newest release), and a connection dropped
//! goes back unless the manager's `has_broken` says it is broken. So a
//! connection whose ping failed or hung is not detached as the other pools'
//! are. The check does what bb8 allows instead:
//!
//! - it **replaces** it: a connection opened outside the pool (tried once
//!   per check timeout, for up to the pool's `connection_timeout`, while
//!   the failed one is held out of the pool) takes its place, and the
//!   failed one is closed. A dead connection to a live server never goes
//!   back to your requests.
//! - when no connection can be opened (the database is down), the failed
//!   one goes back after the pool's `connection_timeout`, and bb8 judges
//!   it: `has_broken` at once (bb8-postgres drops a closed client), then,
//!   with `test_on_check_out`, `is_valid` at the next `get`, which drops a
//!   connection that fails it. A connection that **hangs** stays until its
//!   socket errors: set TCP keepalives (and `tcp_user_timeout` on a
//!   tokio-postgres `Config`) so that it does.
//! - with `test_on_check_out` on (bb8's default), bb8 tests a connection
//!   before it lends it: a half-open one hangs that test, each `get` that
//!   draws it waits out the pool's `connection_timeout`, and the check is
//!   never lent it to replace it. The server answers on the spare
//!   connection, so the pool reads as busy (still ready) for the check's
//!   `busy_limit`, then as down, until the socket errors. With
//!   `test_on_check_out(false)` the check is lent it and replaces it.
//!
//! Configure the pool with a `connection_timeout` within your request
//! budget, and build it with `build_unchecked`, so that the application
//! starts while the database is down.

use std::fmt::Display;
use std::future::Future;
use std::ops::{Deref, DerefMut};

use tokio::time::{timeout_at, Instant};

use super::pool::{self, Acquired, PooledBackend};
use crate::check::{self, CheckError};
use crate::config::Config;

/// A bb8 connection manager the check can describe: the public message of
/// a failure and one round trip on a connection. The pool cannot lend the
/// check its manager, so the manager's own `is_valid` is out of reach: the
/// round trip is a function of the connection alone.
///
/// ```ignore
/// impl healthz::checks::bb8::Manager for SearchManager {
///     const PUBLIC: &'static str = "cannot connect to search.";
///     const PING: &'static str = "GET /_cluster/health";
///     async fn ping(client: &mut SearchClient) -> Result<(), healthz::CheckError> {
///         client.health().await.map_err(|e| {
///             healthz::CheckError::unavailable(Self::PUBLIC).with_detail(e)
///         })
///     }
/// }
/// ```
pub trait Manager: bb8::ManageConnection<Error: Display + Send + Sync> {
    /// The public message of a failure (`cannot connect to database.`).
    const PUBLIC: &'static str;
    /// The round trip [`ping`](Self::ping) makes, as the log names it.
    const PING: &'static str;

    /// One round trip on `connection`, lent or spare; the check bounds it
    /// by its deadline.
    fn ping(
        connection: &mut Self::Connection,
    ) -> impl Future<Output = Result<(), CheckError>> + Send + '_;
}

/// A connection the pool lent the check, with the pool it came from (to
/// replace it there if it fails).
pub(crate) struct Lent<M: bb8::ManageConnection> {
    connection: bb8::PooledConnection<'static, M>,
    pool: bb8::Pool<M>,
}

impl<M: bb8::ManageConnection> Deref for Lent<M> {
    type Target = M::Connection;

    fn deref(&self) -> &M::Connection {
        &self.connection
    }
}

impl<M: bb8::ManageConnection> DerefMut for Lent<M> {
    fn deref_mut(&mut self) -> &mut M::Connection {
        &mut self.connection
    }
}

impl<M: Manager> PooledBackend for bb8::Pool<M> {
    type Connection = M::Connection;
    type Lent = Lent<M>;
    type Recipe = ();
    const PUBLIC: &'static str = M::PUBLIC;
    const PING: &'static str = M::PING;

    fn looks_saturated(&self) -> bool {
        let state = self.state();
        state.idle_connections == 0 && state.connections >= self.config().max_size
    }

    async fn take(&self) -> Acquired<Lent<M>> {
        match self.get_owned().await {
            Ok(connection) => Acquired::Connection(Lent {
                connection,
                pool: self.clone(),
            }),
            Err(bb8::RunError::TimedOut) => Acquired::NoneInTime,
            Err(bb8::RunError::User(error)) => {
                Acquired::Failed(CheckError::unavailable(M::PUBLIC).with_detail(error))
            }
        }
    }

    async fn open(&self, _recipe: Option<()>) -> Result<M::Connection, CheckError> {
        self.dedicated_connection()
            .await
            .map_err(|error| CheckError::unavailable(M::PUBLIC).with_detail(error))
    }

    fn ping(
        connection: &mut M::Connection,
    ) -> impl Future<Output = Result<(), CheckError>> + Send + '_ {
        M::ping(connection)
    }

    /// bb8 cannot give the connection up (see the module documentation):
    /// a connection opened now takes its place, and the failed one is
    /// closed; failing that, the failed one goes back for bb8 to judge.
    fn detach(lent: Lent<M>) {
        let Lent {
            mut connection,
            pool,
        } = lent;
        let give_up = Instant::now() + pool.config().connection_timeout;
        let attempt = check::config().map_or(Config::DEFAULT_PROBE_TIMEOUT, |c| c.timeout);
        tokio::spawn(async move {
            while Instant::now() < give_up {
                let next = (Instant::now() + attempt).min(give_up);
                match timeout_at(next, pool.dedicated_connection()).await {
                    Ok(Ok(fresh)) => {
                        let failed = std::mem::replace(&mut *connection, fresh);
                        drop(connection);
                        drop(failed);
                        return;
                    }
                    Ok(Err(_refused)) => tokio::time::sleep_until(next).await,
                    Err(_late) => {}
                }
            }
        });
    }

    fn in_use(&self) -> String {
        let state = self.state();
        format!(
            "{} of {}",
            state.connections - state.idle_connections,
            self.config().max_size
        )
    }
}

/// Takes a connection from the application's own bb8 pool and pings it,
/// both before the deadline, under the pooled rule; a connection that
/// failed is replaced when a new one can be opened (see the module
/// documentation for what bb8 does not allow).
#[diagnostic::do_not_recommend]
impl<M: Manager> crate::Check for bb8::Pool<M> {
    async fn check(&self) -> Result<(), CheckError> {
        pool::check(self).await
    }

    /// The pool's `connection_timeout` when it retries failed connects
    /// (`retry_connection`, on by default): how long the application's
    /// `get` keeps trying before it fails.
    fn patience(&self) -> Option<std::time::Duration> {
        let config = self.config();
        config.retry_connection.then_some(config.connection_timeout)
    }
}

#[cfg(feature = "bb8-postgres")]
impl<Tls> Manager for bb8_postgres::PostgresConnectionManager<Tls>
where
    Tls:
        tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket> + Clone + Send + Sync + 'static,
    Tls::Stream: Send + Sync,
    Tls::TlsConnect: Send + Sync,
    <Tls::TlsConnect as tokio_postgres::tls::TlsConnect<tokio_postgres::Socket>>::Future: Send,
{
    const PUBLIC: &'static str = CheckError::DATABASE;
    const PING: &'static str = "SELECT 1";

    fn ping(
        client: &mut tokio_postgres::Client,
    ) -> impl Future<Output = Result<(), CheckError>> + Send + '_ {
        super::postgres::select_one_in_time(client)
    }
}

#[cfg(feature = "bb8-redis")]
impl Manager for bb8_redis::RedisConnectionManager {
    const PUBLIC: &'static str = CheckError::REDIS;
    const PING: &'static str = "PING";

    fn ping(
        connection: &mut redis::aio::MultiplexedConnection,
    ) -> impl Future<Output = Result<(), CheckError>> + Send + '_ {
        super::redis::ping(connection)
    }
}
