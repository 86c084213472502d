//! The servers under load, one per child process:
//!
//! - `bare`, `app`, `layered`: the DESIGN §7 trio on one worker thread,
//!   served by `support::serve` (hyper's HTTP/1 builder, `TCP_NODELAY`): a
//!   bare hyper "OK" server, a small axum app, the same app with the probes
//!   layer; `background` and `slow-on-demand`: the app with probes of a
//!   400ms check, in background mode and on demand.
//! - `hyper-ok`, `hyper-layered`, `hyper-auto-ok`: the construction of
//!   `examples/hyper.rs` (its accept loop, hyper's HTTP/1 builder per
//!   connection, `TowerToHyperService`, no `TCP_NODELAY`), answering `OK`,
//!   with the example's own state and layer, and with hyper-util's auto
//!   builder (what `axum::serve` uses) instead of the HTTP/1 builder;
//!   `hyper-cached`: `hyper-layered` with readiness results cached for 10
//!   minutes and a check without I/O, so that a measurement lasting seconds
//!   (the instruction counts under callgrind) answers every `/readiness`
//!   from a cache filled the same way in every run.
//! - `axum-ok`, `axum-layered`, `axum-traced`: the serving setup of
//!   `examples/axum_postgres_memcached.rs` (`axum::serve` on a
//!   `TcpListener`, `Router::layer(probes)` after `with_state`): the same
//!   router without the layer answering `/healthz` from a trivial handler,
//!   with the layer, and with the layer and the example's tracing
//!   subscriber (`fmt` with an `info` env filter, logging to stdout);
//!   `axum-outer` mounts the layer around the Router instead (with
//!   `ServiceBuilder`), so that probes are answered before axum routes.
//!
//! The `hyper-*` and `axum-*` servers run on tokio's default multi-thread
//! runtime, one worker per core, as `#[tokio::main]` does in the examples;
//! `--workers N` overrides that for any kind.

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use healthz::{Check, CheckError, HealthChecks};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::{Body, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::net::SocketAddr;
use support::serve;
use tokio::net::TcpListener;
use tower::ServiceBuilder;

use crate::args::flag;
use crate::BenchState;

pub fn main(args: &[String]) {
    let kind = args.first().cloned().unwrap_or_default();
    let pg: String = flag(args, "--pg", String::new());
    let memcache: String = flag(args, "--memcache", String::new());
    let example_style = kind.starts_with("hyper-") || kind.starts_with("axum-");
    // The DESIGN §7 trio gets one worker, the load generator the other
    // core; the example-style servers get tokio's default, as the examples.
    let workers: usize = flag(args, "--workers", if example_style { 0 } else { 1 });
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if workers > 0 {
        builder.worker_threads(workers);
    }
    let runtime = builder.enable_all().build().unwrap();
    runtime.block_on(async move {
        let state = || BenchState::connect(&pg, &memcache);
        let addr = match kind.as_str() {
            "bare" => serve(tower::service_fn(ok)).await,
            "app" => serve(app()).await,
            "layered" => {
                serve(
                    app().layer(
                        state()
                            .probes()
                            .with_details(healthz::details::Details::always()),
                    ),
                )
                .await
            }
            "background" => {
                let probes = SlowBackground::new(&pg)
                    .probes()
                    .with_details(healthz::details::Details::always());
                probes.start_background();
                serve(app().layer(probes)).await
            }
            "slow-on-demand" => {
                serve(
                    app().layer(
                        SlowOnDemand::new(&pg)
                            .probes()
                            .with_details(healthz::details::Details::always()),
                    ),
                )
                .await
            }
            "hyper-ok" => hyper_example_loop(bind().await, tower::service_fn(ok), Builder::Http1),
            "hyper-auto-ok" => {
                hyper_example_loop(bind().await, tower::service_fn(ok), Builder::Auto)
            }
            "hyper-layered" => hyper_example_layered(|upstream| ExampleState { upstream }).await,
            "hyper-cached" => {
                hyper_example_layered(|_| CachedExampleState {
                    upstream: Reachable,
                })
                .await
            }
            "axum-ok" => {
                let router = axum_app(state()).route("/healthz", get(|| async { "OK" }));
                axum_serve(router).await
            }
            "axum-layered" => {
                let state = state();
                axum_serve(axum_app(state.clone()).layer(support::trusted(&state))).await
            }
            "axum-outer" => {
                // The layer around the whole Router rather than through
                // `Router::layer`: probes are answered before routing.
                let state = state();
                let service = ServiceBuilder::new()
                    .map_response(axum::response::IntoResponse::into_response)
                    .layer(support::trusted(&state))
                    .service(axum_app(state));
                let listener = bind().await;
                let addr = listener.local_addr().unwrap();
                tokio::spawn(async move {
                    let make =
                        axum::ServiceExt::<axum::extract::Request>::into_make_service(service);
                    if let Err(error) = axum::serve(listener, make).await {
                        eprintln!("axum::serve: {error}");
                    }
                });
                addr
            }
            "axum-traced" => {
                // As the example: `info` unless RUST_LOG says otherwise.
                tracing_subscriber::fmt()
                    .with_env_filter(
                        tracing_subscriber::EnvFilter::try_from_default_env()
                            .unwrap_or_else(|_| "info".into()),
                    )
                    .init();
                let state = state();
                axum_serve(axum_app(state.clone()).layer(support::trusted(&state))).await
            }
            other => panic!("unknown server kind {other:?}"),
        };
        println!("listening {addr}");
        std::future::pending::<()>().await;
    });
}

async fn ok(_request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"OK"))))
}

fn app() -> Router {
    Router::new().route("/", get(|| async { "OK" }))
}

/// Which hyper connection builder serves each connection.
#[derive(Clone, Copy)]
enum Builder {
    /// `hyper::server::conn::http1::Builder`, as in `examples/hyper.rs`.
    Http1,
    /// `hyper_util::server::conn::auto::Builder` with upgrades, as in
    /// `axum::serve`.
    Auto,
}

async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

/// The accept loop of `examples/hyper.rs`, in the background.
fn hyper_example_loop<S, B>(listener: TcpListener, service: S, builder: Builder) -> SocketAddr
where
    S: tower::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let io = TokioIo::new(stream);
                let served = match builder {
                    Builder::Http1 => hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await
                        .map_err(|error| error.to_string()),
                    Builder::Auto => {
                        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                            .serve_connection_with_upgrades(io, service)
                            .await
                            .map_err(|error| error.to_string())
                    }
                };
                if let Err(error) = served {
                    eprintln!("connection error: {error}");
                }
            });
        }
    });
    addr
}

/// A dependency whose check takes 400ms: a real `SELECT 1` on PostgreSQL
/// after a 400ms wait (a slow network, a loaded server).
#[derive(Clone)]
pub(crate) struct SlowDb(sqlx::PgPool);

async fn slow_select(db: &SlowDb) -> Result<(), sqlx::Error> {
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    sqlx::query("SELECT 1").execute(&db.0).await.map(drop)
}

fn slow_db(database_url: &str) -> SlowDb {
    SlowDb(
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect_lazy(database_url)
            .expect("database URL"),
    )
}

/// The 400ms check in background mode: probes answer from its snapshot.
#[derive(Clone, HealthChecks)]
#[healthz(timeout = "800ms", interval = "1s")]
pub(crate) struct SlowBackground {
    #[healthz(with = slow_select)]
    db: SlowDb,
}

impl SlowBackground {
    fn new(database_url: &str) -> Self {
        Self {
            db: slow_db(database_url),
        }
    }
}

/// The same check on demand, cached for the default 1s: a probe that finds
/// the cache expired waits for the 400ms run.
#[derive(Clone, HealthChecks)]
#[healthz(timeout = "800ms")]
pub(crate) struct SlowOnDemand {
    #[healthz(with = slow_select)]
    db: SlowDb,
}

impl SlowOnDemand {
    fn new(database_url: &str) -> Self {
        Self {
            db: slow_db(database_url),
        }
    }
}

/// `examples/hyper.rs`'s dependency: a TCP endpoint that must accept.
#[derive(Clone)]
pub(crate) struct Upstream {
    pub(crate) addr: String,
}

impl Check for Upstream {
    async fn check(&self) -> Result<(), CheckError> {
        tokio::net::TcpStream::connect(&self.addr)
            .await
            .map(drop)
            .map_err(|error| CheckError::unavailable("cannot reach upstream.").with_detail(error))
    }
}

/// `examples/hyper.rs`'s state.
#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms")]
pub(crate) struct ExampleState {
    #[healthz(name = "upstream")]
    pub(crate) upstream: Upstream,
}

/// `hyper-cached`'s dependency: always reachable, without I/O. The one run
/// that fills the cache is then the same in every process, where the
/// example's self-connection races the check (accepted and read before or
/// after it returns), and the allocations each order leaves behind change
/// the cost of every later request.
#[derive(Clone)]
pub(crate) struct Reachable;

impl Check for Reachable {
    async fn check(&self) -> Result<(), CheckError> {
        Ok(())
    }
}

/// `examples/hyper.rs`'s state with its results cached for 10 minutes
/// instead of 1s, and a check without I/O: a probe storm slowed down by
/// callgrind would otherwise run the check a varying number of times, and
/// no two counts would agree.
#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms", cache = "10m")]
pub(crate) struct CachedExampleState {
    #[healthz(name = "upstream")]
    upstream: Reachable,
}

async fn hello(_request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"hello from hyper\n",
    ))))
}

/// `examples/hyper.rs`: its state (built by `state` from the upstream),
/// its layer, its app, its accept loop.
async fn hyper_example_layered<T>(state: impl FnOnce(Upstream) -> T) -> SocketAddr
where
    T: HealthChecks + Clone,
{
    let listener = bind().await;
    // The service checks that it can reach itself, as in the example.
    let state = state(Upstream {
        addr: listener.local_addr().unwrap().to_string(),
    });
    let service = ServiceBuilder::new()
        .layer(support::trusted(&state))
        .service(tower::service_fn(hello));
    hyper_example_loop(listener, service, Builder::Http1)
}

/// The router of the axum scenarios: a trivial route, and a route that runs
/// a real query through the app's own pool (the fault-under-load load).
pub(crate) fn axum_app(state: BenchState) -> Router {
    Router::new()
        .route("/", get(|| async { "OK" }))
        .route("/db", get(query))
        .with_state(state)
}

async fn query(State(state): State<BenchState>) -> (StatusCode, &'static str) {
    match sqlx::query("SELECT 1").execute(&state.db).await {
        Ok(_) => (StatusCode::OK, "OK"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    }
}

/// `axum::serve` on a loopback listener, in the background.
async fn axum_serve(router: Router) -> SocketAddr {
    let listener = bind().await;
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            eprintln!("axum::serve: {error}");
        }
    });
    addr
}
