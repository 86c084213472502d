//! A fleet of 100 simulated pods, started in the same instant (a rollout,
//! a node coming back), each with one background check running a real
//! `SELECT 1` every second: the statements the shared database receives,
//! per second and at the peak 100ms window, with jitter (the default) and
//! without (`jitter = false`).
//!
//! Every pod is its own `Probes` with its own schedule, as in a fleet; they
//! share one process and one pool (the database's side of the fleet), and
//! each statement is counted as it is sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use healthz::HealthChecks;
use tokio::time::Instant;

const PODS: usize = 100;
/// How long each fleet runs; the first second (every pod's first run, at
/// once in both modes) is left out of the figures.
const RUN: Duration = Duration::from_secs(11);
const WINDOW: Duration = Duration::from_millis(100);

/// One pod's database, and the fleet's statement log.
#[derive(Clone)]
struct Pod {
    pool: sqlx::PgPool,
    sent: Arc<Mutex<Vec<Instant>>>,
}

async fn select_one(pod: &Pod) -> Result<(), sqlx::Error> {
    pod.sent.lock().unwrap().push(Instant::now());
    sqlx::query("SELECT 1").execute(&pod.pool).await.map(drop)
}

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "800ms", interval = "1s")]
struct Jittered {
    #[healthz(with = select_one)]
    db: Pod,
}

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "800ms", interval = "1s", jitter = false)]
struct Aligned {
    #[healthz(with = select_one)]
    db: Pod,
}

/// What the database saw from one fleet.
struct Load {
    per_second: f64,
    peak_window: usize,
    mean_window: f64,
}

async fn fleet<T: HealthChecks + Clone>(build: impl Fn(Pod) -> T, pool: &sqlx::PgPool) -> Load {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let pods: Vec<healthz::Probes<T>> = (0..PODS)
        .map(|_| {
            let probes = build(Pod {
                pool: pool.clone(),
                sent: Arc::clone(&sent),
            })
            .probes()
            .with_details(healthz::details::Details::always());
            probes.start_background();
            probes
        })
        .collect();
    tokio::time::sleep_until(start + RUN).await;
    drop(pods);
    let sent = sent.lock().unwrap().clone();
    let from = start + Duration::from_secs(1);
    let windows = ((RUN - Duration::from_secs(1)).as_millis() / WINDOW.as_millis()) as usize;
    let mut counts = vec![0usize; windows];
    for at in sent.iter().filter(|at| **at >= from) {
        let index = ((*at - from).as_millis() / WINDOW.as_millis()) as usize;
        if let Some(count) = counts.get_mut(index) {
            *count += 1;
        }
    }
    let total: usize = counts.iter().sum();
    Load {
        per_second: total as f64 / (RUN - Duration::from_secs(1)).as_secs_f64(),
        peak_window: counts.iter().copied().max().unwrap_or(0),
        mean_window: total as f64 / windows as f64,
    }
}

pub async fn run(database_url: &str) {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(20)
        .connect(database_url)
        .await
        .expect("connect to the benchmark's PostgreSQL");
    println!(
        "\nfleet: {PODS} pods started together, one background check each (`SELECT 1`, \
         interval 1s), {}s; statements the database receives",
        RUN.as_secs()
    );
    println!();
    println!("| fleet | statements/s | peak per 100ms window | mean per window | peak ÷ mean |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    let aligned = fleet(|db| Aligned { db }, &pool).await;
    let jittered = fleet(|db| Jittered { db }, &pool).await;
    for (name, load) in [
        ("without jitter", &aligned),
        ("with jitter (default)", &jittered),
    ] {
        println!(
            "| {name} | {:.1} | {} | {:.1} | {:.1} |",
            load.per_second,
            load.peak_window,
            load.mean_window,
            load.peak_window as f64 / load.mean_window
        );
    }
    println!(
        "\njitter cuts the peak 100ms window by {:.1}× at the same {:.0} statements/s",
        aligned.peak_window as f64 / jittered.peak_window.max(1) as f64,
        jittered.per_second
    );
}
