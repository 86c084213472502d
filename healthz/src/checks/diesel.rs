//! diesel 2's synchronous connections in an r2d2 pool (features
//! `diesel-postgres`, `diesel-mysql`): [`Pool`], an r2d2 pool that keeps
//! its connection manager, checked under the pooled rule of `super::pool`
//! with every call on tokio's blocking pool.
//!
//! The check takes a connection from the application's own pool and runs
//! `SELECT 1` on it, both before the deadline; when the pool gives nothing
//! in time, busy is proven on a spare connection the check opens with the
//! pool's own manager (which an `r2d2::Pool` keeps to itself: hence this
//! type). Every call runs through [`blocking`], so
//! a call stuck on a dead socket holds a thread, never a runtime worker,
//! and holds new runs back until it returns or is written off.
//!
//! What r2d2 cannot do: take a connection out of the pool for good. A lent
//! connection whose `SELECT 1` failed goes back when it is dropped, and
//! r2d2's own check on checkout (`test_on_check_out`, on by default: keep
//! it) discards it before it reaches a request; one that hangs stays with
//! the check's blocking call, away from the requests, until its socket
//! gives up.
//!
//! # Client settings you must set
//!
//! - Build with [`Pool::new`], which builds lazily (`build_unchecked`), so
//!   the application starts while the database is down.
//! - `connection_timeout` on the builder (30 s by default) is how long the
//!   application's requests wait for a connection, retrying failed
//!   connects meanwhile: the check's patience (see
//!   [`FailAfter::Patience`](crate::FailAfter::Patience)).
//! - PostgreSQL: `connect_timeout=2` in the URL bounds a connect to a
//!   server that never answers (libpq waits for the kernel otherwise, a
//!   minute or more, holding a blocking thread).
//! - MySQL: diesel's URL takes no connect timeout, and libmysqlclient then
//!   waits for the kernel, which retries a dropped SYN for two minutes.
//!   The check does not let its spare connection wait so: for a
//!   `mysql://` URL naming a TCP host, it first opens a plain TCP
//!   connection to that host and port (async, dropped at the deadline),
//!   and calls libmysqlclient only once that connected. Behind a connect
//!   that hangs (a Service with no endpoints), no blocking call is left
//!   stuck to hold back the runs after it, and readiness turns back to
//!   200 as soon as connects go through again. That costs the server one
//!   bare TCP connection per spare opened, followed at once by the real
//!   one, whose success resets MySQL's `max_connect_errors` count. A
//!   server that accepts and then never answers still holds the connect
//!   until its socket gives up.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, ManageConnection, R2D2Connection};
use tokio::time::Instant;

use super::pool::{self, Acquired, PooledBackend};
use crate::check::{self, blocking, CheckError};

/// An r2d2 pool of diesel connections (`PgConnection`, `MysqlConnection`)
/// that keeps its manager, so the check can open a spare connection when
/// the pool is saturated. Use it as the `r2d2::Pool` it dereferences to.
pub struct Pool<C: R2D2Connection + 'static> {
    pool: r2d2::Pool<ConnectionManager<C>>,
    /// A manager of its own for the spare (diesel's manager is `Clone`
    /// only for a `Clone` connection).
    manager: Arc<ConnectionManager<C>>,
    /// Connected to before the spare is opened.
    preflight: Preflight,
}

impl<C: R2D2Connection + 'static> Pool<C> {
    /// Builds the pool of connections to `database_url` from `builder`
    /// without connecting (r2d2's `build_unchecked`), and a manager of the
    /// same URL for the check's spare connection.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// use diesel::pg::PgConnection;
    ///
    /// let pool = healthz::checks::diesel::Pool::<PgConnection>::new(
    ///     r2d2::Pool::builder()
    ///         .max_size(10)
    ///         .connection_timeout(Duration::from_secs(2)),
    ///     "postgres://app@127.0.0.1/app?connect_timeout=2",
    /// );
    /// let mut connection = pool.get()?; // as with any r2d2 pool
    /// # Ok::<(), r2d2::Error>(())
    /// ```
    pub fn new(
        builder: r2d2::Builder<ConnectionManager<C>>,
        database_url: impl Into<String>,
    ) -> Self {
        let database_url = database_url.into();
        Self {
            pool: builder.build_unchecked(ConnectionManager::new(database_url.clone())),
            preflight: Preflight::of(&database_url),
            manager: Arc::new(ConnectionManager::new(database_url)),
        }
    }

    /// The underlying r2d2 pool.
    pub fn pool(&self) -> &r2d2::Pool<ConnectionManager<C>> {
        &self.pool
    }
}

impl<C: R2D2Connection + 'static> Clone for Pool<C> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            manager: Arc::clone(&self.manager),
            preflight: self.preflight.clone(),
        }
    }
}

impl<C: R2D2Connection + 'static> Deref for Pool<C> {
    type Target = r2d2::Pool<ConnectionManager<C>>;

    fn deref(&self) -> &Self::Target {
        &self.pool
    }
}

impl<C: R2D2Connection + 'static> fmt::Debug for Pool<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("state", &self.pool.state())
            .finish_non_exhaustive()
    }
}

/// A connection, lent or spare, that a blocking call can carry away and
/// bring back: a call dropped at the deadline keeps it until it returns.
pub(crate) struct Held<C>(Option<Box<dyn DerefMut<Target = C> + Send>>);

/// A connection the application's pool lent, dropped back into it.
pub(crate) struct Lent<C>(Held<C>);

impl<C> Deref for Lent<C> {
    type Target = Held<C>;

    fn deref(&self) -> &Held<C> {
        &self.0
    }
}

impl<C> DerefMut for Lent<C> {
    fn deref_mut(&mut self) -> &mut Held<C> {
        &mut self.0
    }
}

/// The TCP host and port of a `mysql://` URL, connected to before the
/// spare is opened (see the module documentation); nothing for any other
/// URL, or without the `diesel-mysql` feature.
#[derive(Clone)]
struct Preflight(#[cfg(feature = "diesel-mysql")] Option<Arc<(String, u16)>>);

impl Preflight {
    #[cfg(feature = "diesel-mysql")]
    fn of(database_url: &str) -> Self {
        Self(mysql_tcp_address(database_url).map(Arc::new))
    }

    #[cfg(not(feature = "diesel-mysql"))]
    fn of(_database_url: &str) -> Self {
        Self()
    }

    /// Connects to the address over TCP and closes the connection: whether
    /// a connect goes through at all, asked without a thread to strand.
    async fn connect(&self) -> Result<(), CheckError> {
        #[cfg(feature = "diesel-mysql")]
        if let Some(address) = &self.0 {
            let (host, port) = &**address;
            tokio::net::TcpStream::connect((host.as_str(), *port))
                .await
                .map_err(|error| unavailable(format!("TCP connect to {host}:{port}: {error}")))?;
        }
        Ok(())
    }
}

/// The TCP host and port a `mysql://` URL connects to (3306 unless it
/// says); `None` for any other URL, one that names a Unix socket, and
/// `localhost`, which libmysqlclient reaches over its socket.
#[cfg(feature = "diesel-mysql")]
fn mysql_tcp_address(database_url: &str) -> Option<(String, u16)> {
    let url = url::Url::parse(database_url).ok()?;
    if url.scheme() != "mysql" || url.query_pairs().any(|(key, _)| key == "unix_socket") {
        return None;
    }
    let host = match url.host()? {
        url::Host::Domain("localhost") => return None,
        url::Host::Domain(name) => name.to_owned(),
        url::Host::Ipv4(address) => address.to_string(),
        url::Host::Ipv6(address) => address.to_string(),
    };
    Some((host, url.port().unwrap_or(3306)))
}

fn unavailable(detail: impl fmt::Display + Send + Sync + 'static) -> CheckError {
    CheckError::unavailable(CheckError::DATABASE).with_detail(detail)
}

impl<C> PooledBackend for Pool<C>
where
    C: R2D2Connection + SimpleConnection + Send + 'static,
{
    type Connection = Held<C>;
    type Lent = Lent<C>;
    type Recipe = ();
    const PUBLIC: &'static str = CheckError::DATABASE;
    const PING: &'static str = "SELECT 1";

    fn looks_saturated(&self) -> bool {
        let state = self.pool.state();
        state.idle_connections == 0 && state.connections >= self.pool.max_size()
    }

    async fn take(&self) -> Acquired<Lent<C>> {
        let pool = self.pool.clone();
        let wait = check::deadline_or_default().saturating_duration_since(Instant::now());
        match blocking(move || pool.get_timeout(wait)).await {
            Ok(Ok(lent)) => Acquired::Connection(Lent(Held(Some(Box::new(lent))))),
            // r2d2 tells a connect that failed meanwhile by its message.
            Ok(Err(error)) if error.to_string().contains(": ") => {
                Acquired::Failed(unavailable(error))
            }
            Ok(Err(_)) => Acquired::NoneInTime,
            Err(panicked) => Acquired::Failed(panicked),
        }
    }

    async fn open(&self, _recipe: Option<()>) -> Result<Held<C>, CheckError> {
        self.preflight.connect().await?;
        let manager = Arc::clone(&self.manager);
        match blocking(move || manager.connect()).await? {
            Ok(spare) => Ok(Held(Some(Box::new(Box::new(spare))))),
            Err(error) => Err(unavailable(error)),
        }
    }

    async fn ping(connection: &mut Held<C>) -> Result<(), CheckError> {
        let Some(mut carried) = connection.0.take() else {
            return Err(unavailable(
                "the connection is still held by an earlier call",
            ));
        };
        let (carried, result) = blocking(move || {
            let result = carried.batch_execute("SELECT 1");
            (carried, result)
        })
        .await?;
        connection.0 = Some(carried);
        result.map_err(unavailable)
    }

    fn detach(lent: Lent<C>) {
        // r2d2 cannot give a connection up: dropped, it goes back, and the
        // pool's check on checkout discards it if it is dead.
        drop(lent);
    }

    fn in_use(&self) -> String {
        let state = self.pool.state();
        format!(
            "{} of {}",
            state.connections - state.idle_connections,
            self.pool.max_size()
        )
    }
}

/// Takes a connection from the application's own pool and runs `SELECT 1`
/// on it, both before the deadline and on tokio's blocking pool; busy is
/// proven on a spare connection (see the [module documentation](self)).
#[diagnostic::do_not_recommend]
impl<C> crate::Check for Pool<C>
where
    C: R2D2Connection + SimpleConnection + Send + 'static,
{
    async fn check(&self) -> Result<(), CheckError> {
        pool::check(self).await
    }

    /// The pool's `connection_timeout`: how long the application's
    /// requests wait for a connection.
    fn patience(&self) -> Option<Duration> {
        Some(self.pool.connection_timeout())
    }
}

#[cfg(all(test, feature = "diesel-mysql"))]
mod tests {
    use super::mysql_tcp_address;

    #[test]
    fn the_preflight_address_is_a_mysql_urls_tcp_host_and_port() {
        let address = |url| mysql_tcp_address(url);
        let tcp = |host: &str, port| Some((host.to_owned(), port));
        assert_eq!(
            address("mysql://app:pw@127.0.0.1:3307/app"),
            tcp("127.0.0.1", 3307)
        );
        assert_eq!(
            address("mysql://app@db.internal/app"),
            tcp("db.internal", 3306)
        );
        assert_eq!(address("mysql://app@[::1]:3306/app"), tcp("::1", 3306));
        assert_eq!(address("mysql://app@localhost/app"), None);
        assert_eq!(
            address("mysql://app@db/app?unix_socket=/run/mysqld.sock"),
            None
        );
        assert_eq!(address("postgres://app@127.0.0.1/app"), None);
        assert_eq!(address("not a url"), None);
    }
}
