//! RabbitMQ (lapin 4): a `lapin::Connection`, or a connection of a
//! deadpool-lapin `Pool`, is connected, not blocked by the broker, and
//! opens a channel and closes it again before the deadline (the round
//! trip: `Channel.Open`, `Channel.Close`, each answered by the broker).
//!
//! A connection the broker has **blocked** (a memory or disk alarm) fails:
//! the broker stops reading from it, so every publish of the application's
//! hangs. The broker blocks only connections that publish, so a consumer's
//! connection is not failed by an alarm.
//!
//! One `Connection` is one socket: once it is lost, the check (like every
//! call of yours through it) fails until the connection is replaced, and
//! lapin's own recovery (`ConnectionProperties::enable_auto_recover`) has
//! been seen to stay in "reconnecting" for good when the socket died with
//! frames still queued, as it does under load. A pool replaces a lost
//! connection on the next `get`, and follows the pooled rule of
//! `super::pool`: a connection whose round trip failed or timed out is
//! detached, and busy is reported only when a spare connection, opened by
//! the pool's own manager outside the pool, proves that the broker answers.

use lapin::protocol::constants::REPLY_SUCCESS;
use lapin::{Connection, ConnectionStatus};

use super::deadline::in_time;
use crate::check::CheckError;

/// Public message of a RabbitMQ check that failed.
const RABBITMQ: &str = "cannot connect to rabbitmq.";

/// Public message of a connection the broker has blocked.
const BLOCKED: &str = "rabbitmq is blocking publishers.";

/// The connection's state, for the log detail (lapin keeps the state
/// itself private).
fn state(status: &ConnectionStatus) -> &'static str {
    if status.connecting() {
        "connecting"
    } else if status.reconnecting() {
        "reconnecting"
    } else if status.closing() {
        "closing"
    } else if status.closed() {
        "closed"
    } else if status.errored() {
        "failed"
    } else {
        "not yet connected"
    }
}

/// Opens a channel and closes it, without the deadline. A channel whose
/// open is cut short by the deadline is closed by lapin once its handle is
/// dropped, so none is left open on the broker.
async fn round_trip(connection: &Connection) -> Result<(), lapin::Error> {
    let channel = connection.create_channel().await?;
    channel.close(REPLY_SUCCESS, "healthz".into()).await
}

/// The connection's state, then the round trip before the deadline.
async fn check_connection(connection: &Connection) -> Result<(), CheckError> {
    let status = connection.status();
    if !status.connected() {
        return Err(CheckError::unavailable(RABBITMQ)
            .with_detail(format!("connection state: {}", state(status))));
    }
    if status.blocked() {
        return Err(CheckError::unavailable(BLOCKED).with_detail(
            "the broker sent Connection.Blocked (a memory or disk alarm): publishes hang",
        ));
    }
    in_time(
        RABBITMQ,
        "the channel open and close",
        round_trip(connection),
    )
    .await
}

#[diagnostic::do_not_recommend]
impl crate::Check for Connection {
    async fn check(&self) -> Result<(), CheckError> {
        check_connection(self).await
    }
}

#[cfg(feature = "deadpool-lapin")]
impl super::pool::DeadpoolBackend for deadpool_lapin::Manager {
    type Lent = deadpool_lapin::Object;
    const PUBLIC: &'static str = RABBITMQ;
    const PING: &'static str = "the channel open and close";

    fn ping(
        connection: &mut Connection,
    ) -> impl std::future::Future<Output = Result<(), CheckError>> + Send + '_ {
        check_connection(connection)
    }

    /// A blocked connection goes back: a new one would be blocked as well.
    fn detach(lent: deadpool_lapin::Object) {
        if !lent.status().blocked() {
            drop(deadpool_lapin::Object::take(lent));
        }
    }
}

/// Takes a connection from the application's own pool and checks it, both
/// before the deadline. A connection that failed or hung is taken out of
/// the pool and dropped (closed), never handed back; a blocked one goes
/// back (a new connection would be blocked as well).
#[cfg(feature = "deadpool-lapin")]
#[diagnostic::do_not_recommend]
impl crate::Check for deadpool_lapin::Pool {
    async fn check(&self) -> Result<(), CheckError> {
        super::pool::check(self).await
    }
}
