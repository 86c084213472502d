//! The pass-through path allocates nothing: a request that is not a probe
//! costs the layer no heap allocation, whatever the inner service does.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use healthz::{Check, CheckError, HealthChecks};
use http::{Method, Request, Response};
use http_body_util::Empty;
use tower::{Layer, Service};

/// Counts the allocations made by the current thread.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

struct Db;

impl Check for Db {
    async fn check(&self) -> Result<(), CheckError> {
        Ok(())
    }
}

#[derive(Clone, HealthChecks)]
struct State {
    #[healthz]
    db: std::sync::Arc<Db>,
    #[healthz]
    cache: std::sync::Arc<Db>,
}

/// Drives `service` through `poll_ready`, `call` and the response future
/// for each request, and returns the allocations that took.
fn allocations_of<S>(mut service: S, requests: Vec<Request<Empty<bytes::Bytes>>>) -> usize
where
    S: Service<Request<Empty<bytes::Bytes>>>,
    S::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    let before = allocations();
    for request in requests {
        assert!(service.poll_ready(&mut cx).is_ready());
        let future = pin!(service.call(request));
        match future.poll(&mut cx) {
            Poll::Ready(Ok(response)) => drop(response),
            other => panic!(
                "the app did not answer at once: {:?}",
                other.map(|r| r.map(drop))
            ),
        }
    }
    allocations() - before
}

fn requests(n: usize) -> Vec<Request<Empty<bytes::Bytes>>> {
    let paths = [
        "/",
        "/api/users?id=1",
        "/readinessx",
        "/healthz/",
        "/startupz/x",
        "/readiness",
    ];
    (0..n)
        .map(|i| {
            // POST /readiness is the app's, like every other method on a probe path.
            let method = if i % paths.len() == 5 {
                Method::POST
            } else {
                Method::GET
            };
            Request::builder()
                .method(method)
                .uri(paths[i % paths.len()])
                .body(Empty::new())
                .unwrap()
        })
        .collect()
}

type Body = Empty<bytes::Bytes>;

/// An app that answers at once without allocating.
fn app() -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone {
    tower::service_fn(|_request: Request<Body>| async { Ok(Response::new(Body::new())) })
}

/// The app behind the probes layer, built before any counting: the
/// layer's one-time setup may allocate.
fn layered(
) -> impl Service<Request<Body>, Response = Response<healthz::layer::ProbeBody<Body>>, Error = Infallible>
{
    let state = State {
        db: std::sync::Arc::new(Db),
        cache: std::sync::Arc::new(Db),
    };
    support::trusted(&state).layer(app())
}

#[test]
fn passing_a_request_through_allocates_nothing() {
    let layered = layered();

    let bare = allocations_of(app(), requests(1000));
    let through_layer = allocations_of(layered, requests(1000));
    assert_eq!(
        through_layer, bare,
        "1000 requests through the layer allocated {through_layer} times, {bare} without it"
    );
}

/// The counter works: a probe does allocate (its answer), so this test
/// would see an allocation on the pass-through path too.
#[test]
fn the_counter_sees_allocations() {
    let layered = layered();
    let probe = vec![Request::get("/healthz").body(Empty::new()).unwrap()];
    assert!(allocations_of(layered, probe) > 0);
}
