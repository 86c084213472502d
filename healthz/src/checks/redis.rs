//! Redis (redis 1.x): `PING` on a `ConnectionManager`, a
//! `MultiplexedConnection` or a deadpool-redis `Pool`, under the deadline.
//!
//! Set the client's own timeouts too (`ConnectionManagerConfig::
//! set_response_timeout` and `set_connection_timeout`,
//! `AsyncConnectionConfig` for a multiplexed connection): the check's
//! deadline bounds the probe, theirs bound your application's requests.

use redis::aio::ConnectionLike;

use super::deadline::in_time;
use crate::check::CheckError;

/// Sends `PING` on `connection` and expects `PONG`.
async fn ping_once<C: ConnectionLike + Send>(connection: &mut C) -> Result<(), String> {
    match redis::cmd("PING").query_async::<String>(connection).await {
        Ok(pong) if pong == "PONG" => Ok(()),
        Ok(other) => Err(format!("PING answered {other:?} instead of PONG")),
        Err(error) => Err(error.to_string()),
    }
}

/// Sends `PING` on `connection` and expects `PONG`, before the deadline.
pub(super) async fn ping<C: ConnectionLike + Send>(connection: &mut C) -> Result<(), CheckError> {
    in_time(CheckError::REDIS, "PING", ping_once(connection)).await
}

/// `PING` through the manager (which reconnects on its own after a
/// failure), on a clone that shares its connection.
#[diagnostic::do_not_recommend]
impl crate::Check for redis::aio::ConnectionManager {
    async fn check(&self) -> Result<(), CheckError> {
        ping(&mut self.clone()).await
    }
}

/// `PING` on a clone of the connection (clones share one multiplexed
/// socket). A multiplexed connection does not reconnect: once its socket is
/// gone the check keeps failing, which is the truth about that connection;
/// prefer a `ConnectionManager`.
#[diagnostic::do_not_recommend]
impl crate::Check for redis::aio::MultiplexedConnection {
    async fn check(&self) -> Result<(), CheckError> {
        ping(&mut self.clone()).await
    }
}

#[cfg(feature = "deadpool-redis")]
impl super::pool::DeadpoolBackend for deadpool_redis::Manager {
    type Lent = deadpool_redis::Connection;
    const PUBLIC: &'static str = CheckError::REDIS;
    const PING: &'static str = "PING";

    fn ping(
        connection: &mut redis::aio::MultiplexedConnection,
    ) -> impl std::future::Future<Output = Result<(), CheckError>> + Send + '_ {
        ping(connection)
    }

    fn detach(lent: deadpool_redis::Connection) {
        drop(deadpool_redis::Connection::take(lent));
    }
}

/// Takes a connection from the application's own pool and sends `PING`,
/// both before the deadline. A connection whose `PING` failed or timed out
/// is taken out of the pool and dropped, never handed back.
///
/// A pool that gives no connection in time is **busy** (degraded, still
/// ready) only when Redis answers `PING` on the check's own spare
/// connection (one per check, opened by the pool's manager outside the
/// pool when first needed, then reused), and only for the check's
/// `busy_limit` of continuous saturation; otherwise it fails.
#[cfg(feature = "deadpool-redis")]
#[diagnostic::do_not_recommend]
impl crate::Check for deadpool_redis::Pool {
    async fn check(&self) -> Result<(), CheckError> {
        super::pool::check(self).await
    }
}
