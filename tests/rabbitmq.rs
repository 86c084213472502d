//! RabbitMQ checks against a real node, through the fault proxy and under
//! the app's own load (every request publishes a message on a channel of
//! its own and waits for the broker's confirm): a deadpool-lapin `Pool`
//! through every fault and back, a single `lapin::Connection` failing with
//! the app's own publishes, and a broker that blocks publishers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use healthz::HealthChecks;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use support::fault::{Fault, FaultProxy};
use support::load::{every_fault_under_load, AppLoad};
use support::servers::{Kind, Server};
use support::verdict::{assert_busy_when, assert_recovers, assert_unready, until_status};
use support::{get, serve};

const DEADLINE: Duration = Duration::from_millis(500);
const MESSAGES: &[&str] = &["cannot connect to rabbitmq.", "timed out after 500ms."];
const BLOCKED: &[&str] = &["rabbitmq is blocking publishers."];
const RECOVERY: Duration = Duration::from_secs(60);
/// The app gives up on a publish (and on waiting for a pooled connection)
/// after this long, as a handler would.
const PUBLISH_BOUND: Duration = Duration::from_secs(2);
const POOL_SIZE: usize = 2;
const APP_CLIENTS: usize = 3 * POOL_SIZE;

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

/// The app on a pool: each request takes a connection and publishes.
fn pooled_app(pool: deadpool_lapin::Pool) -> axum::Router {
    async fn publish(
        axum::extract::State(pool): axum::extract::State<deadpool_lapin::Pool>,
    ) -> http::StatusCode {
        let published = async {
            let connection = pool.get().await.ok()?;
            publish_once(&connection).await.ok()
        };
        status(matches!(
            tokio::time::timeout(PUBLISH_BOUND, published).await,
            Ok(Some(()))
        ))
    }
    let probes = Pooled {
        broker: pool.clone(),
    }
    .probes();
    axum::Router::new()
        .route("/publish", axum::routing::get(publish))
        .with_state(pool)
        .layer(probes)
}

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
    .probes();
    axum::Router::new()
        .route("/publish", axum::routing::get(publish))
        .with_state(broker)
        .layer(probes)
}

/// The URL an app would use: heartbeats every 2 s (so that a silent broker
/// is noticed) and a connect timeout.
fn app_url(server: &Server, via: std::net::SocketAddr) -> String {
    format!(
        "{}?heartbeat=2&connection_timeout=2000",
        server.url_via(via)
    )
}

/// A pool as an app builds one: connections opened on demand (so the app
/// starts while the broker is down), a bounded wait for one.
fn pool(url: String) -> deadpool_lapin::Pool {
    let mut config = deadpool_lapin::Config {
        url: Some(url),
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

fn secrets(server: &Server, proxy: Option<&FaultProxy>) -> Vec<String> {
    let mut secrets = vec![server.port().to_string(), "guest".to_owned()];
    secrets.extend(proxy.map(|proxy| proxy.addr().port().to_string()));
    secrets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_pool_every_fault_under_the_apps_own_load() {
    let mut server = Server::start(Kind::RabbitMq);
    let proxy = FaultProxy::start(server.addr());
    let addr = serve(pooled_app(pool(app_url(&server, proxy.addr())))).await;
    let secrets = secrets(&server, Some(&proxy));
    let load = AppLoad::once_ready(addr, "/publish", APP_CLIENTS, RECOVERY).await;

    every_fault_under_load(&mut server, &proxy, addr, &load, RECOVERY, || {
        assert_unready(addr, "broker", MESSAGES, DEADLINE, &secrets)
    })
    .await;
    load.stop().await;
    assert_eq!(get(addr, "/readiness").await.status, http::StatusCode::OK);
}

/// Every pooled connection held by the app while the broker answers: busy
/// (the probe connection proves the broker answers), still ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_a_saturated_pool_is_busy_not_broken() {
    let server = Server::start(Kind::RabbitMq);
    let pool = pool(app_url(&server, server.addr()));
    let addr = serve(pooled_app(pool.clone())).await;
    assert_recovers(addr, RECOVERY).await;

    let mut held = Vec::new();
    for _ in 0..POOL_SIZE {
        held.push(pool.get().await.expect("a pooled connection"));
    }
    let saturated = || {
        let status = pool.status();
        status.available == 0 && status.size == POOL_SIZE
    };
    assert_busy_when(addr, "broker", saturated, RECOVERY, &secrets(&server, None)).await;
    drop(held);
    let reply = get(addr, "/readiness?verbose").await;
    assert_eq!(reply.body, "[+]broker ok\nreadiness check passed");
}

/// A broker that stops answering (SIGSTOP) while the app publishes: the
/// check times out, and its channel opens cut short by the deadline are
/// closed once the broker answers them. After the app's load, no channel
/// is left open on the broker, and no connection beyond the pool's and
/// the check's probe connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_a_stalled_broker_strands_no_channel() {
    let server = Server::start(Kind::RabbitMq);
    let addr = serve(pooled_app(pool(app_url(&server, server.addr())))).await;
    let secrets = secrets(&server, None);
    let load = AppLoad::once_ready(addr, "/publish", APP_CLIENTS, RECOVERY).await;

    server.pause();
    for _ in 0..3 {
        assert_unready(addr, "broker", MESSAGES, DEADLINE, &secrets).await;
    }
    server.unpause();
    assert_recovers(addr, RECOVERY).await;
    load.wait_for_success(5, RECOVERY).await;
    load.stop().await;
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

/// One connection, without lapin's recovery (its default): each fault
/// fails the check within the deadline, and once the fault is gone the
/// check keeps failing exactly as long as the app's own publishes on that
/// connection do. It never answers 200 for a connection the app cannot use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_one_connection_fails_with_the_apps_own_publishes() {
    let mut server = Server::start(Kind::RabbitMq);
    let proxy = FaultProxy::start(server.addr());
    let secrets = secrets(&server, Some(&proxy));
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
    let secrets = secrets(&server, None);
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
