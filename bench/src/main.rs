//! HTTP load benchmarks of healthz, measured from a second process on
//! loopback and always against a baseline measured in the same run.
//!
//! ```text
//! cargo build --release --example hyper --example axum_postgres_memcached
//! cargo run --release -p healthz-bench -- run --wrk   # everything: the tables of BENCHMARKS.md
//! cargo run --release -p healthz-bench -- serve layered  # one server (see serve.rs for the kinds)
//! cargo run --release -p healthz-bench -- load 127.0.0.1:8080 /healthz --connections 16 --seconds 5
//! ```
//!
//! `run` starts real PostgreSQL and memcached servers (through loopback
//! proxies that count what reaches them), the servers under load as child
//! processes (the bench's own, and the `hyper` and `axum_postgres_memcached`
//! example binaries when they are built), and drives each scenario from a
//! second process: our load generator, and wrk when it is installed (`--wrk`
//! requires it). Every load is bounded in requests and in time, and targets
//! 127.0.0.1 only.
//!
//! Over 400 lines: the `run` orchestration (servers, scenarios, the storm,
//! the fault and memory parts) and the tables it prints are still one
//! file; splitting scenarios from reporting is the next step.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use healthz::checks::memcache::{connect_lazy, MemcacheClient};
use healthz::HealthChecks;
use support::fault::{Fault, FaultProxy};
use support::servers::{Kind, Server as Dependency};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

mod cpu;
mod fault;
mod fleet;
mod inproc;
mod load;
mod serve;
mod wrk;

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

/// Connections in the app's pool: fewer than the fault-under-load clients.
pub const POOL: u32 = 4;

impl BenchState {
    pub fn connect(database_url: &str, memcache_url: &str) -> BenchState {
        BenchState {
            db: sqlx::postgres::PgPoolOptions::new()
                .max_connections(POOL)
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
        "usage:\n  healthz-bench run [--seconds S] [--rounds R] [--connections C] [--million N]\n    \
         [--wrk | --no-wrk] [--wrk-threads T] [--wrk-connections C]\n    \
         [--parts load,storm,fault,blackhole,memory,fleet] [--raw]\n    \
         [--servers NAME,...] [--fault-seconds S] [--fault-clients C]\n  \
         healthz-bench inproc [--rounds R] [--calls N]\n  \
         healthz-bench serve KIND [--pg URL --memcache URL] [--workers N]\n  \
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

/// Whether `--name` is among the arguments.
fn switch(args: &[String], name: &str) -> bool {
    args.iter().any(|arg| arg == name)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => serve::main(&args[1..]),
        Some("load") => load::main(&args[1..]),
        Some("run") => run(&args[1..]),
        Some("inproc") => inproc::main(&args[1..]),
        _ => usage(),
    }
}

/// What a server process wrote, drained so that it never blocks on a full
/// pipe: how many lines, and the last one.
#[derive(Default)]
struct Output {
    lines: u64,
    last: String,
}

/// A server child process and its address.
struct Server {
    child: Child,
    addr: SocketAddr,
    output: Arc<Mutex<Output>>,
}

/// How to start one of the servers under load.
#[derive(Clone, Copy)]
enum Launch {
    /// `healthz-bench serve KIND ARGS...`
    Bench(&'static str, &'static [&'static str]),
    /// An example binary, built beside this one, with extra environment.
    Example(&'static str, &'static [(&'static str, &'static str)]),
}

impl Server {
    /// Starts a server; `None` for an example binary that is not built.
    async fn start(launch: Launch, pg: &str, memcache: &str) -> Option<Server> {
        let mut command = match launch {
            Launch::Bench(kind, extra) => {
                let mut command = Command::new(std::env::current_exe().unwrap());
                command
                    .args(["serve", kind, "--pg", pg, "--memcache", memcache])
                    .args(extra);
                command
            }
            Launch::Example(name, env) => {
                let binary = example_binary(name);
                if !binary.is_file() {
                    return None;
                }
                let port = support::servers::free_port();
                let mut command = Command::new(binary);
                command
                    .env_remove("RUST_LOG")
                    .env("BIND", format!("127.0.0.1:{port}"))
                    .env("DATABASE_URL", pg)
                    .env("MEMCACHE_URLS", memcache)
                    .envs(env.iter().copied());
                command
            }
        };
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start a server process");
        let output = Arc::new(Mutex::new(Output::default()));
        drain(child.stderr.take().unwrap(), output.clone());
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = loop {
            let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .expect("the server did not start within 30s")
                .unwrap()
                .expect("the server exited");
            // `listening ADDR` (the bench) or `listening on http://ADDR ...`
            // (the examples).
            if let Some(rest) = line.strip_prefix("listening ") {
                let rest = rest.trim_start_matches("on http://");
                let addr = rest.split_whitespace().next().unwrap_or_default();
                break addr.parse().expect("a listening address");
            }
        };
        drain(lines.into_inner(), output.clone());
        Some(Server {
            child,
            addr,
            output,
        })
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

/// Reads `from` to its end in the background, counting lines.
fn drain(from: impl AsyncRead + Unpin + Send + 'static, into: Arc<Mutex<Output>>) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(from).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut output = into.lock().unwrap();
            output.lines += 1;
            output.last = line;
        }
    });
}

/// Where cargo puts example `name` of this profile: beside this binary.
fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().join("examples").join(name)
}

/// Runs our load generator in a child process and returns its result.
async fn own_load(
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
        .kill_on_drop(true)
        .output()
        .await
        .expect("run the load generator");
    let stdout = String::from_utf8_lossy(&output.stdout);
    load::Summary::parse(&stdout)
        .unwrap_or_else(|| panic!("no result from the load generator: {stdout}"))
}

/// The servers under load: a name for the tables, how to start it.
#[rustfmt::skip]
const SERVERS: &[(&str, Launch)] = &[
    ("bare", Launch::Bench("bare", &[])),
    ("app", Launch::Bench("app", &[])),
    ("layered", Launch::Bench("layered", &[])),
    ("background", Launch::Bench("background", &[])),
    ("slow-on-demand", Launch::Bench("slow-on-demand", &[])),
    ("hyper-ok", Launch::Bench("hyper-ok", &[])),
    ("hyper-ok-1w", Launch::Bench("hyper-ok", &["--workers", "1"])),
    ("hyper-auto-ok", Launch::Bench("hyper-auto-ok", &[])),
    ("hyper-layered", Launch::Bench("hyper-layered", &[])),
    ("hyper-layered-1w", Launch::Bench("hyper-layered", &["--workers", "1"])),
    ("example-hyper", Launch::Example("hyper", &[])),
    ("axum-ok", Launch::Bench("axum-ok", &[])),
    ("axum-layered", Launch::Bench("axum-layered", &[])),
    ("axum-outer", Launch::Bench("axum-outer", &[])),
    ("axum-traced", Launch::Bench("axum-traced", &[])),
    ("axum-ok-1w", Launch::Bench("axum-ok", &["--workers", "1"])),
    ("axum-layered-1w", Launch::Bench("axum-layered", &["--workers", "1"])),
    ("example-axum", Launch::Example(AXUM_EXAMPLE, &[])),
    ("example-axum-quiet", Launch::Example(AXUM_EXAMPLE, &[("RUST_LOG", "off")])),
    ("example-axum-1w", Launch::Example(AXUM_EXAMPLE, &[("TOKIO_WORKER_THREADS", "1")])),
];

const AXUM_EXAMPLE: &str = "axum_postgres_memcached";

/// One scenario: a name, the server, the path every request asks.
struct Scenario {
    name: &'static str,
    server: &'static str,
    path: &'static str,
}

const fn scenario(name: &'static str, server: &'static str, path: &'static str) -> Scenario {
    Scenario { name, server, path }
}

// Names of the scenarios the figures divide.
const BARE: &str = "bare hyper OK (1 worker, nodelay)";
const BACKGROUND: &str = "/readiness, background mode, 400ms check";
const SLOW_ON_DEMAND: &str = "/readiness, on demand (1s cache), 400ms check";
const HYPER_OK: &str = "hyper OK, examples/hyper.rs construction";
const HYPER_MIRROR: &str = "hyper example mirror: /healthz";
const HYPER_OK_1W: &str = "hyper OK, same construction, 1 worker";
const HYPER_MIRROR_1W: &str = "hyper example mirror, 1 worker: /healthz";
const HYPER_BINARY: &str = "hyper example binary: /healthz";
const AXUM_OK: &str = "axum::serve, trivial /healthz route, no layer";
const AXUM_LAYERED: &str = "axum::serve + layer: /healthz";
const AXUM_OK_1W: &str = "axum::serve, 1 worker, trivial /healthz route";
const AXUM_LAYERED_1W: &str = "axum::serve, 1 worker, + layer: /healthz";
const AXUM_BINARY: &str = "axum example binary: /healthz";
const AXUM_BINARY_READINESS: &str = "axum example binary: /readiness (cached)";

#[rustfmt::skip]
const SCENARIOS: &[Scenario] = &[
    // DESIGN §7, one worker per server.
    scenario(BARE, "bare", "/"),
    scenario("app, no layer", "app", "/"),
    scenario("app through the layer", "layered", "/"),
    scenario("/healthz", "layered", "/healthz"),
    scenario("/readiness (cached)", "layered", "/readiness"),
    scenario(BACKGROUND, "background", "/readiness"),
    scenario(SLOW_ON_DEMAND, "slow-on-demand", "/readiness"),
    // As the examples serve: tokio's default runtime (2 workers here).
    scenario(HYPER_OK, "hyper-ok", "/"),
    scenario(HYPER_MIRROR, "hyper-layered", "/healthz"),
    scenario(HYPER_BINARY, "example-hyper", "/healthz"),
    scenario(HYPER_OK_1W, "hyper-ok-1w", "/"),
    scenario(HYPER_MIRROR_1W, "hyper-layered-1w", "/healthz"),
    scenario("hyper OK, hyper-util auto builder", "hyper-auto-ok", "/"),
    scenario(AXUM_OK, "axum-ok", "/healthz"),
    scenario(AXUM_LAYERED, "axum-layered", "/healthz"),
    scenario(AXUM_BINARY, "example-axum", "/healthz"),
    scenario("axum::serve, layer around the Router: /healthz", "axum-outer", "/healthz"),
    scenario("axum::serve + layer: /readiness (cached)", "axum-layered", "/readiness"),
    scenario(AXUM_BINARY_READINESS, "example-axum", "/readiness"),
    scenario("axum::serve + layer + tracing (info): /healthz", "axum-traced", "/healthz"),
    scenario("axum example binary, RUST_LOG=off: /healthz", "example-axum-quiet", "/healthz"),
    scenario(AXUM_OK_1W, "axum-ok-1w", "/healthz"),
    scenario(AXUM_LAYERED_1W, "axum-layered-1w", "/healthz"),
    scenario("axum example binary, 1 worker: /healthz", "example-axum-1w", "/healthz"),
];

/// The index of the scenario named `name`.
fn at(name: &str) -> usize {
    SCENARIOS
        .iter()
        .position(|s| s.name == name)
        .unwrap_or_else(|| panic!("no scenario {name:?}"))
}

/// The figures: a name, the scenario measured, its baseline, the target.
#[rustfmt::skip]
const RATIOS: &[(&str, &str, &str, Option<f64>)] = &[
    ("pass-through: app through the layer ÷ app without", "app through the layer", "app, no layer", Some(0.98)),
    ("`/healthz` ÷ bare hyper OK", "/healthz", BARE, Some(0.95)),
    ("`/readiness` from cache ÷ bare hyper OK", "/readiness (cached)", BARE, Some(0.9)),
    ("background-mode `/readiness` (400ms check) ÷ bare hyper OK", BACKGROUND, BARE, Some(0.9)),
    ("on-demand `/readiness` (400ms check, 1s cache) ÷ bare hyper OK", SLOW_ON_DEMAND, BARE, None),
    ("hyper example (mirror) `/healthz` ÷ hyper OK, same construction", HYPER_MIRROR, HYPER_OK, Some(0.97)),
    ("hyper example binary `/healthz` ÷ hyper OK, same construction", HYPER_BINARY, HYPER_OK, Some(0.97)),
    ("same, 1 worker each", HYPER_MIRROR_1W, HYPER_OK_1W, Some(0.97)),
    ("axum + layer `/healthz` ÷ same axum app, trivial route", AXUM_LAYERED, AXUM_OK, Some(0.97)),
    ("same, 1 worker each", AXUM_LAYERED_1W, AXUM_OK_1W, Some(0.97)),
    ("axum example binary `/healthz` ÷ axum app, trivial route", AXUM_BINARY, AXUM_OK, Some(0.97)),
    ("axum example binary `/healthz` ÷ bare hyper OK (1 worker)", AXUM_BINARY, BARE, None),
    ("axum example binary `/readiness` ÷ bare hyper OK (1 worker)", AXUM_BINARY_READINESS, BARE, None),
];

/// The load generators, by column.
const DRIVERS: [&str; 2] = ["own client", "wrk"];

/// One measured run: the load generator's result, and the CPU time the
/// server spent per request.
struct Run {
    summary: load::Summary,
    server_us: f64,
}

/// Every run of every scenario, per driver, in round order.
struct Results {
    runs: Vec<[Vec<Run>; 2]>,
    /// Per scenario and driver: the most other work seen in a kept run
    /// (cores), and how many runs were measured again.
    disturbance: Vec<[(f64, u32); 2]>,
}

/// Runs `measure` against `server` once the machine is quiet, again (at
/// most twice more) if other work disturbed it; returns the run, the other
/// work during it (cores) and how many runs were discarded.
async fn undisturbed<F, Fut>(server: u32, pids: &[u32], mut measure: F) -> (Run, f64, u32)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = load::Summary>,
{
    let mut discarded = 0;
    loop {
        cpu::wait_quiet().await;
        let start = cpu::snapshot(pids);
        let server_start = cpu::process_seconds(server);
        let summary = measure().await;
        let server_seconds = cpu::process_seconds(server) - server_start;
        let others = cpu::others(&start, &cpu::snapshot(pids));
        if others <= cpu::DISTURBED || discarded == 2 {
            let server_us = server_seconds * 1e6 / summary.requests.max(1) as f64;
            let run = Run { summary, server_us };
            return (run, others, discarded);
        }
        discarded += 1;
    }
}

impl Results {
    fn record(&mut self, scenario: usize, driver: usize, run: Run, others: f64, discarded: u32) {
        self.runs[scenario][driver].push(run);
        let seen = &mut self.disturbance[scenario][driver];
        *seen = (seen.0.max(others), seen.1 + discarded);
    }

    fn median(&self, scenario: usize, driver: usize) -> Option<&load::Summary> {
        let runs = &self.runs[scenario][driver];
        let mut sorted: Vec<&load::Summary> = runs.iter().map(|run| &run.summary).collect();
        sorted.sort_by(|a, b| a.rps.total_cmp(&b.rps));
        sorted.get(sorted.len() / 2).copied()
    }

    /// The median of the server's CPU time per request, µs.
    fn median_cpu(&self, scenario: usize, driver: usize) -> f64 {
        let mut cpu: Vec<f64> = self.runs[scenario][driver]
            .iter()
            .map(|run| run.server_us)
            .collect();
        cpu.sort_by(f64::total_cmp);
        cpu.get(cpu.len() / 2).copied().unwrap_or(0.0)
    }

    /// Per round: the baseline's server CPU per request ÷ the scenario's
    /// (below 1: the scenario costs more per request), sorted.
    fn cpu_ratios(&self, a: usize, b: usize, driver: usize) -> Vec<f64> {
        let mut ratios: Vec<f64> = self.runs[a][driver]
            .iter()
            .zip(&self.runs[b][driver])
            .map(|(a, b)| b.server_us / a.server_us)
            .collect();
        ratios.sort_by(f64::total_cmp);
        ratios
    }

    /// The ratio of `a` to `b` in each round, sorted.
    fn ratios(&self, a: usize, b: usize, driver: usize) -> Vec<f64> {
        let mut ratios: Vec<f64> = self.runs[a][driver]
            .iter()
            .zip(&self.runs[b][driver])
            .map(|(a, b)| a.summary.rps / b.summary.rps)
            .collect();
        ratios.sort_by(f64::total_cmp);
        ratios
    }
}

/// "0.981 (0.95–1.01)": the median of the per-round ratios and their range.
fn ratio_cell(ratios: &[f64]) -> String {
    match ratios {
        [] => "–".to_owned(),
        [only] => format!("{only:.3}"),
        _ => format!(
            "{:.3} ({:.2}–{:.2})",
            ratios[ratios.len() / 2],
            ratios[0],
            ratios[ratios.len() - 1]
        ),
    }
}

/// What `run` was asked to do.
struct Settings {
    seconds: u64,
    connections: usize,
    million: u64,
    rounds: usize,
    parts: String,
    fault_plan: fault::Plan,
    wrk: Option<wrk::Wrk>,
    /// Print every run as it is measured.
    raw: bool,
    /// Only these servers (and their scenarios); empty: all.
    servers: Vec<String>,
}

impl Settings {
    fn from(args: &[String]) -> Settings {
        Settings {
            seconds: flag(args, "--seconds", 4),
            connections: flag(args, "--connections", 16),
            million: flag(args, "--million", 1_000_000),
            rounds: flag(args, "--rounds", 3),
            parts: flag(
                args,
                "--parts",
                "load,storm,fault,blackhole,memory".to_owned(),
            ),
            fault_plan: fault::Plan {
                clients: flag(args, "--fault-clients", 32),
                warm: Duration::from_secs(3),
                fault: Duration::from_secs(flag(args, "--fault-seconds", 8)),
                after: Duration::from_secs(4),
            },
            wrk: find_wrk(args),
            raw: switch(args, "--raw"),
            servers: flag(args, "--servers", String::new())
                .split(',')
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }

    fn part(&self, name: &str) -> bool {
        self.parts.split(',').any(|p| p == name)
    }
}

/// wrk, when `--wrk` asks for it (exiting if it is missing) or when it is
/// on `PATH` and `--no-wrk` does not refuse it.
fn find_wrk(args: &[String]) -> Option<wrk::Wrk> {
    if switch(args, "--no-wrk") {
        return None;
    }
    let asked = switch(args, "--wrk");
    let found = wrk::Wrk::find(
        flag(args, "--wrk-threads", 2),
        flag(args, "--wrk-connections", 64),
    );
    match found {
        Some(_) if !asked => {
            println!("wrk is on PATH: every scenario is also driven by wrk (--no-wrk to skip)");
        }
        None if asked => {
            eprintln!(
                "--wrk: wrk is not installed (not on PATH). Install it with `{}` \
                 (or `bash scripts/provision.sh`), or run without --wrk.",
                wrk::INSTALL
            );
            std::process::exit(1);
        }
        None => println!(
            "wrk is not on PATH: scenarios are driven by our client only \
             (install it with `{}` and pass --wrk to add wrk)",
            wrk::INSTALL
        ),
        Some(_) => {}
    }
    found
}

fn run(args: &[String]) {
    let settings = Settings::from(args);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run_all(settings));
}

/// The dependencies, behind their proxies, and the servers under load.
struct Bench {
    postgres: Dependency,
    _memcached: Dependency,
    pg_proxy: FaultProxy,
    mc_proxy: FaultProxy,
    mc_url: String,
    servers: Vec<(&'static str, Option<Server>)>,
    pids: Vec<u32>,
}

impl Bench {
    /// Starts the servers named in `only` (all when it is empty; the
    /// layered server always, for the parts after the load).
    async fn start(only: &[String]) -> Bench {
        let postgres = Dependency::start_with(Kind::Postgres, &["-c", "log_statement=all"]);
        let memcached = Dependency::start(Kind::Memcached);
        let pg_proxy = FaultProxy::start(postgres.addr());
        let mc_proxy = FaultProxy::start(memcached.addr());
        let pg_url = postgres.url_via(pg_proxy.addr());
        let mc_url = memcached.url_via(mc_proxy.addr());
        let mut servers = Vec::new();
        for (name, launch) in SERVERS {
            if !only.is_empty() && *name != "layered" && !only.iter().any(|o| o == name) {
                servers.push((*name, None));
                continue;
            }
            let server = Server::start(*launch, &pg_url, &mc_url).await;
            if server.is_none() {
                println!(
                    "{name}: not built, skipped; build the examples first with \
                     `cargo build --release --example hyper --example axum_postgres_memcached`"
                );
            }
            servers.push((*name, server));
        }
        let pids = servers
            .iter()
            .filter_map(|(_, s)| s.as_ref()?.child.id())
            .collect();
        Bench {
            postgres,
            _memcached: memcached,
            pg_proxy,
            mc_proxy,
            mc_url,
            servers,
            pids,
        }
    }

    fn server(&self, name: &str) -> Option<&Server> {
        let (_, server) = self.servers.iter().find(|(n, _)| *n == name)?;
        server.as_ref()
    }

    fn layered(&self) -> &Server {
        self.server("layered").expect("the layered server")
    }
}

async fn run_all(settings: Settings) {
    let mut bench = Bench::start(&settings.servers).await;
    println!(
        "machine: {} cores; load: our client {} connections, {}{}s per run, \
         median of {} interleaved rounds",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        settings.connections,
        settings.wrk.as_ref().map_or(String::new(), |w| format!(
            "wrk -t{} -c{} ",
            w.threads, w.connections
        )),
        settings.seconds,
        settings.rounds,
    );
    if settings.part("load") {
        load_scenarios(&bench, &settings).await;
    }
    if settings.part("storm") {
        storm(&bench, settings.connections).await;
    }
    if settings.part("fault") {
        fault_under_load(&bench, &settings.fault_plan).await;
    }
    if settings.part("blackhole") {
        black_hole(&bench).await;
    }
    if settings.part("memory") {
        memory(&bench, settings.connections, settings.million).await;
    }
    if settings.part("fleet") {
        fleet::run(&bench.postgres.url()).await;
    }
    println!("\nlines the servers wrote (stdout and stderr):");
    for (name, server) in &bench.servers {
        if let Some(server) = server {
            let output = server.output.lock().unwrap();
            println!("  {name}: {} {}", output.lines, output.last);
        }
    }
    bench.postgres.stop();
}

/// Prints one Markdown table row.
fn row(cells: impl IntoIterator<Item = String>) {
    let cells: Vec<String> = cells.into_iter().collect();
    println!("| {} |", cells.join(" | "));
}

/// Every scenario, both drivers, interleaved rounds; then the tables.
async fn load_scenarios(bench: &Bench, settings: &Settings) {
    let (seconds, connections) = (settings.seconds, settings.connections);
    // Warm up every path once.
    for scenario in SCENARIOS {
        if let Some(server) = bench.server(scenario.server) {
            let warm = own_load(server.addr, scenario.path, connections, 1, u64::MAX).await;
            assert!(warm.requests > 0, "no request succeeded: {}", scenario.name);
        }
    }
    let mut results = Results {
        runs: SCENARIOS.iter().map(|_| [Vec::new(), Vec::new()]).collect(),
        disturbance: vec![[(0.0, 0); 2]; SCENARIOS.len()],
    };
    let started = Instant::now();
    for round in 0..settings.rounds {
        // Forward in even rounds, backward in odd ones: a drift of the
        // machine over the run weighs on every scenario alike.
        let mut order: Vec<usize> = (0..SCENARIOS.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let scenario = &SCENARIOS[i];
            let Some(server) = bench.server(scenario.server) else {
                continue;
            };
            let (addr, path, pid) = (server.addr, scenario.path, server.child.id().unwrap());
            let (own, others, discarded) = undisturbed(pid, &bench.pids, || {
                own_load(addr, path, connections, seconds, 50_000_000)
            })
            .await;
            if settings.raw {
                println!("raw {round} own {:?} {:?}", scenario.name, own.summary);
            }
            results.record(i, 0, own, others, discarded);
            if let Some(wrk) = &settings.wrk {
                let (run, others, discarded) = undisturbed(pid, &bench.pids, || {
                    wrk.run(addr, path, seconds, 50_000_000)
                })
                .await;
                if settings.raw {
                    println!("raw {round} wrk {:?} {:?}", scenario.name, run.summary);
                }
                results.record(i, 1, run, others, discarded);
            }
        }
    }
    println!(
        "\nload runs took {:.0}s in all, waits for a quiet machine included",
        started.elapsed().as_secs_f64()
    );
    let drivers = &DRIVERS[..if settings.wrk.is_some() { 2 } else { 1 }];
    let present = |name: &str| bench.server(SCENARIOS[at(name)].server).is_some();

    println!();
    row(
        std::iter::once("scenario".to_owned()).chain(drivers.iter().map(|d| {
            format!(
                "{d}: req/s | p50 | p99 | server CPU per request | non-2xx, errors \
                     | other CPU (max), reruns"
            )
        })),
    );
    row(std::iter::once("---".to_owned()).chain(
        drivers
            .iter()
            .map(|_| "---: | ---: | ---: | ---: | ---: | ---:".to_owned()),
    ));
    for (i, scenario) in SCENARIOS.iter().enumerate() {
        if !present(scenario.name) {
            continue;
        }
        let name = format!("{} `{}`", scenario.name.trim(), scenario.path);
        row(
            std::iter::once(name).chain((0..drivers.len()).map(|driver| {
                let r = results.median(i, driver).unwrap();
                let (others, discarded) = results.disturbance[i][driver];
                format!(
                    "{:.0} | {} µs | {} µs | {:.2} µs | {}, {} | {others:.2} cores, {discarded}",
                    r.rps,
                    r.p50_us,
                    r.p99_us,
                    results.median_cpu(i, driver),
                    r.non_2xx,
                    r.errors
                )
            })),
        );
    }

    println!();
    row(["figure".to_owned()]
        .into_iter()
        .chain(
            drivers
                .iter()
                .map(|d| format!("{d}: throughput | CPU per request")),
        )
        .chain(["target".to_owned()]));
    row(["---".to_owned()]
        .into_iter()
        .chain(drivers.iter().map(|_| "---: | ---:".to_owned()))
        .chain(["---:".to_owned()]));
    for (name, of, baseline, target) in RATIOS {
        if !present(of) || !present(baseline) {
            continue;
        }
        let (a, b) = (at(of), at(baseline));
        row(std::iter::once(name.to_string())
            .chain((0..drivers.len()).map(|d| {
                format!(
                    "{} | {}",
                    ratio_cell(&results.ratios(a, b, d)),
                    ratio_cell(&results.cpu_ratios(a, b, d))
                )
            }))
            .chain([target.map_or("–".to_owned(), |t| format!("≥ {t}"))]));
    }

    // Where the throughput goes: every scenario against the example-style
    // hyper OK server and against the one-worker bare server.
    let (base, bare) = (at(HYPER_OK), at(BARE));
    println!();
    row(std::iter::once("breakdown".to_owned()).chain(
        drivers.iter().map(|d| {
            format!("{d}: ÷ hyper OK (2 workers) | ÷ bare (1 worker) | server CPU µs/req")
        }),
    ));
    row(std::iter::once("---".to_owned())
        .chain(drivers.iter().map(|_| "---: | ---: | ---:".to_owned())));
    for (i, scenario) in SCENARIOS.iter().enumerate() {
        if !present(scenario.name) {
            continue;
        }
        let name = format!("{} `{}`", scenario.name.trim(), scenario.path);
        row(std::iter::once(name).chain((0..drivers.len()).map(|d| {
            format!(
                "{} | {} | {:.2}",
                ratio_cell(&results.ratios(i, base, d)),
                ratio_cell(&results.ratios(i, bare, d)),
                results.median_cpu(i, d)
            )
        })));
    }
}

/// One continuous storm on the layered app's readiness: what reaches the
/// dependencies.
async fn storm(bench: &Bench, connections: usize) {
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
async fn fault_under_load(bench: &Bench, plan: &fault::Plan) {
    // Its own proxy, so that the fault reaches this app only.
    let proxy = FaultProxy::start(bench.postgres.addr());
    let pg_url = bench.postgres.url_via(proxy.addr());
    let app = Server::start(Launch::Bench("axum-layered", &[]), &pg_url, &bench.mc_url)
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
async fn black_hole(bench: &Bench) {
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
async fn memory(bench: &Bench, connections: usize, million: u64) {
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
