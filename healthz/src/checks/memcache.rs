//! memcached (memcache 0.21, a blocking client): checks for
//! `memcache::Client` and for [`MemcacheClient`], a client that can be built
//! while its servers are down and that names the server that fails.
//!
//! # Client settings you must set
//!
//! The memcache client blocks for as long as its sockets and pools allow:
//! by default a read waits forever and a pooled connection 30 seconds. The
//! check runs the client on tokio's blocking pool and stays in flight until
//! a call returns, so a black-holed server costs at most two stuck threads
//! per check (a call written off far past its timeout lets one more run
//! start, never a third), and the check keeps reporting a timeout until
//! the call gives up. Keep the client's timeouts below the check's:
//!
//! - `memcache::Client::connect` and `Client::builder().build()` fail when a
//!   server is down, so an app built on them crashes at startup instead of
//!   starting unready; and both clear a `?timeout=` given in the URL.
//! - [`connect_lazy`] builds one r2d2 pool per server without connecting
//!   (`build_unchecked`) and sets the socket and pool timeouts: use it.
//! - With `Client::builder()`, call `with_read_timeout`,
//!   `with_write_timeout` and `with_connection_timeout`.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use crate::check::{blocking, CheckError};

/// Asks every server of the client for its `stats`, on tokio's blocking
/// pool. Every server must answer: one server down fails the check. (This
/// client does not say which server failed; a [`MemcacheClient`] does.)
#[diagnostic::do_not_recommend]
impl crate::Check for memcache::Client {
    async fn check(&self) -> Result<(), CheckError> {
        let client = self.clone();
        match blocking(move || client.stats()).await? {
            Ok(servers) if !servers.is_empty() => Ok(()),
            Ok(_) => Err(cache_error("the memcache client has no servers")),
            Err(error) => Err(cache_error(error)),
        }
    }
}

fn cache_error(detail: impl fmt::Display + Send + Sync + 'static) -> CheckError {
    CheckError::unavailable(CheckError::CACHE).with_detail(detail)
}

/// A `memcache::Client` that knows its servers: built by [`connect_lazy`]
/// while they may be down, used exactly like a `memcache::Client` (it
/// dereferences to one), and checked server by server, so that the log
/// names the server that failed.
#[derive(Clone)]
pub struct MemcacheClient {
    client: memcache::Client,
    servers: Arc<[Server]>,
}

struct Server {
    /// `host:port`, without credentials: safe for logs.
    name: String,
    client: memcache::Client,
}

impl MemcacheClient {
    /// The underlying client.
    pub fn client(&self) -> &memcache::Client {
        &self.client
    }

    /// The servers, as `host:port`.
    pub fn servers(&self) -> impl Iterator<Item = &str> {
        self.servers.iter().map(|s| s.name.as_str())
    }
}

impl Deref for MemcacheClient {
    type Target = memcache::Client;

    fn deref(&self) -> &memcache::Client {
        &self.client
    }
}

impl fmt::Debug for MemcacheClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemcacheClient")
            .field("servers", &self.servers().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Asks each server for its `stats`, one after the other on one thread of
/// tokio's blocking pool. Every server must answer; the detail logged on
/// failure names each server that did not, and why.
#[diagnostic::do_not_recommend]
impl crate::Check for MemcacheClient {
    async fn check(&self) -> Result<(), CheckError> {
        let servers = Arc::clone(&self.servers);
        let failures = blocking(move || {
            servers
                .iter()
                .filter_map(|server| match server.client.stats() {
                    Ok(stats) if stats.len() == 1 => None,
                    Ok(stats) => Some(format!(
                        "{}: {} stats answers for one server",
                        server.name,
                        stats.len()
                    )),
                    Err(error) => Some(format!("{}: {error}", server.name)),
                })
                .collect::<Vec<_>>()
        })
        .await?;
        if failures.is_empty() {
            return Ok(());
        }
        Err(cache_error(format!(
            "{} of {} memcached servers did not answer: {}",
            failures.len(),
            self.servers.len(),
            failures.join("; ")
        )))
    }
}

/// Builds a [`MemcacheClient`] that does not need its servers to be up: one
/// r2d2 pool per server, built unchecked (no connection is opened until one
/// is needed), with `timeout` as the socket read/write timeout of every
/// connection and as the wait for a pooled connection.
///
/// Choose a `timeout` below the check's, so that a dead server is reported
/// as `cannot connect to cache.` rather than as a timeout.
///
/// ```no_run
/// # fn main() -> Result<(), memcache::MemcacheError> {
/// use std::time::Duration;
/// let cache = healthz::checks::memcache::connect_lazy(
///     &["memcache://127.0.0.1:11211", "memcache://127.0.0.1:11212"],
///     Duration::from_millis(250),
/// )?;
/// cache.set("greeting", "hello", 60)?; // a `memcache::Client` method
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// No URL, a URL that does not parse, or a scheme other than `memcache`.
pub fn connect_lazy(
    urls: &[&str],
    timeout: Duration,
) -> Result<MemcacheClient, memcache::MemcacheError> {
    if urls.is_empty() {
        return Err(memcache::MemcacheError::BadURL(
            "no memcached server given".to_owned(),
        ));
    }
    let mut pools = Vec::with_capacity(urls.len());
    let mut servers = Vec::with_capacity(urls.len());
    for url in urls {
        let mut url = memcache::Url::parse(url)?;
        if url.scheme() != "memcache" {
            return Err(memcache::MemcacheError::BadURL(format!(
                "unsupported scheme `{}`: expected `memcache://host:port`",
                url.scheme()
            )));
        }
        let name = format!(
            "{}:{}",
            url.host_str().unwrap_or("?"),
            url.port().unwrap_or(11211)
        );
        url.query_pairs_mut()
            .append_pair("timeout", &timeout.as_secs_f64().to_string());
        let pool = r2d2::Pool::builder()
            .max_size(4)
            .min_idle(Some(0))
            .connection_timeout(timeout)
            .build_unchecked(memcache::ConnectionManager::new(url));
        servers.push(Server {
            name,
            client: memcache::Client::with_pool(pool.clone())?,
        });
        pools.push(pool);
    }
    Ok(MemcacheClient {
        client: memcache::Client::with_pools(pools)?,
        servers: servers.into(),
    })
}
