//! The parts of `run` about the dependencies: the probe storm (what reaches
//! PostgreSQL and memcached), PostgreSQL black-holed under the app's load
//! and with the app idle, and the layered app's memory over a million
//! requests.

use std::time::{Duration, Instant};

use support::fault::{Fault, FaultProxy};

use super::fault;
use super::servers::{own_load, Bench, Launch};
use crate::table::row;
use crate::{load, POOL};

/// One continuous storm on the layered app's readiness: what reaches the
/// dependencies.
pub(super) async fn storm(bench: &Bench, connections: usize) {
    let seconds: u64 = 10;
    let pg_start = postgres_selects(&bench.postgres);
    let mc_start = bench.mc_proxy.forwarded_starting_with(MEMCACHE_BINARY_STAT);
    let addr = bench.layered().addr;
    let storm = own_load(addr, "/readiness", connections, seconds, 50_000_000).await;
    let pg_selects = postgres_selects(&bench.postgres) - pg_start;
    let mc_stats = bench.mc_proxy.forwarded_starting_with(MEMCACHE_BINARY_STAT) - mc_start;
    println!(
        "\nprobe storm: {} readiness requests in {:.1}s ({:.0}/s, {connections} connections); \
         reached PostgreSQL: {pg_selects} `SELECT 1` ({:.2}/s), memcached: {mc_stats} `stats` \
         ({:.2}/s); bound: 1 per check per TTL (1s) = 1.00/s each",
        storm.requests,
        storm.seconds,
        storm.rps,
        pg_selects as f64 / storm.seconds,
        mc_stats as f64 / storm.seconds,
    );
}

/// PostgreSQL black-holed under load, `Silent` then `HangConnect`.
pub(super) async fn fault_under_load(bench: &Bench, plan: &fault::Plan) {
    // Its own proxy, so that the fault reaches this app only.
    let proxy = FaultProxy::start(bench.postgres.addr());
    let pg_url = bench.postgres.url_via(proxy.addr());
    let app = Launch::Bench("axum-layered", &[])
        .start(&pg_url, &bench.mc_url)
        .await
        .unwrap();
    let warm = own_load(app.addr, "/db", plan.clients, 2, u64::MAX).await;
    assert!(
        warm.requests > 0 && warm.non_2xx == 0,
        "the /db route does not work: {warm:?}"
    );
    println!(
        "\nfault under load: axum::serve + layer (2 workers), pool of {POOL}, {} clients of ours \
         on `/db` (`SELECT 1` through the pool), {}s healthy, {}s of fault, {}s after; prober: \
         `/readiness?verbose` back to back on fresh connections; deadline {} ms, cache TTL {} ms\n",
        plan.clients,
        plan.warm.as_secs(),
        plan.fault.as_secs(),
        plan.after.as_secs(),
        fault::DEADLINE.as_millis(),
        fault::TTL.as_millis(),
    );
    row([
        "fault",
        "before: 200 / degraded / 503, p50, max",
        "probes during",
        "first 503 after the fault",
        "max during ÷ deadline",
        "p50 during ÷ deadline",
        "200s during: before the first 503 / after",
        "degraded during",
        "unanswered",
        "back to 200 after lifting",
        "app requests ok / non-2xx",
    ]
    .map(str::to_owned));
    row([
        "---", "---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:",
    ]
    .map(str::to_owned));
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    for mode in [Fault::Silent, Fault::HangConnect] {
        let clients = plan.clients;
        let report = fault::under_load(app.addr, &proxy, mode, plan, |seconds, max| {
            own_load(app.addr, "/db", clients, seconds, max)
        })
        .await;
        let (b, d) = (&report.before, &report.during);
        row([
            format!("{:?}", report.fault),
            format!(
                "{} / {} / {}, {}, {}",
                b.ready,
                b.degraded,
                b.not_ready,
                ms(b.p50),
                ms(b.max)
            ),
            d.probes.to_string(),
            report.first_503.map_or("none".to_owned(), |t| {
                format!("{} ({:.2}× deadline)", ms(t), fault::of_deadline(t))
            }),
            format!("{:.3} ({})", fault::of_deadline(d.max), ms(d.max)),
            format!("{:.3} ({})", fault::of_deadline(d.p50), ms(d.p50)),
            format!("{} / {}", report.ok_before_503, report.ok_after_503),
            d.degraded.to_string(),
            (d.unanswered + d.other).to_string(),
            report.recovered.map_or("not seen".to_owned(), ms),
            format!(
                "{} / {}",
                report.load.requests - report.load.non_2xx,
                report.load.non_2xx
            ),
        ]);
        for (sent, took) in &report.late_ok {
            println!(
                "  {:?}: a 200 after the first 503, sent {} after the fault, answered in {}",
                report.fault,
                ms(*sent),
                ms(*took)
            );
        }
    }
    println!(
        "(targets: every answer ≤ 1.1 × deadline; no 200 after the first 503; the first 503 \
         within TTL + deadline = {:.2}× deadline)",
        fault::of_deadline(fault::TTL + fault::DEADLINE)
    );
}

/// A black-holed database, the app idle: new connects hang and pooled
/// sockets go silent. Sequential probes, each timed.
pub(super) async fn black_hole(bench: &Bench) {
    let addr = bench.layered().addr;
    bench.pg_proxy.set(Fault::HangConnect);
    let mut timings = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let status = load::get_status(addr, "/readiness").await;
        timings.push((started.elapsed(), status));
    }
    bench.pg_proxy.set(Fault::Pass);
    bench.pg_proxy.reset_black_holes();
    let mut millis: Vec<f64> = timings
        .iter()
        .map(|(t, _)| t.as_secs_f64() * 1000.0)
        .collect();
    millis.sort_by(f64::total_cmp);
    let failed = timings.iter().filter(|(_, status)| *status == 503).count();
    println!(
        "\nblack-holed PostgreSQL, idle app, 20 sequential /readiness: {failed} answered 503; \
         min {:.1} ms, median {:.1} ms, max {:.1} ms; deadline 800 ms, +10% = 880 ms",
        millis[0],
        millis[millis.len() / 2],
        millis[millis.len() - 1],
    );
}

/// RSS of the layered app before and after `million` probes and as many
/// app requests through the layer.
pub(super) async fn memory(bench: &Bench, connections: usize, million: u64) {
    let layered = bench.layered();
    let before = layered.rss_kib();
    let probes = own_load(layered.addr, "/healthz", connections, 300, million).await;
    let after_probes = layered.rss_kib();
    let apps = own_load(layered.addr, "/", connections, 300, million).await;
    let after_apps = layered.rss_kib();
    println!(
        "\nmemory of the layered app: RSS {before} KiB; after {} /healthz: {after_probes} KiB; \
         after {} app requests: {after_apps} KiB",
        probes.requests, apps.requests
    );
}

/// The memcache client speaks memcached's binary protocol: a request
/// starts with the magic byte 0x80, and `stats` is opcode 0x10.
const MEMCACHE_BINARY_STAT: &[u8] = &[0x80, 0x10];

/// How many `SELECT 1` PostgreSQL has logged (`log_statement=all`).
fn postgres_selects(postgres: &support::servers::Server) -> u64 {
    postgres.log().matches("statement: SELECT 1").count() as u64
}
