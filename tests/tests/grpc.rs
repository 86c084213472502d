//! The `grpc.health.v1.Health` service over real gRPC: a tonic server on a
//! loopback port, asked by tonic-health's generated client, with a check
//! whose answer the tests control.

use std::net::SocketAddr;
use std::time::Duration;

use healthz::grpc::{health_server, HealthServer, HealthService};
use healthz::{HealthChecks, Probes};
use support::fake::{Fake, Mode};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Channel, Server};
use tonic::{Code, Streaming};
use tonic_health::pb::health_check_response::ServingStatus::{
    self, NotServing, ServiceUnknown, Serving,
};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

/// Bound on every wait, so that a broken service fails the test instead of
/// hanging it.
const BOUND: Duration = Duration::from_secs(10);

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "300ms", cache = "0s")]
struct AppState {
    #[healthz]
    db: Fake,
    #[healthz(critical = false)]
    replica: Fake,
}

fn state() -> AppState {
    AppState {
        db: Fake::new(Mode::Pass),
        replica: Fake::new(Mode::Pass),
    }
}

/// Serves `service` over gRPC on a free port of 127.0.0.1, in the
/// background, and returns a client connected to it. The server runs on a
/// runtime of its own, so that one stuck in a loop cannot starve the test's
/// timers: the test then fails at its bound instead of hanging.
async fn serve<T: HealthChecks>(service: HealthServer<HealthService<T>>) -> HealthClient<Channel> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener
        .set_nonblocking(true)
        .expect("a non-blocking listener");
    let addr: SocketAddr = listener.local_addr().expect("local address");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("the server's runtime");
        runtime.block_on(async move {
            let listener = TcpListener::from_std(listener).expect("a tokio listener");
            Server::builder()
                .add_service(service)
                .serve_with_incoming(TcpListenerStream::new(listener))
                .await
        })
    });
    let channel = tokio::time::timeout(
        BOUND,
        Channel::from_shared(format!("http://{addr}"))
            .expect("a valid URI")
            .connect(),
    )
    .await
    .expect("connect within the bound")
    .expect("connect to the health service");
    HealthClient::new(channel)
}

fn request(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.to_owned(),
    }
}

/// `Check` on `service`: its status, or the call's error code.
async fn check(client: &mut HealthClient<Channel>, service: &str) -> Result<ServingStatus, Code> {
    let reply = tokio::time::timeout(BOUND, client.check(request(service)))
        .await
        .expect("Check answers within the bound");
    match reply {
        Ok(response) => Ok(response.into_inner().status()),
        Err(status) => Err(status.code()),
    }
}

/// Opens a `Watch` on `service`.
async fn watch(
    client: &mut HealthClient<Channel>,
    service: &str,
) -> Streaming<HealthCheckResponse> {
    tokio::time::timeout(BOUND, client.watch(request(service)))
        .await
        .expect("Watch answers within the bound")
        .expect("Watch is accepted")
        .into_inner()
}

/// The next message of a watch, `None` if the call ended (with `OK`).
async fn next(stream: &mut Streaming<HealthCheckResponse>) -> Option<ServingStatus> {
    next_within(stream, BOUND, "a message or the end within the bound").await
}

/// Serves `probes` with a watch interval of an hour, so that only pushed
/// changes can arrive in time, and opens a readiness watch that has said
/// `SERVING`.
async fn pushed_watch<T: HealthChecks>(
    probes: &Probes<T>,
) -> (HealthClient<Channel>, Streaming<HealthCheckResponse>) {
    let service = HealthService::new(probes.clone()).with_watch_interval(Duration::from_secs(3600));
    let mut client = serve(HealthServer::new(service)).await;
    let mut stream = watch(&mut client, "").await;
    assert_eq!(next(&mut stream).await, Some(Serving));
    (client, stream)
}

/// The next message within `bound`, which is `what` the test waits for.
async fn next_within(
    stream: &mut Streaming<HealthCheckResponse>,
    bound: Duration,
    what: &str,
) -> Option<ServingStatus> {
    tokio::time::timeout(bound, stream.message())
        .await
        .expect(what)
        .expect("the call does not fail")
        .map(|response| response.status())
}

#[tokio::test]
async fn check_follows_the_checks_and_liveness_never_fails() {
    let state = state();
    let probes = support::trusted(&state);
    let mut client = serve(health_server(probes.clone())).await;

    for service in ["", "readiness", "liveness"] {
        assert_eq!(
            check(&mut client, service).await,
            Ok(Serving),
            "{service:?}"
        );
    }

    // A failing non-critical check only degrades: still serving.
    state.replica.set(Mode::Fail);
    assert_eq!(check(&mut client, "readiness").await, Ok(Serving));

    state.db.set(Mode::Fail);
    assert_eq!(check(&mut client, "").await, Ok(NotServing));
    assert_eq!(check(&mut client, "readiness").await, Ok(NotServing));
    let calls = state.db.calls();
    assert_eq!(check(&mut client, "liveness").await, Ok(Serving));
    assert_eq!(state.db.calls(), calls, "liveness ran a check");

    state.db.set(Mode::Pass);
    assert_eq!(check(&mut client, "").await, Ok(Serving));
    assert_eq!(check(&mut client, "readiness").await, Ok(Serving));

    probes.drain();
    let calls = state.db.calls();
    assert_eq!(check(&mut client, "").await, Ok(NotServing));
    assert_eq!(check(&mut client, "readiness").await, Ok(NotServing));
    assert_eq!(check(&mut client, "liveness").await, Ok(Serving));
    assert_eq!(state.db.calls(), calls, "a draining server ran a check");
}

#[tokio::test]
async fn unknown_services_are_not_found() {
    let mut client = serve(health_server(
        state()
            .probes()
            .with_details(healthz::details::Details::always()),
    ))
    .await;
    for service in ["nope", "db", "readiness/db", "Readiness", " "] {
        assert_eq!(
            check(&mut client, service).await,
            Err(Code::NotFound),
            "{service:?}"
        );
    }
    // `Watch` says SERVICE_UNKNOWN instead, and keeps the call open.
    let mut stream = watch(&mut client, "nope").await;
    assert_eq!(next(&mut stream).await, Some(ServiceUnknown));
    let more = tokio::time::timeout(Duration::from_millis(500), stream.message()).await;
    assert!(
        more.is_err(),
        "the watch sent {more:?} after SERVICE_UNKNOWN"
    );
}

#[tokio::test]
async fn startup_opens_once_every_critical_check_has_passed() {
    let state = state();
    state.db.set(Mode::Fail);
    let mut client = serve(health_server(support::trusted(&state))).await;

    assert_eq!(check(&mut client, "startup").await, Ok(NotServing));
    state.db.set(Mode::Pass);
    assert_eq!(check(&mut client, "startup").await, Ok(Serving));

    state.db.set(Mode::Fail);
    let calls = state.db.calls();
    assert_eq!(check(&mut client, "startup").await, Ok(Serving));
    assert_eq!(state.db.calls(), calls, "an open startup probe ran a check");
    assert_eq!(check(&mut client, "readiness").await, Ok(NotServing));
}

#[tokio::test]
async fn watch_follows_readiness_and_ends_at_drain() {
    let state = state();
    let probes = support::trusted(&state);
    // The default interval: one second, since the cache is off.
    let mut client = serve(health_server(probes.clone())).await;
    let mut stream = watch(&mut client, "readiness").await;

    assert_eq!(next(&mut stream).await, Some(Serving));
    state.db.set(Mode::Fail);
    assert_eq!(next(&mut stream).await, Some(NotServing));
    state.db.set(Mode::Pass);
    assert_eq!(next(&mut stream).await, Some(Serving));
    probes.drain();
    assert_eq!(next(&mut stream).await, Some(NotServing));
    assert_eq!(
        next(&mut stream).await,
        None,
        "the watch outlived the drain"
    );

    // A watch opened while draining says so and ends.
    let mut stream = watch(&mut client, "").await;
    assert_eq!(next(&mut stream).await, Some(NotServing));
    assert_eq!(next(&mut stream).await, None);
}

#[tokio::test]
async fn watch_sees_the_drain_at_once() {
    let state = state();
    let probes = support::trusted(&state);
    let (_client, mut stream) = pushed_watch(&probes).await;

    probes.drain();
    let message = next_within(
        &mut stream,
        Duration::from_secs(2),
        "the drain reached the watcher without waiting for the interval",
    )
    .await;
    assert_eq!(message, Some(NotServing));
    assert_eq!(next(&mut stream).await, None);
}

#[tokio::test]
async fn watch_liveness_never_changes_and_ends_at_drain() {
    let state = state();
    let probes = support::trusted(&state);
    let service =
        HealthService::new(probes.clone()).with_watch_interval(Duration::from_millis(100));
    let mut client = serve(HealthServer::new(service)).await;
    let mut stream = watch(&mut client, "liveness").await;
    assert_eq!(next(&mut stream).await, Some(Serving));

    state.db.set(Mode::Fail);
    let more = tokio::time::timeout(Duration::from_millis(500), stream.message()).await;
    assert!(more.is_err(), "liveness sent {more:?} after SERVING");
    assert_eq!(state.db.calls(), 0, "a liveness watch ran a check");

    probes.drain();
    assert_eq!(
        next(&mut stream).await,
        None,
        "liveness changed or outlived the drain"
    );
}

#[tokio::test]
async fn watch_polls_at_its_interval_and_stops_when_the_client_goes_away() {
    let state = state();
    let service = HealthService::new(support::trusted(&state))
        .with_watch_interval(Duration::from_millis(100));
    let mut client = serve(HealthServer::new(service)).await;
    let mut stream = watch(&mut client, "readiness").await;
    assert_eq!(next(&mut stream).await, Some(Serving));

    // An unchanged status sends nothing, and the checks run once per
    // interval: about ten times a second, not in a loop.
    let before = state.db.calls();
    let more = tokio::time::timeout(Duration::from_secs(1), stream.message()).await;
    assert!(
        more.is_err(),
        "the watch repeated an unchanged status: {more:?}"
    );
    let runs = state.db.calls() - before;
    assert!((2..=15).contains(&runs), "{runs} checks in one second");

    drop(stream);
    // Let the reset reach the server, then see that nothing runs any more.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after_drop = state.db.calls();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        state.db.calls(),
        after_drop,
        "checks still run for a watcher that went away"
    );
}

#[tokio::test]
async fn a_failing_server_reports_not_serving_from_the_first_message() {
    let state = state();
    state.db.set(Mode::Fail);
    let probes: Probes<AppState> = support::trusted(&state);
    let mut client = serve(health_server(probes)).await;
    let mut stream = watch(&mut client, "").await;
    assert_eq!(next(&mut stream).await, Some(NotServing));
    state.db.set(Mode::Pass);
    assert_eq!(next(&mut stream).await, Some(Serving));
}

/// A change that any run publishes (here, a kubelet's HTTP probe running
/// the checks) reaches a watcher at once, not at its next interval.
#[tokio::test]
async fn watch_is_pushed_a_change_without_waiting_an_interval() {
    let state = state();
    let probes = support::trusted(&state);
    let (_client, mut stream) = pushed_watch(&probes).await;

    state.db.set(Mode::Fail);
    // The kubelet's readiness probe runs the checks and publishes.
    assert!(!probes.readiness().await.status().is_ready());
    let message = next_within(
        &mut stream,
        Duration::from_secs(5),
        "the change reached the watcher without waiting for the 1h interval",
    )
    .await;
    assert_eq!(message, Some(NotServing));
}

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "300ms", interval = "300ms")]
struct BackgroundState {
    #[healthz]
    db: Fake,
}

/// In background mode a watch runs no check of its own: the scheduler's
/// runs feed it.
#[tokio::test]
async fn watch_in_background_mode_is_fed_by_the_schedule() {
    let state = BackgroundState {
        db: Fake::new(Mode::Pass),
    };
    let probes = support::trusted(&state);
    let (_client, mut stream) = pushed_watch(&probes).await;

    state.db.set(Mode::Fail);
    let message = next_within(
        &mut stream,
        BOUND,
        "a background run's result reached the watcher",
    )
    .await;
    assert_eq!(message, Some(NotServing));
    state.db.set(Mode::Pass);
    assert_eq!(next(&mut stream).await, Some(Serving));
}
