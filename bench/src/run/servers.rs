//! The servers under load: how each is started (the bench's own `serve`
//! kinds and the example binaries); the load generator run as a child
//! process; and `Bench`, the dependencies and every server of a `run`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;

use support::fault::FaultProxy;
use support::servers::{Kind, Server as Dependency};
use tokio::process::Command;

use crate::load;
use crate::process::Server;

/// How to start one of the servers under load.
#[derive(Clone, Copy)]
pub(super) enum Launch {
    /// `healthz-bench serve KIND ARGS...`
    Bench(&'static str, &'static [&'static str]),
    /// An example binary, built beside this one, with extra environment.
    Example(&'static str, &'static [(&'static str, &'static str)]),
}

impl Launch {
    /// Starts the server; `None` for an example binary that is not built.
    pub(super) async fn start(self, pg: &str, memcache: &str) -> Option<Server> {
        let command = match self {
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
        Some(Server::spawn(command).await)
    }
}

/// Where cargo puts example `name` of this profile: beside this binary.
fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().join("examples").join(name)
}

/// Runs our load generator in a child process and returns its result.
pub(super) async fn own_load(
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

/// The dependencies, behind their proxies, and the servers under load.
pub(super) struct Bench {
    pub(super) postgres: Dependency,
    _memcached: Dependency,
    pub(super) pg_proxy: FaultProxy,
    pub(super) mc_proxy: FaultProxy,
    pub(super) mc_url: String,
    pub(super) servers: Vec<(&'static str, Option<Server>)>,
    pub(super) pids: Vec<u32>,
}

impl Bench {
    /// Starts the servers named in `only` (all when it is empty; the
    /// layered server always, for the parts after the load).
    pub(super) async fn start(only: &[String]) -> Bench {
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
            let server = launch.start(&pg_url, &mc_url).await;
            if server.is_none() {
                println!(
                    "{name}: not built, skipped; build the examples first with \
                     `cargo build --release --example hyper --example axum_postgres_memcached --features postgres`"
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

    pub(super) fn server(&self, name: &str) -> Option<&Server> {
        let (_, server) = self.servers.iter().find(|(n, _)| *n == name)?;
        server.as_ref()
    }

    pub(super) fn layered(&self) -> &Server {
        self.server("layered").expect("the layered server")
    }
}
