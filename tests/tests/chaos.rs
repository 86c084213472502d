//! Chaos campaigns over two dependencies, each faulted on a schedule of its
//! own so that faults overlap: two memcached servers behind one client (one
//! server down, or slow, while the other serves), and a PostgreSQL pool
//! beside a memcached client, both used by every request of the app.
//! Scored as every backend's campaign is (`support::chaos`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use healthz::checks::memcache::{connect_lazy, MemcacheClient};
use healthz::HealthChecks;
use support::backend::{Backend, Dependency};
use support::servers::{Kind, Server, DATABASE, PASSWORD, USER};

/// The memcached client's own socket and pool timeout: longer than the
/// check's deadline, so that a server slower than the deadline but
/// answering within it serves the app's reads, and is only slow.
const CACHE_TIMEOUT: Duration = Duration::from_secs(1);

/// A read of one of eight keys, in turn: the client spreads them over its
/// servers, as an app's reads are.
async fn read(cache: &MemcacheClient) -> bool {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let key = format!("key-{}", NEXT.fetch_add(1, Ordering::Relaxed) % 8);
    let client = cache.client().clone();
    let read = tokio::task::spawn_blocking(move || client.get::<String>(&key));
    matches!(read.await, Ok(Ok(_)))
}

fn cache(servers: &[&Server], addrs: &[SocketAddr]) -> MemcacheClient {
    let urls: Vec<String> = servers
        .iter()
        .zip(addrs)
        .map(|(server, addr)| server.url_via(*addr))
        .collect();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    connect_lazy(&urls, CACHE_TIMEOUT).expect("memcache URLs")
}

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms", cache = "0s")]
struct CacheState {
    #[healthz(name = "cache", timeout = "400ms")]
    sessions: MemcacheClient,
}

/// One client over two memcached servers, the second started beside the
/// suite's own.
#[derive(Clone)]
struct TwoCaches {
    cache: MemcacheClient,
    second: Dependency,
}

impl Backend for TwoCaches {
    const KIND: Kind = Kind::Memcached;
    const ROUTE: &'static str = "/cache";
    const CHECK: &'static str = "cache";
    const MESSAGES: &'static [&'static str] =
        &["cannot connect to cache.", "timed out after 400ms."];
    const SECRETS: &'static [&'static str] = &["localhost"];
    const SLOW_WAIT: Duration = CACHE_TIMEOUT;
    type Client = TwoCaches;
    type State = CacheState;

    async fn client(server: &Server, addr: SocketAddr) -> TwoCaches {
        let second = Dependency::start(Kind::Memcached);
        let cache = {
            let other = second.server.lock().unwrap();
            cache(&[server, &*other], &[addr, second.addr()])
        };
        TwoCaches { cache, second }
    }

    fn state(client: &TwoCaches) -> CacheState {
        CacheState {
            sessions: client.cache.clone(),
        }
    }

    async fn request(client: TwoCaches) -> bool {
        read(&client.cache).await
    }

    fn also(client: &TwoCaches) -> Vec<Dependency> {
        vec![client.second.clone()]
    }
}

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms", cache = "0s")]
struct BothState {
    #[healthz]
    db: sqlx::PgPool,
    #[healthz(name = "cache", timeout = "400ms")]
    sessions: MemcacheClient,
}

/// A PostgreSQL pool (the suite's server) and a memcached client (started
/// beside it): every request of the app queries both.
#[derive(Clone)]
struct DatabaseAndCache {
    db: sqlx::PgPool,
    cache: MemcacheClient,
    second: Dependency,
}

/// How long the app's requests wait for a pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(1_500);

impl Backend for DatabaseAndCache {
    const KIND: Kind = Kind::Postgres;
    const ROUTE: &'static str = "/both";
    const CHECK: &'static str = "db";
    const MESSAGES: &'static [&'static str] = &[
        "cannot connect to database.",
        "cannot connect to cache.",
        "timed out after 500ms.",
        "timed out after 400ms.",
    ];
    const SECRETS: &'static [&'static str] = &[USER, PASSWORD, DATABASE, "localhost"];
    const SLOW_WAIT: Duration = CACHE_TIMEOUT;
    type Client = DatabaseAndCache;
    type State = BothState;

    async fn client(server: &Server, addr: SocketAddr) -> DatabaseAndCache {
        let db = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy(&server.url_via(addr))
            .expect("pool options");
        let second = Dependency::start(Kind::Memcached);
        let cache = {
            let memcached = second.server.lock().unwrap();
            cache(&[&*memcached], &[second.addr()])
        };
        DatabaseAndCache { db, cache, second }
    }

    fn state(client: &DatabaseAndCache) -> BothState {
        BothState {
            db: client.db.clone(),
            sessions: client.cache.clone(),
        }
    }

    async fn request(client: DatabaseAndCache) -> bool {
        let queried = sqlx::query("SELECT 1").execute(&client.db).await.is_ok();
        queried && read(&client.cache).await
    }

    /// The longer of the two clients' patience, the pool's: the campaign's
    /// allowance is one per run.
    fn patience(client: &DatabaseAndCache) -> Option<Duration> {
        healthz::Check::patience(&client.db)
    }

    fn also(client: &DatabaseAndCache) -> Vec<Dependency> {
        vec![client.second.clone()]
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_chaos_campaign_over_two_memcached_servers_one_client() {
    support::chaos::campaign::<TwoCaches>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_chaos_campaign_over_a_database_and_a_cache_faulted_apart() {
    support::chaos::campaign::<DatabaseAndCache>().await;
}
