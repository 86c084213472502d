//! What a campaign observes: the app's own requests, sent at a steady rate
//! whatever happens to them (as users keep arriving), readiness probed
//! every 100 ms over HTTP, as a kubelet with a short period would, and a
//! gRPC `Watch` on the same probes, as a client-side load balancer would
//! follow it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use healthz::Report;
use http::{Method, StatusCode};
use tokio::sync::watch;
use tokio::task::JoinSet;

use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

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
    /// The readiness `Watch`'s messages, each as the probe it answers:
    /// when it arrived, whether it said `SERVING` (a broken watch counts as
    /// not serving), and whether a check of the watched probes was busy
    /// then (gRPC has no word for it: a busy pool keeps the service
    /// `SERVING`, as it keeps HTTP 200).
    pub watched: Mutex<Vec<Probed>>,
}

impl Observed {
    /// The watch read as a probe every [`PROBE_EVERY`]: the status of the
    /// latest message at each probe instant.
    pub fn watch_as_probes(&self, length: Duration) -> Vec<Probed> {
        let watched = self.watched.lock().unwrap();
        let mut probes = Vec::new();
        let mut at = Duration::ZERO;
        while at < length {
            let latest = watched.iter().take_while(|message| message.at <= at).last();
            probes.push(Probed {
                at,
                ready: latest.is_some_and(|message| message.ready),
                busy: latest.is_some_and(|message| message.busy),
                took: Duration::ZERO,
            });
            at += PROBE_EVERY;
        }
        probes
    }
}

/// Sends the app's requests to `route` and probes readiness on `addr` from
/// `start` for `length`, and follows the readiness `Watch` on `grpc`, whose
/// probes publish `reports`; then waits for every answer (each bounded by
/// `request_bound`).
pub async fn observe(
    addr: SocketAddr,
    grpc: SocketAddr,
    reports: watch::Receiver<Report>,
    route: &'static str,
    start: Instant,
    length: Duration,
    request_bound: Duration,
) -> Arc<Observed> {
    let observed = Arc::new(Observed::default());
    let mut tasks = JoinSet::new();
    tasks.spawn(follow(
        grpc,
        reports,
        start,
        start + length,
        Arc::clone(&observed),
    ));
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

/// Follows the readiness `Watch` (service `""`) on `grpc` until `end`,
/// opening it again after a failure; `reports` tells whether a `SERVING`
/// is a busy one.
async fn follow(
    grpc: SocketAddr,
    reports: watch::Receiver<Report>,
    start: Instant,
    end: Instant,
    observed: Arc<Observed>,
) {
    let record = |serving: bool| {
        let busy = serving
            && reports
                .borrow()
                .checks
                .iter()
                .any(|check| check.outcome.is_busy());
        observed.watched.lock().unwrap().push(Probed {
            at: start.elapsed(),
            ready: serving,
            busy,
            took: Duration::ZERO,
        })
    };
    while Instant::now() < end {
        let opened = async {
            let channel = Channel::from_shared(format!("http://{grpc}"))
                .expect("a valid URI")
                .connect()
                .await
                .ok()?;
            let request = HealthCheckRequest {
                service: String::new(),
            };
            HealthClient::new(channel).watch(request).await.ok()
        };
        let Ok(Some(response)) = tokio::time::timeout_at(end.into(), opened).await else {
            record(false);
            tokio::time::sleep(PROBE_EVERY).await;
            continue;
        };
        let mut stream = response.into_inner();
        loop {
            match tokio::time::timeout_at(end.into(), stream.message()).await {
                Err(_elapsed) => return,
                Ok(Ok(Some(message))) => record(message.status() == ServingStatus::Serving),
                Ok(_) => {
                    record(false);
                    break;
                }
            }
        }
    }
}
