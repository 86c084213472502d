//! The `load` part of `run`: every scenario driven by every load generator
//! in interleaved rounds, each run measured on a quiet machine, then the
//! tables of throughput, latency, server CPU per request and their ratios.

use std::time::Instant;

use super::scenarios::{at, BARE, DRIVERS, HYPER_OK, RATIOS, SCENARIOS};
use super::servers::{own_load, Bench};
use super::{cpu, Settings};
use crate::load;
use crate::table::{ratio_cell, row};

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

/// Every scenario, both drivers, interleaved rounds; then the tables.
pub(super) async fn load_scenarios(bench: &Bench, settings: &Settings) {
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
