//! One suite for every backend: the fault matrix under the app's own load,
//! a stalled server under that load, a seeded chaos campaign scored
//! against the app's own requests ([`crate::chaos`]), and, for pools, a
//! saturated pool that is busy rather than broken. A backend's test file fills in [`Backend`]
//! (how to start its server, build its client and serve its app route) and
//! stamps the tests with [`backend_suite!`](crate::backend_suite); what it
//! proves beyond that stays in that file.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use healthz::{HealthChecks, Probes};
use http::StatusCode;

use crate::fault::FaultProxy;
use crate::load::AppLoad;
use crate::servers::{Kind, Server};
use crate::verdict::{assert_busy_when, assert_no_secrets, assert_recovers, assert_unready, SLACK};
use crate::{get, serve};

/// What a backend's test file says about it; the suite does the rest.
///
/// The suite serves the backend's [`app`]: its [`ROUTE`](Self::ROUTE)
/// runs one [`request`](Self::request) through the client, and the probes
/// are mounted outermost.
#[allow(async_fn_in_trait)] // run on the test's own task, never spawned
pub trait Backend: 'static {
    /// The server the backend's client talks to.
    const KIND: Kind;
    /// The app's route that uses the client: what the app's load requests.
    const ROUTE: &'static str;
    /// The app's own bound on one request: past it, the route answers 500.
    const APP_TIMEOUT: Duration = Duration::from_secs(2);
    /// The check the fault matrix expects to fail.
    const CHECK: &'static str;
    /// Its public messages while the dependency is unreachable.
    const MESSAGES: &'static [&'static str];
    /// The probe deadline of [`State`](Self::State).
    const DEADLINE: Duration = Duration::from_millis(500);
    /// How long readiness and the app may take to recover from a fault.
    const RECOVERY: Duration = Duration::from_secs(30);
    /// How long the check waits for a server that stopped answering
    /// before it calls it down rather than slow: the memcached check's
    /// client timeout, where that is longer than the check's deadline.
    /// Readiness may turn unready that much later (a chaos campaign's
    /// allowance). Zero for every other check.
    const SLOW_WAIT: Duration = Duration::ZERO;
    /// Concurrent clients of the app's own load (for a pool: more than it
    /// has connections).
    const APP_CLIENTS: usize = 4;
    /// What no probe body may name besides the server's and proxy's ports:
    /// users, passwords, database names.
    const SECRETS: &'static [&'static str] = &[];

    /// What the app and its check share: a pool, a connection, a client.
    type Client: Clone + Send + Sync + 'static;
    /// The app's state whose probes the suite serves.
    type State: HealthChecks + Clone;

    /// The client as an app builds it, to reach `server` at `addr` (the
    /// server itself or a fault proxy in front of it): lazy where the
    /// driver allows, so that the app starts while the server is down.
    async fn client(server: &Server, addr: SocketAddr) -> Self::Client;

    /// The state that checks `client`.
    fn state(client: &Self::Client) -> Self::State;

    /// What one request of the app's route does with the client (such as a
    /// `SELECT 1` through the pool); true when it worked.
    fn request(client: Self::Client) -> impl Future<Output = bool> + Send;

    /// The client's patience ([`healthz::Check::patience`]): without
    /// `fail_after`, readiness holds a failure that long before it counts.
    fn patience(_client: &Self::Client) -> Option<Duration> {
        None
    }

    /// The app's own use of the client once the dependency is back: must
    /// work (no stranded permit, no dead connection handed out).
    async fn round_trip(_client: &Self::Client) {}

    /// The client's further dependencies, besides the server of
    /// [`KIND`](Self::KIND) the suite starts (a second memcached server, a
    /// second service the app's requests use): their servers and fault
    /// proxies, which the client keeps alive. A chaos campaign faults each
    /// on a schedule of its own, so that faults overlap; the fault suites
    /// leave them alone. None by default.
    fn also(_client: &Self::Client) -> Vec<Dependency> {
        Vec::new()
    }

    /// Asserts what readiness answers while the dependency is unreachable.
    async fn assert_unready(addr: SocketAddr, secrets: &[String]) {
        assert_unready(addr, Self::CHECK, Self::MESSAGES, Self::DEADLINE, secrets).await;
    }

    /// What else must hold once a stalled server answers again and the
    /// app's load has stopped.
    async fn after_stall(_server: &Server) {}
}

/// A backend whose client is a pool: it can be saturated.
#[allow(async_fn_in_trait)]
pub trait PoolBackend: Backend {
    /// What holds every connection of the pool.
    type Held;

    /// Takes every connection of `client` (built by [`Backend::client`]) on
    /// a live server, and keeps them busy.
    async fn hold_every_connection(client: &Self::Client) -> Self::Held;

    /// Whether every connection of the pool is open and in use.
    fn saturated(client: &Self::Client) -> bool;

    /// Gives the connections back (for held queries: once they finished).
    async fn release(held: Self::Held);
}

/// The app of backend `B` on `client`: [`Backend::ROUTE`] answers 200 when
/// its [`request`](Backend::request) worked within
/// [`APP_TIMEOUT`](Backend::APP_TIMEOUT), 500 otherwise; `probes` are
/// mounted outermost.
pub fn app<B: Backend, S: HealthChecks>(client: B::Client, probes: Probes<S>) -> axum::Router {
    let route = |axum::extract::State(client): axum::extract::State<B::Client>| async move {
        match tokio::time::timeout(B::APP_TIMEOUT, B::request(client)).await {
            Ok(true) => StatusCode::OK,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    };
    axum::Router::new()
        .route(B::ROUTE, axum::routing::get(route))
        .with_state(client)
        .layer(probes)
}

/// The public messages of a database check with the suites' 500ms
/// timeout while its server is unreachable: the [`Backend::MESSAGES`] of
/// every database backend.
pub const DATABASE_MESSAGES: &[&str] = &["cannot connect to database.", "timed out after 500ms."];

/// A server behind a fault proxy, shared by the client that uses it and
/// the campaign that faults it ([`Backend::also`]).
#[derive(Clone)]
pub struct Dependency {
    pub server: Arc<Mutex<Server>>,
    pub proxy: Arc<FaultProxy>,
}

impl Dependency {
    /// Starts a server of `kind` and a fault proxy in front of it.
    pub fn start(kind: Kind) -> Dependency {
        let server = Server::start(kind);
        let proxy = Arc::new(FaultProxy::start(server.addr()));
        Dependency {
            server: Arc::new(Mutex::new(server)),
            proxy,
        }
    }

    /// The proxy's address: where the client connects.
    pub fn addr(&self) -> SocketAddr {
        self.proxy.addr()
    }
}

/// Slow queries that hold every connection of a pool on a live server,
/// one task each: a [`PoolBackend::Held`] for databases.
pub struct SlowQueries(Vec<tokio::task::JoinHandle<Result<(), String>>>);

impl SlowQueries {
    /// Spawns `count` runs of `query`.
    pub fn spawn<Fut, E>(count: usize, query: impl Fn() -> Fut) -> SlowQueries
    where
        Fut: std::future::Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display,
    {
        let spawn = |_| {
            let query = query();
            tokio::spawn(async move { query.await.map_err(|error| error.to_string()) })
        };
        SlowQueries((0..count).map(spawn).collect())
    }

    /// Waits until every query has finished; each must have succeeded.
    pub async fn finish(self) {
        for query in self.0 {
            query.await.expect("slow query task").expect("slow query");
        }
    }
}

/// What no probe body may name: the backend's [`SECRETS`](Backend::SECRETS),
/// the server's port and the proxy's.
pub fn secrets<B: Backend>(server: &Server, proxy: Option<&FaultProxy>) -> Vec<String> {
    B::SECRETS
        .iter()
        .map(|secret| (*secret).to_owned())
        .chain([server.port().to_string()])
        .chain(proxy.map(|proxy| proxy.addr().port().to_string()))
        .collect()
}

/// Every fault of the matrix (refused, reset, silent and hung connects
/// through a fault proxy; the server stopped, killed and restarted), each
/// while the app's own requests run through the same client as the check:
/// readiness fails from the first probe of each, within the deadline and
/// without leaking, and comes back without a restart, and so does the app.
pub async fn every_fault_under_load<B: Backend>() {
    every_fault_under_load_of::<B, _>(B::state, Duration::ZERO).await;
}

/// [`every_fault_under_load`] with the probes of `state` (such as a
/// background-mode state), which must turn unready within `lag` (and the
/// client's [patience](Backend::patience)) of each fault.
pub async fn every_fault_under_load_of<B, S>(state: impl Fn(&B::Client) -> S, lag: Duration)
where
    B: Backend,
    S: HealthChecks + Clone,
{
    let mut server = Server::start(B::KIND);
    let proxy = FaultProxy::start(server.addr());
    let client = B::client(&server, proxy.addr()).await;
    let lag = lag + B::patience(&client).unwrap_or_default();
    let probes = state(&client)
        .probes()
        .with_details(healthz::details::Details::always());
    let addr = serve(app::<B, _>(client.clone(), probes)).await;
    let secrets = secrets::<B>(&server, Some(&proxy));
    let load = AppLoad::once_ready(addr, B::ROUTE, B::APP_CLIENTS, B::RECOVERY).await;

    crate::load::every_fault_under_load(&mut server, &proxy, addr, &load, B::RECOVERY, || {
        unready_within::<B>(addr, &secrets, lag)
    })
    .await;
    load.stop().await;
    assert_eq!(get(addr, "/readiness").await.status, StatusCode::OK);
    B::round_trip(&client).await;
}

/// [`Backend::assert_unready`], once readiness has seen the fault: at once
/// for on-demand checks (`lag` zero), within `lag` and the slack for a
/// background check, whose next run has to come first, or a client whose
/// patience holds the failure.
async fn unready_within<B: Backend>(addr: SocketAddr, secrets: &[String], lag: Duration) {
    if !lag.is_zero() {
        crate::verdict::until_status(
            addr,
            "/readiness",
            StatusCode::SERVICE_UNAVAILABLE,
            lag + SLACK,
        )
        .await;
    }
    B::assert_unready(addr, secrets).await;
}

/// The server stops answering (SIGSTOP: connections are accepted, requests
/// taken, nothing answers) while the app's own requests run: readiness
/// fails within the deadline (after the client's patience); once the
/// server answers again, readiness and the app come back.
pub async fn stall_under_load<B: Backend>() {
    let server = Server::start(B::KIND);
    let client = B::client(&server, server.addr()).await;
    let addr = serve(app::<B, _>(
        client.clone(),
        B::state(&client)
            .probes()
            .with_details(healthz::details::Details::always()),
    ))
    .await;
    let secrets = secrets::<B>(&server, None);
    let load = AppLoad::once_ready(addr, B::ROUTE, B::APP_CLIENTS, B::RECOVERY).await;

    let lag = B::patience(&client).unwrap_or_default();
    server.pause();
    for _ in 0..3 {
        unready_within::<B>(addr, &secrets, lag).await;
    }
    server.unpause();
    assert_recovers(addr, B::RECOVERY).await;
    load.wait_for_success(5, B::RECOVERY).await;
    load.stop().await;
    B::after_stall(&server).await;
    B::round_trip(&client).await;
}

/// Every connection of the pool held on a live server: busy, not broken —
/// 200 with the check degraded (the spare connection proves the server
/// answers), `warn` in JSON, no secret in either; ready again once the
/// connections are back.
pub async fn saturated_pool_is_busy<B: PoolBackend>() {
    let server = Server::start(B::KIND);
    let client = B::client(&server, server.addr()).await;
    let addr = serve(app::<B, _>(
        client.clone(),
        B::state(&client)
            .probes()
            .with_details(healthz::details::Details::always()),
    ))
    .await;
    let secrets = secrets::<B>(&server, None);
    assert_recovers(addr, B::RECOVERY).await;

    let held = B::hold_every_connection(&client).await;
    assert_busy_when(
        addr,
        B::CHECK,
        || B::saturated(&client),
        B::RECOVERY,
        &secrets,
    )
    .await;
    let json = get(addr, "/readiness?format=json").await;
    assert!(
        json.body.starts_with(r#"{"status":"warn""#),
        "{}",
        json.body
    );
    assert_no_secrets(&json.body, &secrets);

    B::release(held).await;
    let reply = get(addr, "/readiness?verbose").await;
    assert_eq!(
        reply.body,
        format!("[+]{} ok\nreadiness check passed", B::CHECK)
    );
    B::round_trip(&client).await;
}

/// Stamps the suite's tests for a [`Backend`] in a module of their own:
/// `backend_suite!(module: Backend)`, and for a [`PoolBackend`]
/// `backend_suite!(module: Backend, pool)`. The module sees the file's
/// items.
///
/// Each suite gets the seeded chaos campaign ([`crate::chaos`]) too: run by
/// `cargo test` when the invocation ends with `campaign`
/// (`backend_suite!(module: Backend, pool, campaign)`: the few backends
/// CI's short campaign covers), otherwise ignored by `cargo test` and run
/// by `scripts/chaos.sh`, one backend at a time.
#[macro_export]
macro_rules! backend_suite {
    (@module $module:ident: $backend:ty { $($more:item)* }) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn every_fault_under_the_apps_own_load() {
                $crate::backend::every_fault_under_load::<$backend>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_stalled_server_under_the_apps_own_load() {
                $crate::backend::stall_under_load::<$backend>().await;
            }

            $($more)*
        }
    };
    (@campaign $campaign:expr, campaign) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_seeded_chaos_campaign_under_the_apps_own_load() {
            $campaign.await;
        }
    };
    (@campaign $campaign:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        #[ignore = "the long chaos campaign, one backend at a time: bash scripts/chaos.sh"]
        async fn a_seeded_chaos_campaign_under_the_apps_own_load() {
            $campaign.await;
        }
    };
    ($module:ident: $backend:ty, pool $(, $in_ci:ident)?) => {
        $crate::backend_suite!(@module $module: $backend {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_saturated_pool_is_busy_not_broken() {
                $crate::backend::saturated_pool_is_busy::<$backend>().await;
            }

            $crate::backend_suite!(@campaign $crate::chaos::campaign_pool::<$backend>() $(, $in_ci)?);
        });
    };
    ($module:ident: $backend:ty $(, $in_ci:ident)?) => {
        $crate::backend_suite!(@module $module: $backend {
            $crate::backend_suite!(@campaign $crate::chaos::campaign::<$backend>() $(, $in_ci)?);
        });
    };
}
