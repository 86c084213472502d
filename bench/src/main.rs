//! HTTP load benchmarks of healthz, measured from a second process on
//! loopback and always against a baseline measured in the same run.
//!
//! ```text
//! cargo run --release -p healthz-bench -- run            # everything, prints the DESIGN §7 table
//! cargo run --release -p healthz-bench -- serve layered  # one server (bare | app | layered)
//! cargo run --release -p healthz-bench -- load 127.0.0.1:8080 /healthz --connections 16 --seconds 5
//! ```
//!
//! `run` starts real PostgreSQL and memcached servers (through loopback
//! proxies that count what reaches them), three servers as child processes
//! (a bare hyper "OK" server; the app without the layer; the app with it),
//! and drives each with the load generator in another child process.
//! Every load is bounded in requests and in time, and targets 127.0.0.1 only.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use healthz::checks::memcache::{connect_lazy, MemcacheClient};
use healthz::HealthChecks;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

mod load;
mod serve;

/// The benchmarked application's state: PostgreSQL and memcached, each a
/// readiness check, results cached for the default 1s.
#[derive(Clone, HealthChecks)]
#[healthz(timeout = "800ms", cache = "1s")]
pub struct BenchState {
    #[healthz]
    db: sqlx::PgPool,
    #[healthz(name = "cache", timeout = "400ms")]
    sessions: MemcacheClient,
}

impl BenchState {
    pub fn connect(database_url: &str, memcache_url: &str) -> BenchState {
        BenchState {
            db: sqlx::postgres::PgPoolOptions::new()
                .max_connections(4)
                .acquire_timeout(Duration::from_secs(5))
                .connect_lazy(database_url)
                .expect("database URL"),
            sessions: connect_lazy(&[memcache_url], Duration::from_millis(250))
                .expect("memcache URL"),
        }
    }
}

fn usage() -> ! {
    eprintln!(
        "usage:\n  healthz-bench run [--seconds S] [--connections C] [--million N]\n  \
         healthz-bench serve bare|app|layered [--pg URL --memcache URL]\n  \
         healthz-bench load ADDR PATH [--connections C] [--seconds S] [--max-requests N]"
    );
    std::process::exit(2);
}

/// `--name value` from the arguments, parsed, or `default`.
pub fn flag<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.windows(2)
        .find(|pair| pair[0] == name)
        .map(|pair| pair[1].parse().unwrap_or_else(|_| usage()))
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => serve::main(&args[1..]),
        Some("load") => load::main(&args[1..]),
        Some("run") => run(&args[1..]),
        _ => usage(),
    }
}

/// A server child process and its address.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    async fn start(kind: &str, pg: &str, memcache: &str) -> Server {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["serve", kind, "--pg", pg, "--memcache", memcache])
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start a server process");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = loop {
            let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .expect("the server did not start within 30s")
                .unwrap()
                .expect("the server exited");
            if let Some(addr) = line.strip_prefix("listening ") {
                break addr.parse().unwrap();
            }
        };
        Server { child, addr }
    }

    /// Resident memory of the process, in KiB.
    fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.child.id().unwrap())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

/// Runs the load generator in a child process and returns its result.
async fn load(
    addr: SocketAddr,
    path: &str,
    connections: usize,
    seconds: u64,
    max_requests: u64,
) -> load::Summary {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "load",
            &addr.to_string(),
            path,
            "--connections",
            &connections.to_string(),
            "--seconds",
            &seconds.to_string(),
            "--max-requests",
            &max_requests.to_string(),
        ])
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run the load generator");
    let stdout = String::from_utf8_lossy(&output.stdout);
    load::Summary::parse(&stdout)
        .unwrap_or_else(|| panic!("no result from the load generator: {stdout}"))
}

/// Takes the median of `runs` by requests per second.
fn median(mut runs: Vec<load::Summary>) -> load::Summary {
    runs.sort_by(|a, b| a.rps.total_cmp(&b.rps));
    runs.swap_remove(runs.len() / 2)
}

fn run(args: &[String]) {
    let seconds: u64 = flag(args, "--seconds", 4);
    let connections: usize = flag(args, "--connections", 16);
    let million: u64 = flag(args, "--million", 1_000_000);
    let rounds: usize = flag(args, "--rounds", 3);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        use support::fault::{Fault, FaultProxy};
        use support::servers::{Kind, Server as Dependency};

        let mut postgres = Dependency::start_with(Kind::Postgres, &["-c", "log_statement=all"]);
        let memcached = Dependency::start(Kind::Memcached);
        let pg_proxy = FaultProxy::start(postgres.addr());
        let mc_proxy = FaultProxy::start(memcached.addr());
        let pg_url = postgres.url_via(pg_proxy.addr());
        let mc_url = memcached.url_via(mc_proxy.addr());

        let bare = Server::start("bare", &pg_url, &mc_url).await;
        let app = Server::start("app", &pg_url, &mc_url).await;
        let layered = Server::start("layered", &pg_url, &mc_url).await;
        println!("machine: {} cores; load: {connections} connections, {seconds}s per run, median of {rounds} interleaved runs", std::thread::available_parallelism().map_or(0, |n| n.get()));

        // Warm up every path once.
        for (server, path) in [(&bare, "/"), (&app, "/"), (&layered, "/"), (&layered, "/healthz"), (&layered, "/readiness")] {
            let warm = load(server.addr, path, connections, 1, u64::MAX).await;
            assert!(warm.requests > 0, "no request succeeded against {path}");
        }

        let scenarios: [(&str, &Server, &str); 5] = [
            ("bare hyper OK", &bare, "/"),
            ("app, no layer", &app, "/"),
            ("app through the layer", &layered, "/"),
            ("/healthz", &layered, "/healthz"),
            ("/readiness (cached)", &layered, "/readiness"),
        ];
        let mut results: Vec<Vec<load::Summary>> = vec![Vec::new(); scenarios.len()];
        let storm_start = postgres_selects(&postgres);
        let storm_mc_start = mc_proxy.forwarded_starting_with(MEMCACHE_BINARY_STAT);
        let mut storm_seconds = 0.0;
        for _ in 0..rounds {
            for (i, (_, server, path)) in scenarios.iter().enumerate() {
                let started = Instant::now();
                let summary = load(server.addr, path, connections, seconds, u64::MAX).await;
                if *path == "/readiness" {
                    storm_seconds += started.elapsed().as_secs_f64();
                }
                results[i].push(summary);
            }
        }
        // Readiness ran only in its own runs, but the other runs add
        // seconds in which nothing should have reached the dependencies.
        let pg_selects = postgres_selects(&postgres) - storm_start;
        let mc_stats = mc_proxy.forwarded_starting_with(MEMCACHE_BINARY_STAT) - storm_mc_start;
        let results: Vec<load::Summary> = results.into_iter().map(median).collect();

        println!("\n| scenario | requests/s | p50 | p99 | non-2xx |\n|---|---:|---:|---:|---:|");
        for ((name, _, _), r) in scenarios.iter().zip(&results) {
            println!("| {name} | {:.0} | {} µs | {} µs | {} |", r.rps, r.p50_us, r.p99_us, r.non_2xx);
        }
        let ratio = |a: usize, b: usize| results[a].rps / results[b].rps;
        println!("\n| DESIGN §7 target | measured | target |\n|---|---:|---:|");
        println!("| pass-through: app through the layer ÷ app without | {:.3} | ≥ 0.98 |", ratio(2, 1));
        println!("| `/healthz` ÷ bare hyper OK | {:.3} | ≥ 0.95 |", ratio(3, 0));
        println!("| `/readiness` from cache ÷ bare hyper OK | {:.3} | ≥ 0.9 |", ratio(4, 0));

        let readiness_requests: u64 = results[4].requests * rounds as u64;
        println!(
            "\nprobe storm: ~{} readiness requests at {:.0}/s for {:.1}s in all; reached PostgreSQL: {pg_selects} `SELECT 1` ({:.2}/s), memcached: {mc_stats} `stats` ({:.2}/s); bound: 1 per check per TTL (1s) = 1.00/s each",
            readiness_requests,
            results[4].rps,
            storm_seconds,
            pg_selects as f64 / storm_seconds,
            mc_stats as f64 / storm_seconds,
        );

        // A black-holed database: new connects hang and pooled sockets go
        // silent. Sequential probes, each timed.
        pg_proxy.set(Fault::HangConnect);
        let mut timings = Vec::new();
        for _ in 0..20 {
            let started = Instant::now();
            let status = load::get_status(layered.addr, "/readiness").await;
            timings.push((started.elapsed(), status));
        }
        pg_proxy.set(Fault::Pass);
        let mut millis: Vec<f64> = timings.iter().map(|(t, _)| t.as_secs_f64() * 1000.0).collect();
        millis.sort_by(f64::total_cmp);
        let failed = timings.iter().filter(|(_, status)| *status == 503).count();
        println!(
            "\nblack-holed PostgreSQL, 20 sequential /readiness: {failed} answered 503; min {:.1} ms, median {:.1} ms, max {:.1} ms; deadline 800 ms, +10% = 880 ms",
            millis[0],
            millis[millis.len() / 2],
            millis[millis.len() - 1],
        );

        // Memory: RSS before and after a million probes and a million app
        // requests through the layer.
        let before = layered.rss_kib();
        let probes = load(layered.addr, "/healthz", connections, 300, million).await;
        let after_probes = layered.rss_kib();
        let apps = load(layered.addr, "/", connections, 300, million).await;
        let after_apps = layered.rss_kib();
        println!(
            "\nmemory of the layered app: RSS {before} KiB; after {} /healthz: {after_probes} KiB; after {} app requests: {after_apps} KiB",
            probes.requests, apps.requests
        );
        postgres.stop();
    });
}

/// The memcache client speaks memcached's binary protocol: a request
/// starts with the magic byte 0x80, and `stats` is opcode 0x10.
const MEMCACHE_BINARY_STAT: &[u8] = &[0x80, 0x10];

/// How many `SELECT 1` PostgreSQL has logged (`log_statement=all`).
fn postgres_selects(postgres: &support::servers::Server) -> u64 {
    postgres.log().matches("statement: SELECT 1").count() as u64
}
