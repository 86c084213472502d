//! The application's own traffic, running while a test injects faults: a
//! fault on an idle app proves little, since the dangerous states (every
//! pooled connection held by a request stuck on a dead socket) only exist
//! under load.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use crate::fault::{Fault, FaultProxy};
use crate::servers::Server;
use crate::verdict::assert_recovers;
use crate::{request, try_send};

/// Bounds every load loop: no client sends more than this many requests…
const MAX_REQUESTS_PER_CLIENT: usize = 200_000;
/// …or runs for longer than this.
const MAX_RUN: Duration = Duration::from_secs(300);
/// A request of the app's own that takes longer is abandoned (and counted
/// as failed), as a client with a timeout would.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// `clients` concurrent clients, each sending `GET path` to the app in a
/// loop, one request at a time, until stopped.
pub struct AppLoad {
    stop: watch::Sender<bool>,
    clients: JoinSet<()>,
    counts: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    ok: AtomicUsize,
    failed: AtomicUsize,
    answered: Notify,
}

impl AppLoad {
    /// Waits (at most `bound`) until the app at `addr` is ready, then starts
    /// the clients and waits until 20 of their requests have succeeded:
    /// the app's own load, running, before a test injects its faults.
    pub async fn once_ready(
        addr: SocketAddr,
        path: &'static str,
        clients: usize,
        bound: Duration,
    ) -> AppLoad {
        assert_recovers(addr, bound).await;
        let load = AppLoad::start(addr, path, clients);
        load.wait_for_success(20, bound).await;
        load
    }

    /// Starts the clients on the current runtime.
    pub fn start(addr: SocketAddr, path: &'static str, clients: usize) -> AppLoad {
        let (stop, stopped) = watch::channel(false);
        let counts = Arc::new(Counts::default());
        let mut set = JoinSet::new();
        for _ in 0..clients {
            let mut stopped = stopped.clone();
            let counts = Arc::clone(&counts);
            set.spawn(async move {
                let started = Instant::now();
                for _ in 0..MAX_REQUESTS_PER_CLIENT {
                    if *stopped.borrow() || started.elapsed() > MAX_RUN {
                        return;
                    }
                    let reply = tokio::select! {
                        reply = try_send(addr, request(Method::GET, path), REQUEST_TIMEOUT) => reply,
                        _ = stopped.changed() => return,
                    };
                    let counter = match reply {
                        Some(reply) if reply.status == StatusCode::OK => &counts.ok,
                        _ => &counts.failed,
                    };
                    counter.fetch_add(1, Ordering::SeqCst);
                    counts.answered.notify_waiters();
                }
            });
        }
        AppLoad {
            stop,
            clients: set,
            counts,
        }
    }

    /// Requests of the app's that succeeded so far.
    pub fn ok(&self) -> usize {
        self.counts.ok.load(Ordering::SeqCst)
    }

    /// Requests of the app's that failed or timed out so far.
    pub fn failed(&self) -> usize {
        self.counts.failed.load(Ordering::SeqCst)
    }

    /// Waits until `more` requests beyond those counted so far have
    /// succeeded: the app is serving. Panics after `bound`.
    pub async fn wait_for_success(&self, more: usize, bound: Duration) {
        let target = self.ok() + more;
        self.wait_until("succeed", || self.ok() >= target, bound)
            .await;
    }

    /// Waits (at most `bound`) until `total` of the app's own requests have
    /// failed since the load started.
    pub async fn wait_for_failed(&self, total: usize, bound: Duration) {
        self.wait_until("fail", || self.failed() >= total, bound)
            .await;
    }

    /// Waits for `reached`, rechecked each time a request is answered;
    /// panics after `bound`, saying the requests did not `what`.
    async fn wait_until(&self, what: &str, reached: impl Fn() -> bool, bound: Duration) {
        let wait = async {
            loop {
                let answered = self.counts.answered.notified();
                if reached() {
                    return;
                }
                answered.await;
            }
        };
        tokio::time::timeout(bound, wait).await.unwrap_or_else(|_| {
            panic!(
                "the app's own requests did not {what} within {bound:?} ({} ok, {} failed)",
                self.ok(),
                self.failed()
            )
        });
    }

    /// Stops every client and waits for them.
    pub async fn stop(mut self) {
        self.stop.send_replace(true);
        while self.clients.join_next().await.is_some() {}
    }
}

/// Applies every fault in turn while `load` runs against the app at `addr`
/// — refused, reset, silent and hung connects through `proxy`, then the
/// server stopped, killed and restarted — and after each: `unready` must
/// hold for three probes in a row (every readiness answer during a fault),
/// readiness must come back within `recovery` without a restart, and the
/// app's own requests must succeed again.
pub async fn every_fault_under_load<F, Fut>(
    server: &mut Server,
    proxy: &FaultProxy,
    addr: SocketAddr,
    load: &AppLoad,
    recovery: Duration,
    unready: F,
) where
    F: Fn() -> Fut,
    Fut: std::future::Future,
{
    let back = || async {
        assert_recovers(addr, recovery).await;
        load.wait_for_success(5, recovery).await;
    };
    for fault in [
        Fault::Refuse,
        Fault::Reset,
        Fault::Silent,
        Fault::HangConnect,
    ] {
        proxy.set(fault);
        for _ in 0..3 {
            unready().await;
        }
        proxy.set(Fault::Pass);
        if matches!(fault, Fault::Silent | Fault::HangConnect) {
            // The host is back: it answers the old half-open connections
            // with a reset (as TCP keepalive or retransmission limits
            // would end them).
            proxy.reset_black_holes();
        }
        back().await;
    }
    for stop in [Server::stop, Server::kill] {
        stop(server);
        for _ in 0..3 {
            unready().await;
        }
        server.resume();
        back().await;
    }
    // Restarted under the clients' feet: their idle connections are dead.
    server.restart();
    back().await;
}
