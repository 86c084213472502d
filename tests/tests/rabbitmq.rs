//! RabbitMQ checks against a real node, through the fault proxy and under
//! the app's own load (every request publishes a message on a channel of
//! its own and waits for the broker's confirm): a deadpool-lapin `Pool`
//! through the shared backend suite (and no channel stranded by a stall),
//! a single `lapin::Connection` failing with the app's own publishes, and
//! a broker that blocks publishers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use healthz::HealthChecks;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use support::backend::{secrets, Backend, PoolBackend};
use support::fault::{Fault, FaultProxy};
use support::load::AppLoad;
use support::serve;
use support::servers::{Kind, Server};
use support::verdict::{assert_recovers, assert_unready, until_status};

const DEADLINE: Duration = Duration::from_millis(500);
const MESSAGES: &[&str] = &["cannot connect to rabbitmq.", "timed out after 500ms."];
const BLOCKED: &[&str] = &["rabbitmq is blocking publishers."];
const RECOVERY: Duration = Duration::from_secs(60);
/// The app gives up on a publish (and on waiting for a pooled connection)
/// after this long, as a handler would.
const PUBLISH_BOUND: Duration = Duration::from_secs(2);
const POOL_SIZE: usize = 2;

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms", cache = "0s")]
struct Pooled {
    #[healthz]
    broker: deadpool_lapin::Pool,
}

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms", cache = "0s")]
struct Single {
    #[healthz]
    broker: Arc<Connection>,
}

/// Publishes one message on a channel of its own and waits for the
/// broker's confirm.
async fn publish_once(broker: &Connection) -> lapin::Result<()> {
    let channel = broker.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let confirm = channel
        .basic_publish(
            "".into(),
            "orders".into(),
            BasicPublishOptions::default(),
            b"created",
            BasicProperties::default(),
        )
        .await?;
    confirm.await?;
    channel.close(200, "done".into()).await
}

fn status(published: bool) -> http::StatusCode {
    if published {
        http::StatusCode::OK
    } else {
        http::StatusCode::INTERNAL_SERVER_ERROR
    }
}

/// deadpool-lapin: each request takes a connection of the app's pool and
/// publishes.
struct PooledBroker;

impl Backend for PooledBroker {
    const KIND: Kind = Kind::RabbitMq;
    const ROUTE: &'static str = "/publish";
    const APP_TIMEOUT: Duration = PUBLISH_BOUND;
    const CHECK: &'static str = "broker";
    const MESSAGES: &'static [&'static str] = MESSAGES;
    const RECOVERY: Duration = RECOVERY;
    const APP_CLIENTS: usize = 3 * POOL_SIZE;
    const SECRETS: &'static [&'static str] = &["guest"];
    type Client = deadpool_lapin::Pool;
    type State = Pooled;

    /// A pool as an app builds one: connections opened on demand (so the
    /// app starts while the broker is down), a bounded wait for one.
    async fn client(server: &Server, addr: SocketAddr) -> deadpool_lapin::Pool {
        let mut config = deadpool_lapin::Config {
            url: Some(app_url(server, addr)),
            ..Default::default()
        };
        let mut pool_config = deadpool_lapin::PoolConfig::new(POOL_SIZE);
        pool_config.timeouts.wait = Some(PUBLISH_BOUND);
        pool_config.timeouts.create = Some(PUBLISH_BOUND);
        config.pool = Some(pool_config);
        config
            .create_pool(
                ConnectionProperties::default,
                deadpool_lapin::Runtime::Tokio1,
            )
            .expect("pool")
    }

    fn state(pool: &deadpool_lapin::Pool) -> Pooled {
        Pooled {
            broker: pool.clone(),
        }
    }

    async fn request(pool: deadpool_lapin::Pool) -> bool {
        match pool.get().await {
            Ok(connection) => publish_once(&connection).await.is_ok(),
            Err(_) => false,
        }
    }

    /// The check's channel opens cut short by the deadline are closed once
    /// the broker answers them: after the app's load, no channel is left
    /// open on the broker, and no connection beyond the pool's and the
    /// check's spare connection.
    async fn after_stall(server: &Server) {
        let node = server.rabbit();
        let started = Instant::now();
        while node.open("channels") > 0 {
            assert!(
                started.elapsed() < RECOVERY,
                "channels left open on the broker: {}",
                node.ctl(&["list_channels", "--quiet", "number", "connection"])
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let connections = node.open("connections");
        assert!(
            connections <= POOL_SIZE + 1,
            "{connections} connections open on the broker: {}",
            node.ctl(&["list_connections", "--quiet", "name"])
        );
    }
}

impl PoolBackend for PooledBroker {
    type Held = Vec<deadpool_lapin::Object>;

    async fn hold_every_connection(pool: &deadpool_lapin::Pool) -> Self::Held {
        let mut held = Vec::new();
        for _ in 0..POOL_SIZE {
            held.push(pool.get().await.expect("a pooled connection"));
        }
        held
    }

    fn saturated(pool: &deadpool_lapin::Pool) -> bool {
        let status = pool.status();
        status.available == 0 && status.size == POOL_SIZE
    }

    async fn release(held: Self::Held) {
        drop(held);
    }
}

support::backend_suite!(rabbitmq_pool: PooledBroker, pool);

/// The app on one connection, shared by every request.
fn single_app(broker: Arc<Connection>) -> axum::Router {
    async fn publish(
        axum::extract::State(broker): axum::extract::State<Arc<Connection>>,
    ) -> http::StatusCode {
        let published = tokio::time::timeout(PUBLISH_BOUND, publish_once(&broker)).await;
        status(matches!(published, Ok(Ok(()))))
    }
    let probes = Single {
        broker: Arc::clone(&broker),
    }
    .probes()
    .with_details(healthz::details::Details::always());
    axum::Router::new()
        .route("/publish", axum::routing::get(publish))
        .with_state(broker)
        .layer(probes)
}

/// The URL an app would use: heartbeats every 2 s (so that a silent broker
/// is noticed) and a connect timeout.
fn app_url(server: &Server, via: SocketAddr) -> String {
    format!(
        "{}?heartbeat=2&connection_timeout=2000",
        server.url_via(via)
    )
}

/// One connection, without lapin's recovery (its default): each fault
/// fails the check within the deadline, and once the fault is gone the
/// check keeps failing exactly as long as the app's own publishes on that
/// connection do. It never answers 200 for a connection the app cannot use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_one_connection_fails_with_the_apps_own_publishes() {
    let mut server = Server::start(Kind::RabbitMq);
    let proxy = FaultProxy::start(server.addr());
    let secrets = secrets::<PooledBroker>(&server, Some(&proxy));
    for fault in [
        Fault::Refuse,
        Fault::Reset,
        Fault::Silent,
        Fault::HangConnect,
        Fault::Pass,
    ] {
        let url = app_url(&server, proxy.addr());
        let broker = Connection::connect(&url, ConnectionProperties::default())
            .await
            .expect("connect to rabbitmq");
        let addr = serve(single_app(Arc::new(broker))).await;
        let load = AppLoad::once_ready(addr, "/publish", 4, RECOVERY).await;

        if fault == Fault::Pass {
            // The broker itself goes: killed and started again.
            server.kill();
            for _ in 0..3 {
                assert_unready(addr, "broker", MESSAGES, DEADLINE, &secrets).await;
            }
            server.resume();
        } else {
            proxy.set(fault);
            for _ in 0..3 {
                assert_unready(addr, "broker", MESSAGES, DEADLINE, &secrets).await;
            }
            proxy.set(Fault::Pass);
            proxy.reset_black_holes();
        }
        // The connection is gone for good: the app's publishes on it fail,
        // and so does the check.
        load.wait_for_failed(load.failed() + 8, RECOVERY).await;
        let ok = load.ok();
        assert_unready(addr, "broker", MESSAGES, DEADLINE, &secrets).await;
        assert_eq!(load.ok(), ok, "after {fault:?}, a publish succeeded");
        load.stop().await;
    }
}

/// A memory alarm: the broker blocks every connection that publishes, so
/// the app's publishes hang while the connection itself stays up. The
/// check fails as soon as the broker has said so, and passes again once
/// the alarm clears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_blocked_by_an_alarm_is_unready_while_the_apps_publishes_hang() {
    let server = Server::start(Kind::RabbitMq);
    let url = app_url(&server, server.addr());
    let broker = Connection::connect(&url, ConnectionProperties::default())
        .await
        .expect("connect to rabbitmq");
    let addr = serve(single_app(Arc::new(broker))).await;
    let secrets = secrets::<PooledBroker>(&server, None);
    let load = AppLoad::once_ready(addr, "/publish", 4, RECOVERY).await;

    let _ = server.rabbit().ctl(&["set_vm_memory_high_watermark", "0"]);
    let failed = load.failed();
    until_status(
        addr,
        "/readiness",
        http::StatusCode::SERVICE_UNAVAILABLE,
        RECOVERY,
    )
    .await;
    for _ in 0..3 {
        assert_unready(addr, "broker", BLOCKED, DEADLINE, &secrets).await;
    }
    // The app's own publishes fail meanwhile: the verdict is the truth.
    load.wait_for_failed(failed + 1, RECOVERY).await;

    let _ = server
        .rabbit()
        .ctl(&["set_vm_memory_high_watermark", "0.4"]);
    assert_recovers(addr, RECOVERY).await;
    load.wait_for_success(5, RECOVERY).await;
    load.stop().await;
}
