//! Redis (redis 1.x): `PING` on a `ConnectionManager`, a
//! `MultiplexedConnection` or a deadpool-redis `Pool`, under the deadline.
//!
//! Set the client's own timeouts too (`ConnectionManagerConfig::
//! set_response_timeout` and `set_connection_timeout`,
//! `AsyncConnectionConfig` for a multiplexed connection): the check's
//! deadline bounds the probe, theirs bound your application's requests.

use redis::aio::ConnectionLike;
use tokio::time::{timeout_at, Instant};

use super::check_deadline;
use crate::check::{CheckError, ErrorKind};

/// Public message of a Redis check that failed.
const REDIS: &str = "cannot connect to redis.";

/// Sends `PING` on `connection` and expects `PONG`, before `deadline`.
async fn ping<C: ConnectionLike + Send>(
    connection: &mut C,
    deadline: Instant,
) -> Result<(), CheckError> {
    match timeout_at(
        deadline,
        redis::cmd("PING").query_async::<String>(connection),
    )
    .await
    {
        Ok(Ok(pong)) if pong == "PONG" => Ok(()),
        Ok(Ok(other)) => Err(CheckError::unavailable(REDIS)
            .with_detail(format!("PING answered {other:?} instead of PONG"))),
        Ok(Err(error)) => Err(CheckError::unavailable(REDIS).with_detail(error)),
        Err(_elapsed) => Err(CheckError::new(ErrorKind::TimedOut, REDIS)
            .with_detail("PING did not answer before the deadline")),
    }
}

/// `PING` through the manager (which reconnects on its own after a
/// failure), on a clone that shares its connection.
#[diagnostic::do_not_recommend]
impl crate::Check for redis::aio::ConnectionManager {
    async fn check(&self) -> Result<(), CheckError> {
        ping(&mut self.clone(), check_deadline()).await
    }
}

/// `PING` on a clone of the connection (clones share one multiplexed
/// socket). A multiplexed connection does not reconnect: once its socket is
/// gone the check keeps failing, which is the truth about that connection;
/// prefer a `ConnectionManager`.
#[diagnostic::do_not_recommend]
impl crate::Check for redis::aio::MultiplexedConnection {
    async fn check(&self) -> Result<(), CheckError> {
        ping(&mut self.clone(), check_deadline()).await
    }
}

/// Takes a connection from the application's own pool and sends `PING`,
/// both before the deadline. A pool whose connections are all in use when
/// the check starts and stay so is **busy** (degraded, still ready). A
/// connection whose `PING` failed or timed out is taken out of the pool and
/// dropped, never handed back.
#[cfg(feature = "deadpool-redis")]
#[diagnostic::do_not_recommend]
impl crate::Check for deadpool_redis::Pool {
    async fn check(&self) -> Result<(), CheckError> {
        let deadline = check_deadline();
        let status = self.status();
        let saturated = status.available == 0 && status.size >= status.max_size;
        let mut connection = match timeout_at(deadline, self.get()).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(deadpool_redis::PoolError::Timeout(_))) | Err(_) if saturated => {
                return Err(super::pool_busy(status.size));
            }
            Ok(Err(error)) => return Err(CheckError::unavailable(REDIS).with_detail(error)),
            Err(_elapsed) => {
                return Err(CheckError::new(ErrorKind::TimedOut, REDIS)
                    .with_detail("timed out getting a pooled connection"));
            }
        };
        let result = ping(&mut connection, deadline).await;
        if result.is_err() {
            drop(deadpool_redis::Connection::take(connection));
        }
        result
    }
}
