//! The memcached checks against real memcached servers, through fault
//! proxies: one server, and two servers with one of them down. A black hole
//! must never pile up blocked threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use healthz::checks::memcache::{connect_lazy, MemcacheClient};
use healthz::HealthChecks;
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

/// One memcached behind a fault proxy, a lazy client through the proxy,
/// and its probes served over HTTP, ready.
struct Fixture {
    server: Server,
    proxy: FaultProxy,
    cache: MemcacheClient,
    addr: std::net::SocketAddr,
    secrets: Vec<String>,
}

async fn fixture() -> Fixture {
    let server = Server::start(Kind::Memcached);
    let proxy = FaultProxy::start(server.addr());
    let cache = connect_lazy(&[&server.url_via(proxy.addr())], CLIENT_TIMEOUT).unwrap();
    let addr = serve(
        axum::Router::new().layer(
            CacheState {
                sessions: cache.clone(),
            }
            .probes(),
        ),
    )
    .await;
    let secrets = secrets(&[server.port(), proxy.addr().port()]);
    assert_recovers(addr, RECOVERY).await;
    Fixture {
        server,
        proxy,
        cache,
        addr,
        secrets,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_stopped_killed_and_restarted() {
    let Fixture {
        mut server,
        proxy: _proxy,
        cache,
        addr,
        secrets,
    } = fixture().await;

    for stop in [Server::stop, Server::kill] {
        stop(&mut server);
        assert_unready(addr, "cache", MESSAGES, DEADLINE, &secrets).await;
        server.resume();
        assert_recovers(addr, RECOVERY).await;
        app_round_trip(&cache);
    }

    server.restart();
    assert_recovers(addr, RECOVERY).await;
    app_round_trip(&cache);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_network_faults() {
    let Fixture {
        server: _server,
        proxy,
        cache,
        addr,
        secrets,
    } = fixture().await;

    for fault in [
        Fault::Refuse,
        Fault::Reset,
        Fault::Silent,
        Fault::HangConnect,
    ] {
        proxy.set(fault);
        for _ in 0..3 {
            assert_unready(addr, "cache", MESSAGES, DEADLINE, &secrets).await;
        }
        proxy.set(Fault::Pass);
        assert_recovers(addr, RECOVERY).await;
        app_round_trip(&cache);
    }
}

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
            .probes(),
        ),
    )
    .await;
    let unnamed = serve(axum::Router::new().layer(PlainState { sessions: plain }.probes())).await;
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
    let probes = CacheState { sessions: cache }.probes();
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

/// With a client whose timeouts are far too long, a black-holed server
/// blocks the check's thread for seconds. Probes keep coming every 20ms;
/// at most one thread may ever be blocked on it.
#[test]
fn a_black_hole_blocks_at_most_one_thread() {
    let live = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (on_start, on_stop) = (live.clone(), live.clone());
    let peak_on_start = peak.clone();
    const WORKERS: usize = 2;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
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

    runtime.block_on(async {
        let server = Server::start(Kind::Memcached);
        let proxy = FaultProxy::start(server.addr());
        let slow_client_timeout = Duration::from_secs(5);
        let cache = connect_lazy(&[&server.url_via(proxy.addr())], slow_client_timeout).unwrap();
        let addr = serve(axum::Router::new().layer(CacheState { sessions: cache }.probes())).await;
        assert_recovers(addr, RECOVERY).await;
        let baseline = peak.load(Ordering::SeqCst);

        proxy.set(Fault::Silent);
        let started = Instant::now();
        let mut probes = 0;
        while started.elapsed() < Duration::from_secs(3) {
            let reply = get(addr, "/readiness").await;
            assert_eq!(reply.status, http::StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(reply.body, "cache: timed out after 400ms.");
            probes += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let extra = peak.load(Ordering::SeqCst) - baseline;
        assert!(probes >= 5, "only {probes} probes ran");
        assert!(
            extra <= 1,
            "{extra} more threads than before the black hole, over {probes} probes"
        );
    });
    drop(runtime);
}
