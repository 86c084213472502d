//! `SELECT 1` on a tokio-postgres `Client`, or on a connection of a
//! deadpool-postgres `Pool`, under the deadline.
//!
//! A `Client` is one connection: a closed one fails at once, and a query
//! that does not answer before the deadline fails the check (the query
//! stays queued on the connection, whose task the application owns). A
//! pool follows the pooled rule of `super::pool`: a connection whose query
//! failed or timed out is detached, so that the pool replaces it, and busy
//! is reported only when a spare connection, opened by the pool's own
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

/// `SELECT 1` on `client`, before the deadline.
pub(super) async fn select_one_in_time(client: &tokio_postgres::Client) -> Result<(), CheckError> {
    if client.is_closed() {
        return Err(CheckError::unavailable(CheckError::DATABASE)
            .with_detail("the connection to the database is closed"));
    }
    let select_one = client.simple_query("SELECT 1");
    in_time(CheckError::DATABASE, "SELECT 1", select_one)
        .await
        .map(drop)
}

#[diagnostic::do_not_recommend]
impl crate::Check for tokio_postgres::Client {
    async fn check(&self) -> Result<(), CheckError> {
        select_one_in_time(self).await
    }
}

#[cfg(feature = "deadpool-postgres")]
impl super::pool::DeadpoolBackend for deadpool_postgres::Manager {
    type Lent = deadpool_postgres::Object;
    const PUBLIC: &'static str = CheckError::DATABASE;
    const PING: &'static str = "SELECT 1";

    fn ping(
        client: &mut deadpool_postgres::ClientWrapper,
    ) -> impl std::future::Future<Output = Result<(), CheckError>> + Send + '_ {
        select_one_in_time(client)
    }

    fn detach(lent: deadpool_postgres::Object) {
        drop(deadpool_postgres::Object::take(lent));
    }
}

/// Takes a connection from the application's own pool and runs `SELECT 1`
/// on it, both before the deadline, under the pooled rule of the module
/// documentation.
#[cfg(feature = "deadpool-postgres")]
#[diagnostic::do_not_recommend]
impl crate::Check for deadpool_postgres::Pool {
    async fn check(&self) -> Result<(), CheckError> {
        super::pool::check(self).await
    }
}
