//! In-process cost of a probe answer in each framework, beside the same
//! framework's trivial answer: the services the load scenarios serve,
//! called directly (no sockets, no runtime), so that a difference of a few
//! percent of a request's cost is not lost in the noise of a loaded
//! two-core machine.
//!
//! `cargo run --release -p healthz-bench -- inproc [--rounds R] [--calls N]`

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use axum::routing::get;
use bytes::Bytes;
use healthz::HealthChecks;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Request, Response};
use http_body_util::{Empty, Full};
use hyper::body::Body;
use tower::{Service, ServiceBuilder};

use crate::args::flag;
use crate::serve::{axum_app, ExampleState, Upstream};
use crate::BenchState;

/// Calls `service` with `request`, which must complete at once, and reads
/// the whole response body, as hyper would.
fn call_now<S, Req, B>(service: &mut S, request: Req)
where
    S: Service<Req, Response = Response<B>>,
    B: Body,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(service.poll_ready(&mut cx).is_ready());
    let future = pin!(service.call(request));
    let Poll::Ready(Ok(response)) = future.poll(&mut cx) else {
        panic!("the service did not answer at once");
    };
    let mut body = pin!(response.into_body());
    while let Poll::Ready(Some(frame)) = body.as_mut().poll_frame(&mut cx) {
        assert!(frame.is_ok());
        black_box(frame.ok());
    }
}

fn hyper_request(path: &str) -> Request<Empty<Bytes>> {
    Request::get(path)
        .header("host", "127.0.0.1")
        .body(Empty::new())
        .unwrap()
}

fn axum_request(path: &str) -> Request<axum::body::Body> {
    Request::get(path)
        .header("host", "127.0.0.1")
        .body(axum::body::Body::empty())
        .unwrap()
}

async fn ok(_request: Request<Empty<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"OK"))))
}

/// "OK" with the headers a probe answer carries (`healthz/src/answer.rs`,
/// `text`): what the answer itself costs, without the layer's routing.
fn probe_like() -> Response<Full<Bytes>> {
    let body = Bytes::from_static(b"OK");
    let length = HeaderValue::from(body.len());
    let mut response = Response::new(Full::new(body));
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CONTENT_LENGTH, length);
    response
}

async fn ok_with_headers(
    _request: Request<Empty<Bytes>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(probe_like())
}

async fn hello(_request: Request<Empty<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"hello from hyper\n",
    ))))
}

/// One variant: a name, and one call of it.
type Variant = (&'static str, Box<dyn FnMut()>);

pub fn main(args: &[String]) {
    let rounds: usize = flag(args, "--rounds", 11);
    let calls: u32 = flag(args, "--calls", 200_000);
    // The pool spawns its maintenance task on a runtime; nothing connects.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _entered = runtime.enter();
    let state = BenchState::connect(
        "postgres://nobody:nothing@127.0.0.1:9/none",
        "memcache://127.0.0.1:9",
    );

    let mut hyper_ok = tower::service_fn(ok);
    let mut hyper_headers = tower::service_fn(ok_with_headers);
    let mut hyper_layered = ServiceBuilder::new()
        .layer(
            ExampleState {
                upstream: Upstream {
                    addr: "127.0.0.1:9".to_owned(),
                },
            }
            .probes()
            .with_details(healthz::details::Details::always()),
        )
        .service(tower::service_fn(hello));
    let mut axum_ok = axum_app(state.clone()).route("/healthz", get(|| async { "OK" }));
    let mut axum_headers =
        axum_app(state.clone()).route("/healthz", get(|| async { probe_like() }));
    let mut axum_layered = axum_app(state.clone()).layer(support::trusted(&state));
    let mut axum_identity_ok = axum_app(state.clone())
        .route("/healthz", get(|| async { "OK" }))
        .layer(tower::layer::util::Identity::new());
    let mut axum_outside = ServiceBuilder::new()
        .map_response(axum::response::IntoResponse::into_response)
        .layer(support::trusted(&state))
        .service(axum_app(state.clone()));
    let mut axum_plain = axum_app(state.clone());
    let mut axum_passthrough = axum_app(state.clone()).layer(support::trusted(&state));
    let mut axum_identity = axum_app(state.clone()).layer(tower::layer::util::Identity::new());
    let mut variants: Vec<Variant> = vec![
        (
            "hyper: service_fn OK",
            Box::new(move || call_now(&mut hyper_ok, hyper_request("/"))),
        ),
        (
            "hyper: service_fn OK with a probe answer's 3 headers",
            Box::new(move || call_now(&mut hyper_headers, hyper_request("/"))),
        ),
        (
            "hyper: examples/hyper.rs layer, /healthz",
            Box::new(move || call_now(&mut hyper_layered, hyper_request("/healthz"))),
        ),
        (
            "axum: trivial /healthz route, no layer",
            Box::new(move || call_now(&mut axum_ok, axum_request("/healthz"))),
        ),
        (
            "axum: /healthz route answering with a probe answer's 3 headers",
            Box::new(move || call_now(&mut axum_headers, axum_request("/healthz"))),
        ),
        (
            "axum: + layer, /healthz",
            Box::new(move || call_now(&mut axum_layered, axum_request("/healthz"))),
        ),
        (
            "axum: trivial /healthz route + a no-op layer (`Identity`)",
            Box::new(move || call_now(&mut axum_identity_ok, axum_request("/healthz"))),
        ),
        (
            "axum: layer around the Router (ServiceBuilder), /healthz",
            Box::new(move || call_now(&mut axum_outside, axum_request("/healthz"))),
        ),
        (
            "axum: `/` route, no layer",
            Box::new(move || call_now(&mut axum_plain, axum_request("/"))),
        ),
        (
            "axum: `/` route through the layer",
            Box::new(move || call_now(&mut axum_passthrough, axum_request("/"))),
        ),
        (
            "axum: `/` route through a no-op layer (`Identity`)",
            Box::new(move || call_now(&mut axum_identity, axum_request("/"))),
        ),
    ];

    // Interleaved rounds: every variant once per round.
    let mut nanos: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for _ in 0..rounds {
        for (i, (_, call)) in variants.iter_mut().enumerate() {
            let started = Instant::now();
            for _ in 0..calls {
                call();
            }
            nanos[i].push(started.elapsed().as_nanos() as f64 / f64::from(calls));
        }
    }
    let median = |values: &[f64]| {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    };
    let difference = |of: usize, baseline: usize| {
        let per_round: Vec<f64> = nanos[of]
            .iter()
            .zip(&nanos[baseline])
            .map(|(a, b)| a - b)
            .collect();
        median(&per_round)
    };
    println!(
        "in-process, {calls} calls per variant per round, median of {rounds} interleaved rounds\n"
    );
    println!("| variant | ns per request | difference to its baseline |\n|---|---:|---:|");
    let baselines = [
        None,
        Some(0),
        Some(0),
        None,
        Some(3),
        Some(3),
        Some(3),
        Some(3),
        None,
        Some(8),
        Some(8),
    ];
    for (i, (name, _)) in variants.iter().enumerate() {
        let cell = baselines[i].map_or("baseline".to_owned(), |b| {
            format!("{:+.0} ns", difference(i, b))
        });
        println!("| {name} | {:.0} | {cell} |", median(&nanos[i]));
    }

    // hyper-util's `TowerToHyperService` clones the tower service for every
    // request; the layer's clone is an `Arc` count, shared by every worker.
    let hyper_ok = tower::service_fn(ok);
    let hyper_layered = ServiceBuilder::new()
        .layer(
            ExampleState {
                upstream: Upstream {
                    addr: "127.0.0.1:9".to_owned(),
                },
            }
            .probes()
            .with_details(healthz::details::Details::always()),
        )
        .service(tower::service_fn(hello));
    let mut timings = [(); 4].map(|()| Vec::new());
    for _ in 0..rounds {
        timings[0].push(threaded(hyper_ok, "/", 1, calls));
        timings[1].push(threaded(hyper_layered.clone(), "/healthz", 1, calls));
        timings[2].push(threaded(hyper_ok, "/", 2, calls));
        timings[3].push(threaded(hyper_layered.clone(), "/healthz", 2, calls));
    }
    println!(
        "\nper-request clone of the service, as hyper-util's `TowerToHyperService` does, \
         on one thread and on two at once (wall time per call per thread)\n"
    );
    println!("| service | 1 thread | 2 threads |\n|---|---:|---:|");
    for (name, one, two) in [
        ("hyper: service_fn OK", 0, 2),
        ("hyper: examples/hyper.rs layer, /healthz", 1, 3),
    ] {
        println!(
            "| {name} | {:.0} ns | {:.0} ns |",
            median(&timings[one]),
            median(&timings[two])
        );
    }
}

/// Calls `service` `calls` times on each of `threads` threads at once,
/// cloning it for every call; returns the wall time per call, ns.
fn threaded<S, B>(service: S, path: &'static str, threads: usize, calls: u32) -> f64
where
    S: Service<Request<Empty<Bytes>>, Response = Response<B>> + Clone + Send + 'static,
    B: Body,
{
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(threads + 1));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (service, barrier) = (service.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for _ in 0..calls {
                    let mut service = service.clone();
                    call_now(&mut service, hyper_request(path));
                }
            })
        })
        .collect();
    barrier.wait();
    let started = Instant::now();
    for worker in workers {
        worker.join().unwrap();
    }
    started.elapsed().as_nanos() as f64 / f64::from(calls)
}
