//! The memcached checks against real memcached servers, through fault
//! proxies: the shared backend suite on either client, and two servers with
//! one of them down. A black hole must never pile up blocked threads.
//!
//! (A little over the usual size: the tests after the shared suite each
//! stand alone, with the client and runtime they need beside them.)

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use healthz::checks::memcache::{connect_lazy, MemcacheClient};
use healthz::HealthChecks;
use support::backend::Backend;
use support::fault::{Fault, FaultProxy};
use support::servers::{Kind, Server};
use support::verdict::{assert_recovers, assert_unready};
use support::{get, serve};

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms", cache = "0s")]
struct CacheState {
    #[healthz(name = "cache", timeout = "400ms")]
    sessions: MemcacheClient,
}

/// The plain client: same rules, without server names in the log.
#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms", cache = "0s")]
struct PlainState {
    #[healthz(name = "cache", timeout = "400ms")]
    sessions: memcache::Client,
}

const DEADLINE: Duration = Duration::from_millis(500);
const MESSAGES: &[&str] = &["cannot connect to cache.", "timed out after 400ms."];
const RECOVERY: Duration = Duration::from_secs(20);
/// The client's socket and pool timeout: below the check's.
const CLIENT_TIMEOUT: Duration = Duration::from_millis(250);

fn secrets(ports: &[u16]) -> Vec<String> {
    ports
        .iter()
        .map(u16::to_string)
        .chain(["localhost".to_owned()])
        .collect()
}

/// The app's own use of the cache, which must work again after recovery.
fn app_round_trip(client: &memcache::Client) {
    client
        .set("healthz-test", "value", 60)
        .expect("set after recovery");
    let value: Option<String> = client.get("healthz-test").expect("get after recovery");
    assert_eq!(value.as_deref(), Some("value"));
}

/// The app's `/cache`: reads a key through `client` on the blocking pool.
async fn read(client: memcache::Client) -> bool {
    let read = tokio::task::spawn_blocking(move || client.get::<String>("healthz-load"));
    matches!(read.await, Ok(Ok(_)))
}

/// What both memcached clients say to the suite: only the client differs.
macro_rules! memcached_backend {
    () => {
        const KIND: Kind = Kind::Memcached;
        const ROUTE: &'static str = "/cache";
        const CHECK: &'static str = "cache";
        const MESSAGES: &'static [&'static str] = MESSAGES;
        const RECOVERY: Duration = RECOVERY;
        const APP_CLIENTS: usize = 8;
        const SECRETS: &'static [&'static str] = &["localhost"];
    };
}

/// [`connect_lazy`]'s `MemcacheClient`, shared by the app and its check.
struct Lazy;

impl Backend for Lazy {
    memcached_backend!();
    type Client = MemcacheClient;
    type State = CacheState;

    async fn client(server: &Server, addr: SocketAddr) -> MemcacheClient {
        connect_lazy(&[&server.url_via(addr)], CLIENT_TIMEOUT).unwrap()
    }

    fn state(sessions: &MemcacheClient) -> CacheState {
        CacheState {
            sessions: sessions.clone(),
        }
    }

    async fn request(sessions: MemcacheClient) -> bool {
        read(sessions.client().clone()).await
    }

    async fn round_trip(sessions: &MemcacheClient) {
        app_round_trip(sessions.client());
    }
}

/// A plain `memcache::Client` with its socket timeouts set.
struct Plain;

impl Backend for Plain {
    memcached_backend!();
    type Client = memcache::Client;
    type State = PlainState;

    async fn client(server: &Server, addr: SocketAddr) -> memcache::Client {
        memcache::Client::builder()
            .add_server(server.url_via(addr).as_str())
            .unwrap()
            .with_max_pool_size(4)
            .with_read_timeout(CLIENT_TIMEOUT)
            .with_write_timeout(CLIENT_TIMEOUT)
            .with_connection_timeout(CLIENT_TIMEOUT)
            .build()
            .expect("the server is up")
    }

    fn state(cache: &memcache::Client) -> PlainState {
        PlainState {
            sessions: cache.clone(),
        }
    }

    async fn request(cache: memcache::Client) -> bool {
        read(cache).await
    }

    async fn round_trip(cache: &memcache::Client) {
        app_round_trip(cache);
    }
}

support::backend_suite!(lazy_client: Lazy, campaign);
support::backend_suite!(plain_client: Plain);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_one_down_fails_and_the_plain_client_too() {
    let up = Server::start(Kind::Memcached);
    let mut down = Server::start(Kind::Memcached);
    let urls = [up.url(), down.url()];
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let cache = connect_lazy(&urls, CLIENT_TIMEOUT).unwrap();
    let plain = memcache::Client::builder()
        .add_server(up.url())
        .unwrap()
        .add_server(down.url())
        .unwrap()
        .with_read_timeout(CLIENT_TIMEOUT)
        .with_write_timeout(CLIENT_TIMEOUT)
        .with_connection_timeout(CLIENT_TIMEOUT)
        .build()
        .expect("both servers are up");
    let named = serve(
        axum::Router::new().layer(
            CacheState {
                sessions: cache.clone(),
            }
            .probes()
            .with_details(healthz::details::Details::always()),
        ),
    )
    .await;
    let unnamed = serve(
        axum::Router::new().layer(
            PlainState { sessions: plain }
                .probes()
                .with_details(healthz::details::Details::always()),
        ),
    )
    .await;
    let secrets = secrets(&[up.port(), down.port()]);
    assert_recovers(named, RECOVERY).await;
    assert_recovers(unnamed, RECOVERY).await;

    down.stop();
    assert_unready(named, "cache", MESSAGES, DEADLINE, &secrets).await;
    assert_unready(unnamed, "cache", MESSAGES, DEADLINE, &secrets).await;
    // Every server must answer: the one that is up does not make it pass.
    let verbose = get(named, "/readiness?verbose").await;
    assert_eq!(
        verbose.body,
        "[-]cache failed: cannot connect to cache\nreadiness check failed"
    );

    down.resume();
    assert_recovers(named, RECOVERY).await;
    assert_recovers(unnamed, RECOVERY).await;
    app_round_trip(&cache);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_failing_server_is_named_in_the_log() {
    let up = Server::start(Kind::Memcached);
    let mut down = Server::start(Kind::Memcached);
    let cache = connect_lazy(&[&up.url(), &down.url()], CLIENT_TIMEOUT).unwrap();
    down.stop();
    let probes = CacheState { sessions: cache }
        .probes()
        .with_details(healthz::details::Details::always());
    let report = probes.check("cache").await.expect("a check named cache");
    assert!(!report.outcome.is_pass());

    // The detail reaches the log, not the body: run the check directly to
    // read it.
    let state = probes.state();
    let error = healthz::Check::check(&state.sessions).await.unwrap_err();
    let detail = error.detail().expect("a detail").to_string();
    let down_name = format!("127.0.0.1:{}", down.port());
    let up_name = format!("127.0.0.1:{}", up.port());
    assert!(
        detail.starts_with("1 of 2 memcached servers did not answer"),
        "{detail}"
    );
    assert!(detail.contains(&down_name), "{detail}");
    assert!(!detail.contains(&up_name), "{detail}");
    assert_eq!(error.message(), "cannot connect to cache.");
}

/// A runtime whose threads (workers and blocking pool) are counted: the
/// peak number alive at once.
struct CountedRuntime {
    runtime: tokio::runtime::Runtime,
    peak: Arc<AtomicUsize>,
}

fn counted_runtime() -> CountedRuntime {
    let live = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (on_start, on_stop) = (live.clone(), live.clone());
    let peak_on_start = peak.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || {
            let now = on_start.fetch_add(1, Ordering::SeqCst) + 1;
            peak_on_start.fetch_max(now, Ordering::SeqCst);
        })
        .on_thread_stop(move || {
            on_stop.fetch_sub(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    CountedRuntime { runtime, peak }
}

/// A client built without any timeout (its reads wait forever), from a
/// pool that opens connections only when needed.
fn client_without_timeouts(url: &str) -> memcache::Client {
    memcache::Client::builder()
        .add_server(url)
        .unwrap()
        .with_max_pool_size(4)
        .with_min_idle_conns(0)
        .build()
        .expect("a pool that connects on demand")
}

/// How long a stuck blocking call holds back new runs of a 400ms check.
const WRITE_OFF: Duration = Duration::from_secs(5);

/// Probes readiness every 20ms for `period`; every answer must be the
/// check's timeout.
async fn probe_timeouts_for(addr: std::net::SocketAddr, period: Duration) -> usize {
    let started = Instant::now();
    let mut probes = 0;
    while started.elapsed() < period {
        let reply = get(addr, "/readiness").await;
        assert_eq!(reply.status, http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(reply.body, "cache: timed out after 400ms.");
        probes += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    probes
}

/// A stalled memcached (SIGSTOP: connections are accepted and requests
/// taken, nothing answers) behind a client without timeouts: its calls
/// block for as long as the stall lasts. Probes keep coming every 20ms for
/// longer than a stuck call holds back new runs; at most two threads may
/// ever be blocked on it, and once the server answers again readiness is
/// back within a few probes.
#[test]
fn a_stalled_server_holds_at_most_two_threads_and_readiness_comes_back() {
    let CountedRuntime { runtime, peak } = counted_runtime();
    runtime.block_on(async {
        let server = Server::start(Kind::Memcached);
        let cache = client_without_timeouts(&server.url());
        let addr = serve(
            axum::Router::new().layer(
                PlainState { sessions: cache }
                    .probes()
                    .with_details(healthz::details::Details::always()),
            ),
        )
        .await;
        assert_recovers(addr, RECOVERY).await;
        let baseline = peak.load(Ordering::SeqCst);

        server.pause();
        let probes = probe_timeouts_for(addr, WRITE_OFF + Duration::from_secs(2)).await;
        let extra = peak.load(Ordering::SeqCst) - baseline;
        assert!(probes >= 20, "only {probes} probes ran");
        assert!(
            extra <= 2,
            "{extra} more threads than before the stall, over {probes} probes"
        );

        server.unpause();
        assert_recovers(addr, Duration::from_secs(3)).await;
    });
    drop(runtime);
}

/// A call stuck for good (its socket became a black hole and stays one)
/// while the server is back for new connections: without a bound, the
/// check would wait on that call forever and readiness would stay 503
/// with liveness at 200, so nothing would ever restart the pod. It is
/// written off and a new run, on a new connection, finds the server.
#[test]
fn a_call_stuck_for_good_is_written_off_and_readiness_recovers() {
    let CountedRuntime { runtime, peak } = counted_runtime();
    runtime.block_on(async {
        let server = Server::start(Kind::Memcached);
        let proxy = FaultProxy::start(server.addr());
        let cache = client_without_timeouts(&server.url_via(proxy.addr()));
        let addr = serve(
            axum::Router::new().layer(
                PlainState { sessions: cache }
                    .probes()
                    .with_details(healthz::details::Details::always()),
            ),
        )
        .await;
        assert_recovers(addr, RECOVERY).await;
        let baseline = peak.load(Ordering::SeqCst);

        proxy.set(Fault::Silent);
        probe_timeouts_for(addr, Duration::from_millis(500)).await;
        // Back for new connections; the stuck call's socket stays a black hole.
        proxy.set(Fault::Pass);
        assert_recovers(addr, WRITE_OFF + RECOVERY).await;
        let extra = peak.load(Ordering::SeqCst) - baseline;
        assert!(extra <= 2, "{extra} more threads than before the fault");
    });
    drop(runtime);
}

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "300ms", cache = "0s")]
struct SlowState {
    #[healthz(name = "cache", timeout = "200ms")]
    sessions: MemcacheClient,
}

/// One of two servers slow but answering (every chunk 150 ms late each
/// way: a round trip ~300 ms, past the check's 200 ms, within the client's
/// 1 s): the app's own reads and writes on both servers are served, so
/// readiness stays 200 and reports the cache degraded, `slow`. The same
/// server silent past the client's timeout is down: 503. Seen failing
/// before the rule (every server within the check's deadline): 503 for as
/// long as the server was slow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_server_among_two_is_degraded_and_a_silent_one_down() {
    let fast = Server::start(Kind::Memcached);
    let slow = Server::start(Kind::Memcached);
    let proxy = FaultProxy::start(slow.addr());
    let cache = connect_lazy(
        &[&fast.url(), &slow.url_via(proxy.addr())],
        Duration::from_secs(1),
    )
    .unwrap();
    let addr = support::serve_probes(&SlowState {
        sessions: cache.clone(),
    })
    .await;
    assert_recovers(addr, RECOVERY).await;

    proxy.set(Fault::Latency(Duration::from_millis(150)));
    let app = cache.client().clone();
    tokio::task::spawn_blocking(move || {
        for key in 0..16 {
            let key = format!("key-{key}");
            app.set(&key, "value", 60).expect("set on a slow server");
            let value: Option<String> = app.get(&key).expect("get on a slow server");
            assert_eq!(value.as_deref(), Some("value"));
        }
    })
    .await
    .expect("the app's own requests");
    let degraded = "[~]cache degraded: slow: a memcached server answers slowly\n\
                    readiness check passed";
    let started = Instant::now();
    let mut answers = Vec::new();
    while answers.len() < 6 && started.elapsed() < RECOVERY {
        let reply = get(addr, "/readiness?verbose").await;
        answers.push((reply.status, reply.body));
    }
    // The first run after the change may find the server silent as yet;
    // from then on it has answered, slowly.
    assert!(
        answers[1..]
            .iter()
            .all(|(status, body)| *status == http::StatusCode::OK && body == degraded),
        "{answers:?}"
    );

    proxy.set(Fault::Silent);
    support::verdict::until_status(
        addr,
        "/readiness",
        http::StatusCode::SERVICE_UNAVAILABLE,
        RECOVERY,
    )
    .await;
    proxy.set(Fault::Pass);
    proxy.reset_black_holes();
    assert_recovers(addr, RECOVERY).await;
    app_round_trip(&cache);
}
