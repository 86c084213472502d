//! The gRPC upstream check: the standard `grpc.health.v1` `Check` call on
//! a tonic `Channel`, against a real tonic server (healthz's own health
//! service, whose answer the test sets) behind the fault proxy; then
//! against a separate upstream process through the shared backend suite,
//! under the app's own calls on the same channel.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use healthz::checks::grpc::Upstream;
use healthz::grpc::health_server;
use healthz::HealthChecks;
use http::StatusCode;
use support::backend::Backend;
use support::fake::{Fake, Mode};
use support::fault::{Fault, FaultProxy};
use support::get;
use support::servers::{Kind, Server};
use support::verdict::{assert_no_secrets, SLACK};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Channel;

const DEADLINE: Duration = Duration::from_millis(300);
const RECOVERY: Duration = Duration::from_secs(30);

/// The upstream's own state: its readiness is what `Check` reports.
#[derive(Clone, HealthChecks)]
#[healthz(timeout = "200ms", cache = "0s")]
struct UpstreamState {
    #[healthz]
    db: Fake,
}

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "300ms", cache = "0s")]
struct State {
    #[healthz]
    billing: Upstream,
    #[healthz(critical = false)]
    unknown: Upstream,
}

async fn readiness_until(addr: std::net::SocketAddr, path: &str, status: StatusCode) -> String {
    support::verdict::until_status(addr, path, status, RECOVERY)
        .await
        .body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstreams_health_service_decides_and_faults_fail_within_the_deadline() {
    let upstream = UpstreamState {
        db: Fake::new(Mode::Pass),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_addr = listener.local_addr().unwrap();
    let service = health_server(support::trusted(&upstream));
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await
    });
    let proxy = FaultProxy::start(upstream_addr);
    let channel = Channel::from_shared(format!("http://{}", proxy.addr()))
        .unwrap()
        .connect_timeout(Duration::from_millis(250))
        .connect_lazy();
    let state = State {
        billing: Upstream::new(channel.clone(), "readiness"),
        unknown: Upstream::new(channel, "no.such.Service"),
    };
    let addr = support::serve_probes(&state).await;
    let secrets = [
        upstream_addr.port().to_string(),
        proxy.addr().port().to_string(),
    ];

    readiness_until(addr, "/readiness/billing", StatusCode::OK).await;
    let unknown = get(addr, "/readiness/unknown").await;
    assert_eq!(
        (unknown.status, unknown.body.as_str()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "unknown: upstream does not know the service."
        )
    );

    // The upstream answers NOT_SERVING.
    upstream.db.set(Mode::Fail);
    let body = readiness_until(addr, "/readiness", StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body, "billing: upstream not serving.");
    upstream.db.set(Mode::Pass);
    readiness_until(addr, "/readiness/billing", StatusCode::OK).await;

    for fault in [
        Fault::Refuse,
        Fault::Reset,
        Fault::Silent,
        Fault::HangConnect,
    ] {
        proxy.set(fault);
        for _ in 0..3 {
            let started = Instant::now();
            let reply = get(addr, "/readiness/billing").await;
            assert!(
                started.elapsed() < DEADLINE + SLACK,
                "{fault:?}: {:?}",
                started.elapsed()
            );
            assert_eq!(
                reply.status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{fault:?}: {reply:?}"
            );
            assert!(
                [
                    "billing: cannot reach upstream.",
                    "billing: timed out after 300ms."
                ]
                .contains(&reply.body.as_str()),
                "{fault:?}: {reply:?}"
            );
            assert_no_secrets(&get(addr, "/readiness?verbose").await.body, &secrets);
        }
        proxy.set(Fault::Pass);
        if matches!(fault, Fault::Silent | Fault::HangConnect) {
            proxy.reset_black_holes();
        }
        readiness_until(addr, "/readiness/billing", StatusCode::OK).await;
    }
}

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "500ms", cache = "0s")]
struct Billing {
    #[healthz]
    billing: Upstream,
}

/// A tonic `Channel` to a real upstream process: the app's own calls
/// (`/call`: `Check` of `billing`) go through the same channel as the
/// check.
struct Grpc;

impl Backend for Grpc {
    const KIND: Kind = Kind::GrpcUpstream;
    const ROUTE: &'static str = "/call";
    const CHECK: &'static str = "billing";
    const MESSAGES: &'static [&'static str] = &["cannot reach upstream.", "timed out after 500ms."];
    type Client = Channel;
    type State = Billing;

    async fn client(_: &Server, addr: SocketAddr) -> Channel {
        Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_timeout(Duration::from_secs(1))
            .connect_lazy()
    }

    fn state(channel: &Channel) -> Billing {
        Billing {
            billing: Upstream::new(channel.clone(), "billing"),
        }
    }

    async fn request(channel: Channel) -> bool {
        let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
        let request = tonic_health::pb::HealthCheckRequest {
            service: "billing".to_owned(),
        };
        client.check(request).await.is_ok()
    }
}

support::backend_suite!(grpc: Grpc);
