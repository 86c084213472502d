//! The classic deployment: an axum service on PostgreSQL with sessions in
//! memcached, and a session middleware that reads both on every request.
//!
//! ```text
//! DATABASE_URL=postgres://app:secret@127.0.0.1:5432/app \
//! MEMCACHE_URLS=memcache://127.0.0.1:11211,memcache://127.0.0.1:11212 \
//! cargo run --example axum_postgres_memcached --features postgres
//! ```
//!
//! The service starts even when PostgreSQL or memcached is down (the pool
//! and the memcache client connect lazily): it is then alive but not ready,
//! and becomes ready on its own once they answer. Stop either one and watch
//! `/readiness` turn to 503 within its deadline while `/healthz` stays 200.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use healthz::checks::memcache::{connect_lazy, MemcacheClient};
use healthz::HealthChecks;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "800ms", cache = "1s")]
struct AppState {
    /// `SELECT 1` on a pooled connection.
    #[healthz(timeout = "500ms")]
    db: PgPool,
    /// `stats` on every memcached server; each must answer.
    #[healthz(name = "cache", timeout = "400ms")]
    sessions: MemcacheClient,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();

    let database_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let memcache_urls =
        std::env::var("MEMCACHE_URLS").unwrap_or_else(|_| "memcache://127.0.0.1:11211".to_owned());

    let state = AppState {
        db: PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(3))
            .connect_lazy(&database_url)?,
        sessions: connect_lazy(
            &memcache_urls.split(',').map(str::trim).collect::<Vec<_>>(),
            Duration::from_millis(300),
        )?,
    };

    let probes = state.probes();
    let app = Router::new()
        .route("/", get(whoami))
        .layer(middleware::from_fn_with_state(state.clone(), load_session))
        .with_state(state)
        .layer(probes);

    let listener = tokio::net::TcpListener::bind(
        std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:8080".to_owned()),
    )
    .await?;
    println!("listening on http://{}", listener.local_addr()?);
    println!(
        "  /healthz  /readiness  /readiness?verbose  /readiness/db  /readiness/cache  /startupz"
    );
    axum::serve(listener, app).await?;
    Ok(())
}

/// The user a request acts for.
#[derive(Clone)]
struct User(String);

/// Looks the session cookie up in memcached, then checks the user still
/// exists in PostgreSQL: both dependencies on every request, which is why
/// the probes must be answered before this runs.
async fn load_session(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(session_id) = request
        .headers()
        .get(header::COOKIE)
        .and_then(|value| value.to_str().ok())
        .and_then(|cookies| {
            cookies
                .split(';')
                .find_map(|c| c.trim().strip_prefix("session="))
        })
        .map(str::to_owned)
    else {
        return (StatusCode::UNAUTHORIZED, "no session\n").into_response();
    };

    let sessions = state.sessions.clone();
    let lookup = tokio::task::spawn_blocking(move || sessions.get::<String>(&session_id)).await;
    let user = match lookup {
        Ok(Ok(Some(user))) => user,
        Ok(Ok(None)) => return (StatusCode::UNAUTHORIZED, "unknown session\n").into_response(),
        Ok(Err(error)) => return internal("session lookup failed", &error),
        Err(error) => return internal("session lookup panicked", &error),
    };
    match sqlx::query("SELECT 1 FROM pg_roles WHERE rolname = $1")
        .bind(&user)
        .fetch_optional(&state.db)
        .await
    {
        Ok(Some(_)) => {
            request.extensions_mut().insert(User(user));
            next.run(request).await
        }
        Ok(None) => (StatusCode::FORBIDDEN, "user no longer exists\n").into_response(),
        Err(error) => internal("user lookup failed", &error),
    }
}

fn internal(what: &str, error: &dyn std::fmt::Display) -> Response {
    tracing::error!(%error, "{what}");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
}

async fn whoami(request: Request) -> String {
    let user = request
        .extensions()
        .get::<User>()
        .map_or("nobody", |user| user.0.as_str());
    format!("hello, {user}\n")
}
