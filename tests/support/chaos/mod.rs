//! A seeded chaos campaign against a backend's app under its own load,
//! scored per 100 ms window against the app's own requests: how often
//! readiness is wrong, and how late ([`score`]).
//!
//! [`backend_suite!`](crate::backend_suite) stamps one campaign per backend
//! (with saturation for pools); `cargo test` runs those of the few suites
//! stamped with `campaign` (CI's short campaign), and `scripts/chaos.sh`
//! every one. A backend's further dependencies ([`Backend::also`]) are
//! faulted on schedules of their own, so that faults overlap. The length,
//! seeds and modes come from the environment:
//!
//! - `HEALTHZ_CHAOS_SECONDS`: the length of each run (default 9, so that
//!   CI's campaign stays within a few minutes);
//! - `HEALTHZ_CHAOS_SEEDS`: comma-separated seeds (default `1,6`);
//! - `HEALTHZ_CHAOS_MODES`: comma-separated [`Mode`] names, or `all`
//!   (default `on-demand`);
//! - `HEALTHZ_CHAOS_REPORT`: a file each run appends its table row to.
//!
//! Every run fails on a false-ready window beyond the allowance: 200 while
//! the app could not serve, later than the probes' configuration allows.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use healthz::HealthChecks;

use crate::backend::{app, Backend, PoolBackend};
use crate::fault::FaultProxy;
use crate::serve;
use crate::servers::Server;

pub mod modes;
pub mod record;
pub mod schedule;
pub mod score;

pub use modes::{Mode, Moded};
use schedule::{Applied, Target};
use score::{percentile, Allowance, Score};

/// What a run needs to saturate a pool: built from the client.
type Saturator<C> = fn(&C) -> Box<dyn Fn() + Send>;

/// The campaign of backend `B`.
pub async fn campaign<B: Backend>() {
    campaign_of::<B>(None).await;
}

/// The campaign of pool backend `B`, saturation included.
pub async fn campaign_pool<B: PoolBackend>() {
    campaign_of::<B>(Some(saturator::<B>)).await;
}

fn saturator<B: PoolBackend>(client: &B::Client) -> Box<dyn Fn() + Send> {
    let handle = tokio::runtime::Handle::current();
    let client = client.clone();
    Box::new(move || {
        handle.block_on(async {
            let held = B::hold_every_connection(&client).await;
            B::release(held).await;
        });
    })
}

/// The seeds of CI's short campaign: in 9 s, seed 1 draws a graceful
/// restart for a pool and flapping for any other client, seed 6 a frozen
/// server (SIGSTOP) for a pool and a partial fault for any other.
const DEFAULT_SEEDS: [u64; 2] = [1, 6];

/// The campaign's settings, from the environment.
struct Settings {
    length: Duration,
    seeds: Vec<u64>,
    modes: Vec<Mode>,
    report: Option<String>,
}

impl Settings {
    fn from_env() -> Settings {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let seconds: u64 = var("HEALTHZ_CHAOS_SECONDS").map_or(9, |v| {
            v.trim()
                .parse()
                .expect("HEALTHZ_CHAOS_SECONDS: whole seconds")
        });
        assert!(
            (9..=3_600).contains(&seconds),
            "HEALTHZ_CHAOS_SECONDS must be 9 to 3600"
        );
        let seeds = var("HEALTHZ_CHAOS_SEEDS").map_or(DEFAULT_SEEDS.to_vec(), |v| {
            v.split(',')
                .map(|seed| seed.trim().parse().expect("HEALTHZ_CHAOS_SEEDS: integers"))
                .collect()
        });
        let modes = match var("HEALTHZ_CHAOS_MODES").as_deref() {
            None => vec![Mode::OnDemand],
            Some("all") => Mode::ALL.to_vec(),
            Some(names) => names
                .split(',')
                .map(|name| {
                    Mode::named(name.trim()).unwrap_or_else(|| {
                        panic!("HEALTHZ_CHAOS_MODES: unknown mode `{name}` (all, on-demand, on-demand+damping, background, background+damping)")
                    })
                })
                .collect(),
        };
        Settings {
            length: Duration::from_secs(seconds),
            seeds,
            modes,
            report: var("HEALTHZ_CHAOS_REPORT"),
        }
    }
}

async fn campaign_of<B: Backend>(saturate: Option<Saturator<B::Client>>) {
    let settings = Settings::from_env();
    let mut wrong = Vec::new();
    for &seed in &settings.seeds {
        for &mode in &settings.modes {
            let (scored, applied) = match mode {
                Mode::OnDemand => {
                    run::<B, Moded<B::State, 0>>(seed, mode, &settings, saturate).await
                }
                Mode::OnDemandDamped => {
                    run::<B, Moded<B::State, 1>>(seed, mode, &settings, saturate).await
                }
                Mode::Background => {
                    run::<B, Moded<B::State, 2>>(seed, mode, &settings, saturate).await
                }
                Mode::BackgroundDamped => {
                    run::<B, Moded<B::State, 3>>(seed, mode, &settings, saturate).await
                }
            };
            for (score, row) in scored {
                println!("{row}\n  faults (from, to, what): {applied:?}");
                if let Some(path) = &settings.report {
                    let mut file = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .expect("open HEALTHZ_CHAOS_REPORT");
                    writeln!(file, "{row}").expect("write HEALTHZ_CHAOS_REPORT");
                }
                if score.false_ready > 0.0 {
                    wrong.push(format!(
                        "{row}\n  false-ready windows at {:?}\n  faults applied (from, to, what): {applied:?}",
                        score.false_ready_at
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "readiness answered 200 while the app could not serve, beyond the allowance:\n{}",
        wrong.join("\n")
    );
}

/// One run of one seed in one mode: the score and table row of the HTTP
/// probes and of the gRPC `Watch`, and the faults applied.
async fn run<B, S>(
    seed: u64,
    mode: Mode,
    settings: &Settings,
    saturate: Option<Saturator<B::Client>>,
) -> (Vec<(Score, String)>, Vec<(Duration, Duration, String)>)
where
    B: Backend,
    S: HealthChecks + Clone + From<B::State>,
{
    let server = Server::start(B::KIND);
    let proxy = Arc::new(FaultProxy::start(server.addr()));
    let client = B::client(&server, proxy.addr()).await;
    // The server and its proxy are held here until the run is scored: a
    // schedule thread that ends early must not stop them with it.
    let server = Arc::new(Mutex::new(server));
    let state = S::from(B::state(&client));
    let addr = serve(app::<B, _>(client.clone(), crate::trusted(&state))).await;
    let watched = crate::trusted(&state);
    let reports = watched.subscribe();
    let grpc = serve_grpc(watched).await;
    crate::verdict::assert_recovers(addr, B::RECOVERY).await;

    let mut schedules = vec![(
        schedule::plan(seed, settings.length, saturate.is_some()),
        Target {
            name: String::new(),
            server: Arc::clone(&server),
            proxy: Arc::clone(&proxy),
            saturate: saturate.map(|saturator| saturator(&client)),
        },
    )];
    for (index, also) in B::also(&client).into_iter().enumerate() {
        schedules.push((
            schedule::plan_also(seed, index, settings.length),
            Target {
                name: format!("dependency {}: ", index + 2),
                server: also.server,
                proxy: also.proxy,
                saturate: None,
            },
        ));
    }
    let applied = Arc::new(Applied::default());
    let start = Instant::now();
    let threads: Vec<_> = schedules
        .into_iter()
        .map(|(plan, target)| {
            let applied = Arc::clone(&applied);
            std::thread::Builder::new()
                .name("chaos-schedule".into())
                .spawn(move || schedule::apply(&plan, start, target, &applied))
                .expect("spawn a schedule thread")
        })
        .collect();
    let observed = record::observe(
        addr,
        grpc,
        reports,
        B::ROUTE,
        start,
        settings.length,
        B::APP_TIMEOUT + Duration::from_secs(1),
    )
    .await;
    tokio::task::spawn_blocking(move || {
        for thread in threads {
            thread.join().expect("a schedule thread panicked");
        }
    })
    .await
    .expect("join the schedule threads");
    drop((server, proxy));

    let allowance = Allowance::of(
        S::config(),
        B::APP_TIMEOUT,
        B::patience(&client),
        B::SLOW_WAIT,
    );
    let requests = observed.requests.lock().unwrap().clone();
    let probes = observed.probes.lock().unwrap().clone();
    let applied = applied.0.lock().unwrap().clone();
    let faults: Vec<Duration> = applied.iter().map(|(began, _, _)| *began).collect();
    let watched = observed.watch_as_probes(settings.length);
    let scored = [
        (name::<B>(), probes),
        (format!("{} (Watch)", name::<B>()), watched),
    ]
    .into_iter()
    .map(|(name, probes)| {
        let score = Score::of(&requests, &probes, settings.length, allowance, &faults);
        let row = row(&name, mode, seed, settings.length, &score, allowance);
        (score, row)
    })
    .collect();
    (scored, applied)
}

/// Serves the gRPC health service of `probes` on a free port of
/// 127.0.0.1, in the background, until the test's runtime shuts down.
async fn serve_grpc<S: HealthChecks + Clone>(probes: healthz::Probes<S>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(healthz::grpc::health_server(probes))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    addr
}

/// The backend's name in the report: its type's whole path, from the
/// test file (two files may name a type alike: `postgres::Deadpool` and
/// `diesel_async::postgres::Deadpool`), and its type argument's last
/// segment (`diesel::R2d2<PgConnection>`).
fn name<B>() -> String {
    let full = std::any::type_name::<B>();
    let (outer, generic) = full.split_once('<').unwrap_or((full, ""));
    match generic.trim_end_matches('>').rsplit("::").next() {
        Some(argument) if !argument.is_empty() => format!("{outer}<{argument}>"),
        _ => outer.to_owned(),
    }
}

fn lags(lags: &[Duration], allowed: Duration) -> String {
    let ms = |lag: Option<Duration>| {
        lag.map_or("–".to_owned(), |lag| format!("{:.1}", lag.as_secs_f64()))
    };
    format!(
        "{} / {} / {} ({:.1})",
        ms(percentile(lags, 50)),
        ms(percentile(lags, 99)),
        ms(lags.iter().max().copied()),
        allowed.as_secs_f64()
    )
}

/// The report's table row.
fn row(
    backend: &str,
    mode: Mode,
    seed: u64,
    length: Duration,
    score: &Score,
    allowance: Allowance,
) -> String {
    let share = if score.serving > 0.0 {
        100.0 * score.false_unready / score.serving
    } else {
        0.0
    };
    format!(
        "| {backend} | {} | {seed} | {} | {:.1} | {:.1} | **{:.1}** | {:.1} ({share:.2} %) | {} | {} | {:.1} | {} |",
        mode.name(),
        length.as_secs(),
        score.serving,
        score.not_serving,
        score.false_ready,
        score.false_unready,
        lags(&score.to_unready, allowance.to_unready),
        lags(&score.to_ready, allowance.to_ready),
        score.busy,
        score.slow_probes,
    )
}

/// The table's header, matching the rows of a run.
pub const HEADER: &str = "| backend | mode | seed | s | serving s | not serving s | false-ready s | false-unready s (% of serving) | to 503 p50 / p99 / max (allowed) s | to 200 p50 / p99 / max (allowed) s | busy s | probes > 1 s |\n|---|---|---:|---:|---:|---:|---:|---:|---|---|---:|---:|";
