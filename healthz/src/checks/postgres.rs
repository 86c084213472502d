//! `SELECT 1` on a tokio-postgres `Client`, or on a connection of a
//! deadpool-postgres `Pool`, under the deadline.
//!
//! A `Client` is one connection: a closed one fails at once, and a query
//! that does not answer before the deadline fails the check (the query
//! stays queued on the connection, whose task the application owns). A
//! pool follows the pooled rule of `super::pool`: a connection whose query
//! failed or timed out is detached, so that the pool replaces it, and busy
//! is reported only when a probe connection, opened by the pool's own
//! manager outside the pool, proves that the server answers.
//!
//! Configure the client's own timeouts too (`connect_timeout`,
//! `tcp_user_timeout`, keepalives on `tokio_postgres::Config`; `timeouts`
//! on deadpool's `PoolConfig`, and `create_pool` rather than waiting for a
//! first connection, so that the application starts while the database is
//! down): the check's deadline bounds the probe, theirs bound your
//! application's requests.

use super::deadline::in_time;
use crate::check::CheckError;

/// Runs `SELECT 1` on `client`, without the deadline.
async fn select_one(client: &tokio_postgres::Client) -> Result<(), tokio_postgres::Error> {
    client.simple_query("SELECT 1").await.map(drop)
}

/// `SELECT 1` on `client`, before the deadline.
async fn select_one_in_time(client: &tokio_postgres::Client) -> Result<(), CheckError> {
    if client.is_closed() {
        return Err(CheckError::unavailable(CheckError::DATABASE)
            .with_detail("the connection to the database is closed"));
    }
    in_time(CheckError::DATABASE, "SELECT 1", select_one(client)).await
}

#[diagnostic::do_not_recommend]
impl crate::Check for tokio_postgres::Client {
    async fn check(&self) -> Result<(), CheckError> {
        select_one_in_time(self).await
    }
}

#[cfg(feature = "deadpool-postgres")]
#[diagnostic::do_not_recommend]
impl crate::Check for deadpool_postgres::Pool {
    async fn check(&self) -> Result<(), CheckError> {
        // The manager's `create` opens a connection outside the pool.
        use deadpool::managed::Manager as _;
        use deadpool_postgres::{ClientWrapper, Object};

        use super::pool::Ping;

        fn probe_ping(client: &mut ClientWrapper) -> Ping<'_, tokio_postgres::Error> {
            Box::pin(select_one(client))
        }

        let use_pooled = |connection: Object| async move {
            let result = select_one_in_time(&connection).await;
            if result.is_err() {
                // A connection that failed or hung must not go back to the
                // pool for the application's next request.
                drop(Object::take(connection));
            }
            result
        };
        let open = || self.manager().create();
        super::pool::deadpool(self, CheckError::DATABASE, use_pooled, open, probe_ping).await
    }
}
