//! `healthz-bench run`: starts real PostgreSQL and memcached servers behind
//! counting proxies and the servers under load, then measures the parts
//! asked for (`--parts`), each in its own module.

use std::time::Duration;

use crate::args::{flag, switch};

mod cpu;
mod dependencies;
mod fault;
mod fleet;
mod scenarios;
mod servers;
mod throughput;
mod wrk;

use dependencies::{black_hole, fault_under_load, memory, storm};
use servers::Bench;
use throughput::load_scenarios;

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

pub fn main(args: &[String]) {
    let settings = Settings::from(args);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run_all(settings));
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
