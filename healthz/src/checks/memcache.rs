//! `Check` for `memcache::Client` (memcache 0.21, a blocking client), and a
//! way to build a client while its servers are down.

use crate::check::{blocking, CheckError};

/// Asks every server of the client for its `stats`, on tokio's blocking
/// pool. Every server must answer: one server down fails the check.
///
/// The client blocks for as long as its socket and pool timeouts allow, so
/// set them below the check's deadline (see the crate documentation on
/// building a memcache client). While a call is stuck past the deadline the
/// check stays in flight: probes report it as timing out and do not start
/// another call, so a black-holed server holds at most one thread.
impl crate::Check for memcache::Client {
    async fn check(&self) -> Result<(), CheckError> {
        let client = self.clone();
        match blocking(move || client.stats()).await? {
            Ok(servers) if !servers.is_empty() => Ok(()),
            Ok(_) => Err(CheckError::unavailable(CheckError::CACHE)
                .with_detail("the memcache client has no servers")),
            Err(error) => Err(CheckError::unavailable(CheckError::CACHE).with_detail(error)),
        }
    }
}

/// Builds a `memcache::Client` that does not need its servers to be up:
/// one r2d2 pool per server, built unchecked, with `timeout` as the socket
/// read/write timeout of every connection and as the wait for a pooled
/// connection.
///
/// `memcache::Client::connect` and `Client::builder().build()` fail outright
/// when a server is down, which would crash an app that should rather start
/// unready; they also clear a `?timeout=` given in the URL. Use this instead,
/// with a `timeout` below the check's deadline.
///
/// ```no_run
/// # fn main() -> Result<(), memcache::MemcacheError> {
/// use std::time::Duration;
/// let client = healthz::checks::memcache::connect_lazy(
///     &["memcache://127.0.0.1:11211", "memcache://127.0.0.1:11212"],
///     Duration::from_millis(250),
/// )?;
/// # let _ = client; Ok(()) }
/// ```
///
/// # Errors
///
/// A URL that does not parse or whose scheme is not `memcache`.
pub fn connect_lazy(
    urls: &[&str],
    timeout: std::time::Duration,
) -> Result<memcache::Client, memcache::MemcacheError> {
    let pools = urls
        .iter()
        .map(|url| {
            let mut url = memcache::Url::parse(url)?;
            if url.scheme() != "memcache" {
                return Err(memcache::MemcacheError::BadURL(format!(
                    "unsupported scheme `{}`: expected `memcache://host:port`",
                    url.scheme()
                )));
            }
            let seconds = timeout.as_secs_f64().to_string();
            url.query_pairs_mut().append_pair("timeout", &seconds);
            let pool = r2d2::Pool::builder()
                .max_size(4)
                .min_idle(Some(0))
                .connection_timeout(timeout)
                .build_unchecked(memcache::ConnectionManager::new(url));
            Ok(pool)
        })
        .collect::<Result<Vec<_>, memcache::MemcacheError>>()?;
    memcache::Client::with_pools(pools)
}
