//! An `async_nats::Client`: connected, and a round trip through the server
//! before the deadline: a request on a subject nobody serves, which the
//! server itself answers with "no responders". (`flush` would not do: it
//! returns once the bytes are written, not once the server has answered.)
//!
//! The client reconnects by itself; the check reports what it finds in the
//! meantime and passes again once the client is back. The app's own
//! publishes wait for the reconnect meanwhile, so readiness holds a failure
//! for the client's request timeout before it counts (its patience; set
//! `fail_after` to choose otherwise). Build the client with
//! `ConnectOptions::retry_on_initial_connect()` so that the app starts
//! while the server is down, a `connection_timeout`, and a
//! `request_timeout` as long as your app's requests may wait.

use std::time::Duration;

use async_nats::connection::State;
use async_nats::RequestErrorKind;
use tokio::time::timeout_at;

use crate::check::{deadline_or_default, CheckError};

/// The subject of the round trip: nobody is meant to serve it.
const PING_SUBJECT: &str = "_healthz.ping";

/// Public message of a NATS check that failed.
const NATS: &str = "cannot connect to nats.";

#[diagnostic::do_not_recommend]
impl crate::Check for async_nats::Client {
    async fn check(&self) -> Result<(), CheckError> {
        let state = self.connection_state();
        if state != State::Connected {
            return Err(
                CheckError::unavailable(NATS).with_detail(format!("connection state: {state}"))
            );
        }
        let request = self.request(PING_SUBJECT, bytes::Bytes::new());
        match timeout_at(deadline_or_default(), request).await {
            // Somebody answers the subject after all: the server works.
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) if error.kind() == RequestErrorKind::NoResponders => Ok(()),
            Ok(Err(error)) => Err(CheckError::unavailable(NATS).with_detail(error)),
            Err(_elapsed) => Err(CheckError::timed_out(NATS)
                .with_detail("the server did not answer the round trip before the deadline")),
        }
    }

    /// The client's request timeout (`ConnectOptions::request_timeout`,
    /// 10 s unless set): while the client reconnects, the app's publishes
    /// and flushes wait for it, and its requests wait that long.
    fn patience(&self) -> Option<Duration> {
        self.timeout()
    }
}
