//! memcached (memcache 0.21, a blocking client): checks for
//! `memcache::Client` and for [`MemcacheClient`], a client that can be built
//! while its servers are down and that names the server that fails.
//!
//! # Client settings you must set
//!
//! The memcache client blocks for as long as its sockets and pools allow:
//! by default a read waits forever and a pooled connection 30 seconds. The
//! check runs the client on tokio's blocking pool. For a
//! `memcache::Client` it stays in flight until a call returns, so a
//! black-holed server costs at most two stuck threads per check (a call
//! written off far past its timeout lets one more run start, never a
//! third), and the check keeps reporting a timeout until the call gives
//! up: keep that client's timeouts below the check's. A [`MemcacheClient`]
//! keeps one call per server in flight at most, and its timeout is what
//! tells a slow server (answering within it, as the app's own requests
//! are: degraded, still ready) from a dead one (failing):
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
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

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
/// names the server that failed and a slow server is told from a dead one.
#[derive(Clone)]
pub struct MemcacheClient {
    client: memcache::Client,
    servers: Arc<[Server]>,
    /// The client's own timeout: the longest an app's request to one
    /// server waits for it.
    timeout: Duration,
}

struct Server {
    /// `host:port`, without credentials: safe for logs.
    name: String,
    client: memcache::Client,
    probe: Mutex<ServerProbe>,
}

/// The check's latest `stats` call to one server, and the one in flight.
#[derive(Default)]
struct ServerProbe {
    /// Since when, and what tells its end.
    outstanding: Option<(Instant, watch::Receiver<bool>)>,
    /// The latest call that ended: how long it took, or why it failed.
    answered: Option<Result<Duration, String>>,
}

/// What one server is, as its calls tell.
enum Standing {
    Up,
    /// Answering, slower than the check's deadline: `took` so far.
    Slow(Duration),
    Down(String),
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

    /// The end of a `stats` call to server `index`: the one in flight, or
    /// a new one on tokio's blocking pool. One call per server at most is
    /// ever in flight, so a black-holed server holds one thread.
    fn call(&self, index: usize) -> watch::Receiver<bool> {
        let server = &self.servers[index];
        let mut probe = lock(&server.probe);
        if let Some((_, ended)) = &probe.outstanding {
            return ended.clone();
        }
        let (end, ended) = watch::channel(false);
        probe.outstanding = Some((Instant::now(), ended.clone()));
        drop(probe);
        let servers = Arc::clone(&self.servers);
        tokio::task::spawn_blocking(move || {
            let server = &servers[index];
            let started = Instant::now();
            let answer = match server.client.stats() {
                Ok(stats) if stats.len() == 1 => Ok(started.elapsed()),
                Ok(stats) => Err(format!("{} stats answers for one server", stats.len())),
                Err(error) => Err(error.to_string()),
            };
            let mut probe = lock(&server.probe);
            probe.outstanding = None;
            probe.answered = Some(answer);
            drop(probe);
            end.send_replace(true);
        });
        ended
    }

    /// Server `index` at `now`, for a check whose deadline is `budget`.
    fn standing(&self, index: usize, now: Instant, budget: Duration) -> Standing {
        let probe = lock(&self.servers[index].probe);
        match (&probe.outstanding, &probe.answered) {
            (None, Some(Ok(took))) if *took > budget => Standing::Slow(*took),
            (None, Some(Ok(_))) => Standing::Up,
            (None, Some(Err(error))) => Standing::Down(error.clone()),
            (None, None) => Standing::Down("not asked".to_owned()),
            // Still waiting: slow while its latest call answered and this
            // one is within the client's own timeout, as the app's requests
            // to it are; otherwise down.
            (Some((since, _)), answered) => {
                let waited = now.saturating_duration_since(*since);
                if matches!(answered, Some(Ok(_))) && waited < self.timeout {
                    Standing::Slow(waited)
                } else {
                    Standing::Down(format!("no answer in {waited:?}"))
                }
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
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
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Asks every server for its `stats`, concurrently, one call per server at
/// most in flight (on tokio's blocking pool), and waits for them until the
/// check's deadline.
///
/// - A server that refuses, resets, fails or stays silent past the
///   client's own timeout is **down**, and fails the check: the app's
///   requests to it fail too. The detail logged names each such server.
/// - A server that answers, but slower than the check's deadline, is
///   **slow**: still answering within the client's timeout, as the app's
///   own requests to it are. The check reports it degraded (`slow: a
///   memcached server answers slowly.`) and the pod stays ready. A server
///   is slow only once it has answered: one silent from the start, or
///   since its latest call failed, is down.
#[diagnostic::do_not_recommend]
impl crate::Check for MemcacheClient {
    async fn check(&self) -> Result<(), CheckError> {
        let started = Instant::now();
        let deadline = crate::check::deadline_or_default();
        let budget = deadline.saturating_duration_since(started);
        let calls: Vec<_> = (0..self.servers.len()).map(|i| self.call(i)).collect();
        let all = crate::check::join_all(calls.into_iter().map(|mut ended| async move {
            let _ = ended.wait_for(|ended| *ended).await;
        }));
        let _ = tokio::time::timeout_at(deadline, all).await;
        let now = Instant::now();
        let mut down = Vec::new();
        let mut slow = Vec::new();
        for (index, server) in self.servers.iter().enumerate() {
            match self.standing(index, now, budget) {
                Standing::Up => {}
                Standing::Slow(took) => slow.push(format!("{}: {took:?}", server.name)),
                Standing::Down(why) => down.push(format!("{}: {why}", server.name)),
            }
        }
        if !down.is_empty() {
            return Err(cache_error(format!(
                "{} of {} memcached servers did not answer: {}",
                down.len(),
                self.servers.len(),
                down.join("; ")
            )));
        }
        if !slow.is_empty() {
            return Err(CheckError::busy(SLOW).with_detail(format!(
                "{} of {} memcached servers answer slower than the check's deadline: {}",
                slow.len(),
                self.servers.len(),
                slow.join("; ")
            )));
        }
        Ok(())
    }
}

/// The public message of a slow server.
const SLOW: &str = "slow: a memcached server answers slowly.";

/// Builds a [`MemcacheClient`] that does not need its servers to be up: one
/// r2d2 pool per server, built unchecked (no connection is opened until one
/// is needed), with `timeout` as the socket read/write timeout of every
/// connection and as the wait for a pooled connection.
///
/// Choose as `timeout` what your app's requests should wait for a server at
/// most: the check counts a server that answers within it, however slowly,
/// as up (reported `slow`, degraded), and one silent past it as down.
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
            probe: Mutex::default(),
        });
        pools.push(pool);
    }
    Ok(MemcacheClient {
        client: memcache::Client::with_pools(pools)?,
        servers: servers.into(),
        timeout,
    })
}
