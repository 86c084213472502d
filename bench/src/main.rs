//! HTTP load benchmarks of healthz, measured from a second process on
//! loopback and always against a baseline measured in the same run.
//!
//! ```text
//! cargo build --release --example hyper --example axum_postgres_memcached --features postgres
//! cargo run --release -p healthz-bench -- run --wrk   # everything: the tables of BENCHMARKS.md
//! cargo run --release -p healthz-bench -- serve layered  # one server (see serve.rs for the kinds)
//! cargo run --release -p healthz-bench -- load 127.0.0.1:8080 /healthz --connections 16 --seconds 5
//! cargo run --release -p healthz-bench -- instructions  # instructions per request, callgrind
//! ```
//!
//! `run` starts real PostgreSQL and memcached servers (through loopback
//! proxies that count what reaches them), the servers under load as child
//! processes (the bench's own, and the `hyper` and `axum_postgres_memcached`
//! example binaries when they are built), and drives each scenario from a
//! second process: our load generator, and wrk when it is installed (`--wrk`
//! requires it). Every load is bounded in requests and in time, and targets
//! 127.0.0.1 only. `instructions` counts what a request costs the server
//! process, in instructions executed under valgrind's callgrind.
//!
//! One module per subcommand (`serve`, `load`, `inproc`, `instructions/`,
//! `run/` with a file per part of the run); `process` is a server child
//! process, `args` and `table` the command lines and the Markdown tables
//! they share.

use std::time::Duration;

use healthz::checks::memcache::{connect_lazy, MemcacheClient};
use healthz::HealthChecks;

mod args;
mod inproc;
mod instructions;
mod load;
mod process;
mod run;
mod serve;
mod table;

/// The benchmarked application's state: PostgreSQL and memcached, each a
/// readiness check, results cached for the default 1s. The pool fails on
/// its first failed run (`fail_after = 1`, not its acquire timeout's
/// patience): the fault figures time the runner, not damping.
#[derive(Clone, HealthChecks)]
#[healthz(timeout = "800ms", cache = "1s")]
pub struct BenchState {
    #[healthz(fail_after = 1)]
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

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => serve::main(&args[1..]),
        Some("load") => load::main(&args[1..]),
        Some("run") => run::main(&args[1..]),
        Some("inproc") => inproc::main(&args[1..]),
        Some("instructions") => instructions::main(&args[1..]),
        _ => args::usage(),
    }
}
