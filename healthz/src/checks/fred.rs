//! Redis on fred (fred 10): a `Client` is connected and answers `PING`
//! before the deadline; a `Pool` is that for **every** one of its clients.
//!
//! A fred `Pool` is a fixed set of clients, each one connection, with the
//! application's commands spread over them in turn: one disconnected
//! client fails its share of the application's commands, so the pool is
//! ready only when every client is. The clients are pinged concurrently,
//! all under the one deadline.
//!
//! fred reconnects on its own (`ReconnectPolicy`) and, by default, queues
//! commands while it does: set `with_connection_config(|c|
//! c.connection_timeout = …)` and a `default_command_timeout` in its
//! `PerformanceConfig`, so that your own requests are bounded as the check
//! is. Start it with `connect()` and a `ReconnectPolicy` rather than by
//! awaiting `init()`, so that the application starts while Redis is down.

use fred::clients::{Client, Pool};
use fred::interfaces::ClientLike;

use super::deadline::in_time;
use crate::check::CheckError;

/// The client's connection state, then `PING` before the deadline.
async fn ping(client: &Client) -> Result<(), CheckError> {
    if !client.is_connected() {
        return Err(CheckError::unavailable(CheckError::REDIS)
            .with_detail(format!("connection state: {:?}", client.state())));
    }
    let pong: String = in_time(CheckError::REDIS, "PING", client.ping(None)).await?;
    if pong != "PONG" {
        return Err(CheckError::unavailable(CheckError::REDIS)
            .with_detail(format!("PING answered {pong:?} instead of PONG")));
    }
    Ok(())
}

#[diagnostic::do_not_recommend]
impl crate::Check for Client {
    async fn check(&self) -> Result<(), CheckError> {
        ping(self).await
    }
}

/// Every client of the pool connected and answering `PING`, concurrently;
/// the first failure is reported, and an empty pool fails.
#[diagnostic::do_not_recommend]
impl crate::Check for Pool {
    async fn check(&self) -> Result<(), CheckError> {
        if self.clients().is_empty() {
            return Err(
                CheckError::unavailable(CheckError::REDIS).with_detail("the pool has no client")
            );
        }
        let pings = self.clients().iter().map(ping);
        for result in crate::check::join_all(pings).await {
            result?;
        }
        Ok(())
    }
}
