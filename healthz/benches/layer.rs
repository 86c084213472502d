//! In-process costs of the layer, each beside its baseline in the same run:
//!
//! - `passthrough/bare` vs `passthrough/layered`: an app request through
//!   the inner service alone, then through the layer (ratio = overhead);
//! - `route/*`: the decision "is this a probe?" for a non-probe and a probe;
//! - `readiness/cached`: a readiness probe answered from the result cache;
//! - `concurrent_checks/N`: readiness with N checks of 50 ms each and no
//!   cache: it should take about 50 ms whatever N, not N × 50 ms.
//!
//! `cargo bench -p healthz --bench layer`

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use healthz::{Check, CheckError, HealthChecks};
use http::{HeaderMap, Method, Request, Response, Uri};
use http_body_util::Empty;
use tower::{Layer, Service};

struct Instant;

impl Check for Instant {
    async fn check(&self) -> Result<(), CheckError> {
        Ok(())
    }
}

struct Sleepy;

impl Check for Sleepy {
    async fn check(&self) -> Result<(), CheckError> {
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(())
    }
}

#[derive(Clone, HealthChecks)]
#[healthz(cache = "60m")]
struct Cached {
    #[healthz]
    db: std::sync::Arc<Instant>,
    #[healthz]
    cache: std::sync::Arc<Instant>,
}

macro_rules! sleepy_state {
    ($name:ident, $($field:ident),+) => {
        #[derive(Clone, HealthChecks)]
        #[healthz(timeout = "1s", cache = "0s")]
        struct $name {
            $(#[healthz] $field: std::sync::Arc<Sleepy>,)+
        }
        impl $name {
            fn new() -> Self {
                Self { $($field: std::sync::Arc::new(Sleepy),)+ }
            }
        }
    };
}

sleepy_state!(One, a);
sleepy_state!(Four, a, b, c, d);
sleepy_state!(Sixteen, a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p);

fn cached_state() -> Cached {
    Cached {
        db: std::sync::Arc::new(Instant),
        cache: std::sync::Arc::new(Instant),
    }
}

/// Polls a service call that completes at once.
fn call_now<S: Service<Request<Empty<bytes::Bytes>>>>(
    service: &mut S,
    request: Request<Empty<bytes::Bytes>>,
) {
    let mut cx = Context::from_waker(Waker::noop());
    assert!(service.poll_ready(&mut cx).is_ready());
    let future = pin!(service.call(request));
    assert!(matches!(future.poll(&mut cx), Poll::Ready(Ok(_))));
}

fn passthrough(c: &mut Criterion) {
    let app = tower::service_fn(|_request: Request<Empty<bytes::Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Empty::<bytes::Bytes>::new()))
    });
    let mut group = c.benchmark_group("passthrough");
    let request = || Request::get("/api/users?id=7").body(Empty::new()).unwrap();
    let mut bare = app;
    group.bench_function("bare", |b| b.iter(|| call_now(&mut bare, request())));
    let mut layered = cached_state().probes().layer(app);
    group.bench_function("layered", |b| b.iter(|| call_now(&mut layered, request())));
    group.finish();
}

fn route(c: &mut Criterion) {
    let probes = cached_state().probes();
    let headers = HeaderMap::new();
    let app_path: Uri = "/api/users?id=7".parse().unwrap();
    let probe_path: Uri = "/readiness?verbose&exclude=cache".parse().unwrap();
    let mut group = c.benchmark_group("route");
    group.bench_function("not_a_probe", |b| {
        b.iter(|| {
            probes
                .probe_request(&Method::GET, &app_path, &headers)
                .is_none()
        })
    });
    group.bench_function("probe", |b| {
        b.iter(|| {
            probes
                .probe_request(&Method::GET, &probe_path, &headers)
                .is_some()
        })
    });
    group.finish();
}

fn readiness(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let probes = cached_state().probes();
    runtime.block_on(probes.readiness());
    let headers = HeaderMap::new();
    let uri: Uri = "/readiness".parse().unwrap();
    c.bench_function("readiness/cached", |b| {
        b.to_async(&runtime).iter(|| async {
            let request = probes.probe_request(&Method::GET, &uri, &headers).unwrap();
            assert_eq!(request.answer().await.status(), 200);
        })
    });
}

fn concurrent_checks(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("concurrent_checks");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3));
    let one = One::new().probes();
    let four = Four::new().probes();
    let sixteen = Sixteen::new().probes();
    group.bench_with_input(BenchmarkId::from_parameter(1), &one, |b, p| {
        b.to_async(&runtime).iter(|| p.readiness())
    });
    group.bench_with_input(BenchmarkId::from_parameter(4), &four, |b, p| {
        b.to_async(&runtime).iter(|| p.readiness())
    });
    group.bench_with_input(BenchmarkId::from_parameter(16), &sixteen, |b, p| {
        b.to_async(&runtime).iter(|| p.readiness())
    });
    group.finish();
}

criterion_group!(benches, passthrough, route, readiness, concurrent_checks);
criterion_main!(benches);
