//! Fault under load: the app's own requests hammer a route that runs a real
//! query through the app's pool, with more requests in flight than the pool
//! has connections, while PostgreSQL is black-holed; a prober on its own
//! thread asks readiness back to back, as a kubelet would (each probe on a
//! fresh connection), and every answer is timed.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::fault::{Fault, FaultProxy};

use crate::load::{self, Summary};

/// The readiness deadline of `BenchState` (`timeout = "800ms"`).
pub const DEADLINE: Duration = Duration::from_millis(800);
/// The cache TTL of `BenchState` (`cache = "1s"`): a verdict from before
/// the fault may be served for this long after it.
pub const TTL: Duration = Duration::from_secs(1);

/// The prober asks the verbose form, so that a busy (degraded) pass can be
/// told from a plain one: same evaluation, same cache.
const PROBE_PATH: &str = "/readiness?verbose";
/// No probe waits longer than this for its answer (a kubelet's
/// `timeoutSeconds` would be shorter); one that does counts as unanswered.
const PROBE_BOUND: Duration = Duration::from_secs(5);
/// Pause between two probes.
const PROBE_GAP: Duration = Duration::from_millis(10);
/// Bounds on the prober, whatever happens.
const MAX_PROBES: usize = 20_000;
const MAX_PROBING: Duration = Duration::from_secs(180);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Ready,
    /// 200, with a check reported degraded (busy).
    Degraded,
    NotReady,
    Other(u16),
    Unanswered,
}

#[derive(Clone, Copy, Debug)]
pub struct Probe {
    sent: Instant,
    took: Duration,
    answer: Answer,
}

impl Probe {
    fn answered(&self) -> Instant {
        self.sent + self.took
    }
}

/// Probes `addr` back to back on its own thread and runtime until `stop`.
fn spawn_prober(addr: SocketAddr, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<Probe>> {
    std::thread::Builder::new()
        .name("prober".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let started = Instant::now();
                let mut probes = Vec::new();
                while !stop.load(Ordering::SeqCst)
                    && probes.len() < MAX_PROBES
                    && started.elapsed() < MAX_PROBING
                {
                    let sent = Instant::now();
                    let answer = match load::probe(addr, PROBE_PATH, PROBE_BOUND).await {
                        Some((200, body)) if body.contains("degraded") => Answer::Degraded,
                        Some((200, _)) => Answer::Ready,
                        Some((503, _)) => Answer::NotReady,
                        Some((status, _)) => Answer::Other(status),
                        None => Answer::Unanswered,
                    };
                    probes.push(Probe {
                        sent,
                        took: sent.elapsed(),
                        answer,
                    });
                    tokio::time::sleep(PROBE_GAP).await;
                }
                probes
            })
        })
        .expect("spawn the prober")
}

/// How the run is laid out.
pub struct Plan {
    /// Concurrent app requests (the pool has 4 connections).
    pub clients: usize,
    /// Healthy load before the fault.
    pub warm: Duration,
    /// How long the fault lasts.
    pub fault: Duration,
    /// Load after the fault is lifted.
    pub after: Duration,
}

/// What one fault-under-load run measured.
pub struct Report {
    pub fault: Fault,
    pub load: Summary,
    /// Probes sent before the fault.
    pub before: Phase,
    /// Probes sent during the fault.
    pub during: Phase,
    /// From the fault to the first 503 answered.
    pub first_503: Option<Duration>,
    /// 200s answered while the fault lasted, before the first 503 (a
    /// verdict cached before the fault, at most a TTL old) and after it.
    pub ok_before_503: usize,
    pub ok_after_503: usize,
    /// The 200s answered after the first 503 while the fault lasted: when
    /// each was sent and how long it took, from the fault.
    pub late_ok: Vec<(Duration, Duration)>,
    /// From lifting the fault to the first plain 200.
    pub recovered: Option<Duration>,
}

/// The probes of one phase.
#[derive(Default)]
pub struct Phase {
    pub probes: usize,
    pub ready: usize,
    pub degraded: usize,
    pub not_ready: usize,
    pub other: usize,
    pub unanswered: usize,
    pub p50: Duration,
    pub max: Duration,
}

impl Phase {
    fn of<'a>(probes: impl Iterator<Item = &'a Probe>) -> Phase {
        let mut phase = Phase::default();
        let mut took = Vec::new();
        for probe in probes {
            phase.probes += 1;
            match probe.answer {
                Answer::Ready => phase.ready += 1,
                Answer::Degraded => phase.degraded += 1,
                Answer::NotReady => phase.not_ready += 1,
                Answer::Other(_) => phase.other += 1,
                Answer::Unanswered => phase.unanswered += 1,
            }
            took.push(probe.took);
        }
        took.sort_unstable();
        if let Some(max) = took.last() {
            phase.max = *max;
            phase.p50 = took[took.len() / 2];
        }
        phase
    }
}

/// Loads `app`'s `/db` route with `plan.clients` connections, switches
/// `proxy` (between the app and PostgreSQL) to `fault` for `plan.fault`,
/// then back to `Pass`, resetting the connections it black-holed, while
/// the prober asks readiness. `load` runs the load generator for the
/// given seconds and request bound.
pub async fn under_load<F, Fut>(
    app: SocketAddr,
    proxy: &FaultProxy,
    fault: Fault,
    plan: &Plan,
    load: F,
) -> Report
where
    F: FnOnce(u64, u64) -> Fut,
    Fut: std::future::Future<Output = Summary>,
{
    let seconds = (plan.warm + plan.fault + plan.after).as_secs();
    let stop = Arc::new(AtomicBool::new(false));
    let timeline = async {
        // Let the load reach the pool before probing starts.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let prober = spawn_prober(app, stop.clone());
        tokio::time::sleep(plan.warm - Duration::from_millis(500)).await;
        let fault_at = Instant::now();
        proxy.set(fault);
        tokio::time::sleep(plan.fault.saturating_sub(fault_at.elapsed())).await;
        let heal_at = Instant::now();
        proxy.set(Fault::Pass);
        // As the app host's TCP stack eventually does to connections that
        // stopped answering.
        proxy.reset_black_holes();
        (prober, fault_at, heal_at)
    };
    let (summary, (prober, fault_at, heal_at)) = tokio::join!(load(seconds, 5_000_000), timeline);
    // Probe on until readiness is back, within a bound.
    let give_up = Instant::now() + Duration::from_secs(30);
    while Instant::now() < give_up
        && load::probe(app, "/readiness", PROBE_BOUND)
            .await
            .map(|(status, _)| status)
            != Some(200)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Long enough for the prober to see it too.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    let probes = prober.join().expect("the prober panicked");

    let before = Phase::of(probes.iter().filter(|p| p.sent < fault_at));
    let during: Vec<&Probe> = probes
        .iter()
        .filter(|p| p.sent >= fault_at && p.sent < heal_at)
        .collect();
    let first_503 = probes
        .iter()
        .filter(|p| p.answer == Answer::NotReady && p.answered() >= fault_at)
        .map(|p| p.answered() - fault_at)
        .min();
    // A 200 counts against the fault when it was answered while the
    // fault lasted (one sent just before it was lifted may rightly pass
    // on a connection opened after).
    let ok: Vec<&Probe> = probes
        .iter()
        .filter(|p| matches!(p.answer, Answer::Ready | Answer::Degraded))
        .filter(|p| p.answered() >= fault_at && p.answered() < heal_at)
        .collect();
    let cut = first_503.map_or(heal_at, |first| fault_at + first);
    let late_ok: Vec<(Duration, Duration)> = ok
        .iter()
        .filter(|p| p.answered() >= cut)
        .map(|p| (p.sent.saturating_duration_since(fault_at), p.took))
        .collect();
    let (ok_before_503, ok_after_503) = (ok.len() - late_ok.len(), late_ok.len());
    let recovered = probes
        .iter()
        .filter(|p| p.sent >= heal_at && matches!(p.answer, Answer::Ready | Answer::Degraded))
        .map(|p| p.answered() - heal_at)
        .min();
    Report {
        fault,
        load: summary,
        before,
        during: Phase::of(during.into_iter()),
        first_503,
        ok_before_503,
        ok_after_503,
        late_ok,
        recovered,
    }
}

/// `d` as a multiple of the deadline.
pub fn of_deadline(d: Duration) -> f64 {
    d.as_secs_f64() / DEADLINE.as_secs_f64()
}
