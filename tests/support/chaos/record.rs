//! What a campaign observes: the app's own requests, sent at a steady rate
//! whatever happens to them (as users keep arriving), and readiness probed
//! every 100 ms, as a kubelet with a short period would.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use tokio::task::JoinSet;

use crate::{request, try_send};

/// The app's own requests per second.
const RATE: u32 = 100;
/// Requests in flight at most: past it, new ones are not sent (a window
/// with too few requests is not scored).
const MAX_IN_FLIGHT: usize = 1_000;
/// The probing period.
pub const PROBE_EVERY: Duration = Duration::from_millis(100);
/// A probe unanswered this long counts as "not ready" (the kubelet's
/// default `timeoutSeconds`).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// One request of the app's: when it was sent, and whether it was answered
/// 200 (within the app's own timeout, which its route enforces).
#[derive(Clone, Copy, Debug)]
pub struct Sent {
    pub at: Duration,
    pub ok: bool,
}

/// One readiness probe: when it was sent, what it answered.
#[derive(Clone, Copy, Debug)]
pub struct Probed {
    pub at: Duration,
    pub ready: bool,
    /// 200 with a check reported busy (`degraded: busy`).
    pub busy: bool,
    pub took: Duration,
}

/// Everything observed over one campaign.
#[derive(Default)]
pub struct Observed {
    pub requests: Mutex<Vec<Sent>>,
    pub probes: Mutex<Vec<Probed>>,
}

/// Sends the app's requests to `route` and probes readiness on `addr` from
/// `start` for `length`, then waits for every answer (each bounded by
/// `request_bound`).
pub async fn observe(
    addr: SocketAddr,
    route: &'static str,
    start: Instant,
    length: Duration,
    request_bound: Duration,
) -> Arc<Observed> {
    let observed = Arc::new(Observed::default());
    let mut tasks = JoinSet::new();
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / RATE);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut probes = tokio::time::interval(PROBE_EVERY);
    probes.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let end = start + length;
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                if Instant::now() >= end { break }
                if tasks.len() < MAX_IN_FLIGHT {
                    let observed = Arc::clone(&observed);
                    tasks.spawn(async move {
                        let at = start.elapsed();
                        let reply = try_send(addr, request(Method::GET, route), request_bound).await;
                        let ok = reply.is_some_and(|reply| reply.status == StatusCode::OK);
                        observed.requests.lock().unwrap().push(Sent { at, ok });
                    });
                }
            }
            _ = probes.tick() => {
                let observed = Arc::clone(&observed);
                tasks.spawn(async move {
                    let at = start.elapsed();
                    let sent = Instant::now();
                    let reply = try_send(addr, request(Method::GET, "/readiness?verbose"), PROBE_TIMEOUT).await;
                    let took = sent.elapsed();
                    let (ready, busy) = match reply {
                        Some(reply) => (reply.status == StatusCode::OK, reply.status == StatusCode::OK && reply.body.contains("degraded: busy")),
                        None => (false, false),
                    };
                    observed.probes.lock().unwrap().push(Probed { at, ready, busy, took });
                });
            }
            // Finished tasks are reaped as they end.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    while tasks.join_next().await.is_some() {}
    observed
}
