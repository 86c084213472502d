//! poem 3 behind the probes' middleware (feature `poem`): `.with(probes)`
//! as the last `.with` of the app. The behaviour every adapter shares
//! ([`support::framework_suite!`]), over real HTTP through poem's own
//! server: probes answered ahead of an auth middleware that rejects every
//! request with 401, pass-through byte for byte, HEAD, drain, and the
//! shared scenarios.

use std::net::SocketAddr;

use healthz::{HealthChecks, Probes};
use http::StatusCode;
use poem::endpoint::{make, make_sync};
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{get, post, Endpoint, EndpointExt, IntoResponse, Request, Response, Route, Server};
use support::scenarios::{Auth, Framework};

/// The app of [`Framework`] in poem: its routes, an auth middleware
/// around them, the probes added last.
struct Poem;

impl Framework for Poem {
    async fn serve<T: HealthChecks>(probes: Probes<T>, auth: Auth) -> SocketAddr {
        let echo = make(|request: Request| async move {
            let body = request.into_body().into_bytes().await?;
            Ok::<_, poem::Error>(
                Response::builder()
                    .status(StatusCode::CREATED)
                    .header("x-app", "echo")
                    .body(body),
            )
        });
        let app = Route::new()
            .at("/", get(make_sync(|_| "app")))
            .at("/readiness", post(make_sync(|_| "app got the POST")))
            .at("/healthz/extra", get(make_sync(|_| "app's own path")))
            .at("/echo", post(echo))
            .around(move |inner, request| async move {
                if auth == Auth::Broken {
                    return Ok((StatusCode::UNAUTHORIZED, "unauthorized").into_response());
                }
                inner.call(request).await.map(IntoResponse::into_response)
            })
            .with(probes);
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .expect("bind 127.0.0.1:0");
        let addr = *acceptor.local_addr()[0]
            .as_socket_addr()
            .expect("a TCP address");
        tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
        addr
    }
}

support::framework_suite!(Poem);
