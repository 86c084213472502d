//! `healthz-bench instructions`: the exact cost of a probe, in instructions
//! executed by the server process (valgrind's callgrind), against the same
//! hyper construction answering `OK`, measured in the same run. Throughput
//! on two shared cores cannot tell 3 % apart; instruction counts can.
//!
//! Each figure is the difference between two processes of the same server:
//! one sent `warm-up + N` requests, the other `warm-up` alone, divided by
//! N. Start, warm-up and stop cancel out, and what is left is the server's
//! whole work per request: the runtime, hyper, the layer and the answer.
//! Each of the two is the least of `--repeats` processes: now and then a
//! process does extra work (glibc's allocator consolidating its free
//! chunks) that would otherwise move a figure by up to 1.5 %.

use std::time::Instant;

use crate::args::flag;
use crate::table::row;
use callgrind::{instructions, require_valgrind, Job};
use client::Shape;

mod callgrind;
mod client;

/// One row: what it measures, the `serve` kind and path that measure it,
/// and the target of DESIGN §7 (keep-alive, ÷ `OK`).
struct Row {
    name: &'static str,
    kind: &'static str,
    path: &'static str,
    target: Option<f64>,
}

/// The first row is the baseline of every ratio.
#[rustfmt::skip]
const ROWS: &[Row] = &[
    Row { name: "`OK` (`hyper-ok`)", kind: "hyper-ok", path: "/", target: None },
    Row { name: "`/healthz` through the layer", kind: "hyper-layered", path: "/healthz", target: Some(1.05) },
    Row { name: "cached `/readiness`", kind: "hyper-cached", path: "/readiness", target: Some(1.15) },
    Row { name: "`/readiness?verbose`", kind: "hyper-cached", path: "/readiness?verbose", target: None },
    Row { name: "an app request through the layer", kind: "hyper-layered", path: "/", target: Some(1.01) },
];

/// What `instructions` was asked to do.
struct Settings {
    workers: usize,
    warm_up: u64,
    /// Processes per count; the least is kept.
    repeats: u32,
    /// Counted requests per shape.
    shapes: [(Shape, u64); 2],
}

pub fn main(args: &[String]) {
    let settings = Settings {
        workers: flag(args, "--workers", 1),
        warm_up: flag(args, "--warm-up", 200),
        repeats: flag(args, "--repeats", 2),
        shapes: [
            (Shape::KeepAlive, flag(args, "--requests", 4000)),
            (Shape::Kubelet, flag(args, "--kubelet-requests", 1000)),
        ],
    };
    require_valgrind();
    if cfg!(debug_assertions) {
        println!(
            "warning: a debug build; run `cargo run --release -p healthz-bench -- instructions`"
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(&settings));
}

async fn run(settings: &Settings) {
    let started = Instant::now();
    println!(
        "instructions executed by the server process per request (valgrind --tool=callgrind), \
         the construction of examples/hyper.rs on {} worker(s), every request sent once the \
         server is idle; each figure: (warm-up of {} + N requests − warm-up alone) ÷ N, each \
         count the least of {} processes",
        settings.workers, settings.warm_up, settings.repeats
    );
    for (shape, requests) in settings.shapes {
        if requests == 0 {
            continue;
        }
        let mut per_request = Vec::new();
        for r in ROWS {
            let job = |requests| Job {
                kind: r.kind,
                workers: settings.workers,
                path: r.path,
                shape,
                requests,
            };
            let warm = least(settings.repeats, &job(settings.warm_up)).await;
            let counted = least(settings.repeats, &job(settings.warm_up + requests)).await;
            per_request.push(counted.saturating_sub(warm) as f64 / requests as f64);
        }
        print_table(shape, requests, &per_request);
    }
    println!(
        "\ninstruction counts took {:.0}s in all",
        started.elapsed().as_secs_f64()
    );
}

/// The least count of `repeats` processes doing `job`.
async fn least(repeats: u32, job: &Job<'_>) -> u64 {
    let mut least = u64::MAX;
    for _ in 0..repeats.max(1) {
        least = least.min(instructions(job).await);
    }
    least
}

fn print_table(shape: Shape, requests: u64, per_request: &[f64]) {
    match shape {
        Shape::KeepAlive => {
            println!("\nkeep-alive: one connection, {requests} sequential requests counted\n")
        }
        Shape::Kubelet => println!(
            "\nthe kubelet's shape: a new connection per request, `Connection: close`, \
             {requests} requests counted\n"
        ),
    }
    row([
        "request",
        "server",
        "instructions per request",
        "÷ the same construction answering `OK`",
        "target",
    ]
    .map(str::to_owned));
    row(["---", "---", "---:", "---:", "---:"].map(str::to_owned));
    let baseline = per_request[0];
    for (r, count) in ROWS.iter().zip(per_request) {
        // DESIGN §7 sets the targets on keep-alive connections.
        let target = match (shape, r.target) {
            (Shape::KeepAlive, Some(target)) => format!("≤ {target:.2}"),
            _ => "–".to_owned(),
        };
        row([
            r.name.to_owned(),
            format!("`{} {}`", r.kind, r.path),
            thousands(count.round() as u64),
            format!("{:.3}", count / baseline),
            target,
        ]);
    }
}

/// 12349 as "12,349".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}
