//! warp 0.4 behind the probes: a warp filter is a tower `Service` through
//! `warp::service`, so the tower layer wraps it as it wraps any other
//! (`tower::Layer::layer(&probes, warp::service(routes))`), and the result
//! is served by hyper. The behaviour every adapter shares
//! ([`support::framework_suite!`]), over real HTTP: probes answered ahead
//! of an auth filter that rejects every request with 401, pass-through
//! byte for byte, HEAD, drain, and the shared scenarios.

use std::net::SocketAddr;

use bytes::Bytes;
use healthz::{HealthChecks, Probes};
use http::StatusCode;
use support::scenarios::{Auth, Framework};
use warp::Filter;

/// The rejection of the app's auth filter.
#[derive(Debug)]
struct Unauthorized;

impl warp::reject::Reject for Unauthorized {}

/// The app of [`Framework`] in warp: its routes behind an auth filter,
/// wrapped by the probes.
struct Warp;

impl Framework for Warp {
    async fn serve<T: HealthChecks>(probes: Probes<T>, auth: Auth) -> SocketAddr {
        let auth = warp::any()
            .and_then(move || async move {
                if auth == Auth::Broken {
                    Err(warp::reject::custom(Unauthorized))
                } else {
                    Ok(())
                }
            })
            .untuple_one();
        let index = warp::get().and(warp::path::end()).map(|| "app");
        let post_readiness = warp::post()
            .and(warp::path!("readiness"))
            .map(|| "app got the POST");
        let extra = warp::get()
            .and(warp::path!("healthz" / "extra"))
            .map(|| "app's own path");
        let echo = warp::post()
            .and(warp::path!("echo"))
            .and(warp::body::bytes())
            .map(|body: Bytes| {
                let reply = warp::reply::with_header(body.to_vec(), "x-app", "echo");
                warp::reply::with_status(reply, StatusCode::CREATED)
            });
        let routes = auth
            .and(index.or(post_readiness).or(extra).or(echo))
            .recover(|rejection: warp::Rejection| async move {
                if rejection.find::<Unauthorized>().is_some() {
                    Ok(warp::reply::with_status(
                        "unauthorized",
                        StatusCode::UNAUTHORIZED,
                    ))
                } else {
                    Err(rejection)
                }
            });
        support::serve(tower::Layer::layer(&probes, warp::service(routes))).await
    }
}

support::framework_suite!(Warp);
