//! An axum service whose probes are answered ahead of its own auth.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! It keeps a SQLite database in a temporary file (no server to install).
//! Set `DATABASE_URL` to use another SQLite file, or PostgreSQL or
//! MySQL/MariaDB with their drivers built in (`--features postgres`,
//! `--features mysql`; left out by default to keep the first build small),
//! `MEMCACHE_URL` (`memcache://127.0.0.1:11211`) to add a memcached
//! check, `BIND` to listen elsewhere than `127.0.0.1:8080`, `DRAIN_DELAY_MS`
//! for how long it keeps serving, unready, after SIGTERM (default 15000:
//! readiness every 5s, unready after 2 failures, plus one period).
//!
//! `cargo run --example quickstart -- --print-probes` prints the Kubernetes
//! probe settings that match `AppState`'s configuration (they are in
//! `examples/kubernetes/deployment.yaml`), checked against the drain delay.
//!
//! `quickstart --probe readiness` (or `liveness`, `startup`) is an exec
//! probe: it asks the quickstart already running at `BIND` for its answer,
//! prints it and exits 0 when ready, 1 when not, for images without curl.
//!
//! Every application request runs a query in the auth middleware: with the
//! database down, `/` answers 500, yet `/readiness` still answers an honest
//! 503 and `/healthz` a 200, because the probes run first.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use healthz::checks::memcache::MemcacheClient;
use healthz::details::Details;
use healthz::HealthChecks;
use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "800ms")]
struct AppState {
    /// Readiness runs `SELECT 1` here.
    #[healthz(timeout = "500ms")]
    db: AnyPool,
    /// Checked only when `MEMCACHE_URL` is set (`None` passes). Derefs to a
    /// `memcache::Client`; built without needing memcached to be up.
    #[healthz(name = "cache", timeout = "300ms")]
    sessions: Option<MemcacheClient>,
    /// Not annotated: never checked.
    placeholder: &'static str,
}

const DEMO_TOKEN: &str = "demo-token";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::var("BIND")
        .unwrap_or_else(|_| "127.0.0.1:8080".to_owned())
        .parse()?;
    // `--probe <name>`: answer for the running server, and exit.
    healthz::exec::ExecProbe::from_config(AppState::config(), addr).exit_if_requested();
    let drain_delay =
        Duration::from_millis(std::env::var("DRAIN_DELAY_MS").map_or(Ok(15_000), |ms| ms.parse())?);
    if std::env::args().any(|arg| arg == "--print-probes") {
        let probes = healthz::kubernetes::KubernetesProbes::of::<AppState>()
            .named_port("http")
            .startup_budget(Duration::from_secs(60))
            .drain_delay(drain_delay);
        print!("{}", probes.to_yaml()?);
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    sqlx::any::install_default_drivers();

    let database_url = std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        let path = std::env::temp_dir().join("healthz-quickstart.sqlite3");
        format!("sqlite://{}?mode=rwc", path.display())
    });
    // A lazy pool: the service starts (unready) even if the database is down.
    let db = AnyPoolOptions::new()
        .max_connections(5)
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy(&database_url)?;
    if let Err(error) = create_tokens_table(&db).await {
        tracing::warn!(%error, "could not prepare the tokens table; is the database up?");
    }

    let sessions = match std::env::var("MEMCACHE_URL") {
        Ok(url) => Some(healthz::checks::memcache::connect_lazy(
            &[url.as_str()],
            Duration::from_millis(250),
        )?),
        Err(_) => None,
    };

    let state = AppState {
        db,
        sessions,
        placeholder: "not a dependency",
    };
    // The details (verbose, health+json checks, per-check paths) name every
    // check: only callers with PROBE_TOKEN read them; everyone, the kubelet
    // included, gets the plain answers.
    let details = match std::env::var("PROBE_TOKEN") {
        Ok(token) if !token.is_empty() => Details::bearer(token),
        _ => Details::never(),
    };
    let probes = state.probes().with_details(details);
    let app = Router::new()
        .route("/", get(index))
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .with_state(state)
        // Last layer = outermost = runs first: probes never reach the auth.
        .layer(probes.clone());

    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    println!(
        "  curl -i http://{addr}/healthz              liveness: 200 OK, never touches a dependency"
    );
    println!("  curl -i http://{addr}/readiness            readiness: SELECT 1 on the database (and memcached stats)");
    println!(
        "  with PROBE_TOKEN set, add -H \"Authorization: Bearer $PROBE_TOKEN\" for the details:"
    );
    println!("  curl -i 'http://{addr}/readiness?verbose'  one line per check");
    println!("  curl -i http://{addr}/readiness/db         the database check alone");
    println!(
        "  curl -i http://{addr}/startupz             startup: 200 once every check has passed"
    );
    println!("  curl -i http://{addr}/                     the app: 401 without a token");
    println!("  curl -i -H 'Authorization: Bearer {DEMO_TOKEN}' http://{addr}/");
    // On SIGTERM: readiness turns 503 at once, the app keeps serving for the
    // delay while Kubernetes stops routing here, then the server stops.
    axum::serve(listener, app)
        .with_graceful_shutdown(probes.drain_on_signal(drain_delay))
        .await?;
    println!("drained and stopped");
    Ok(())
}

async fn create_tokens_table(db: &AnyPool) -> Result<(), sqlx::Error> {
    sqlx::query("CREATE TABLE IF NOT EXISTS api_tokens (token VARCHAR(64) NOT NULL)")
        .execute(db)
        .await?;
    sqlx::query("DELETE FROM api_tokens").execute(db).await?;
    sqlx::query(&format!(
        "INSERT INTO api_tokens (token) VALUES ('{DEMO_TOKEN}')"
    ))
    .execute(db)
    .await?;
    Ok(())
}

/// Looks the bearer token up in the database on every request, as a
/// session middleware would.
async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_owned();
    let known = sqlx::query("SELECT token FROM api_tokens")
        .fetch_all(&state.db)
        .await
        .map(|rows| {
            use sqlx::Row;
            rows.iter()
                .any(|row| row.try_get::<String, _>(0).is_ok_and(|t| t == token))
        });
    match known {
        Ok(true) => next.run(request).await,
        Ok(false) => (
            StatusCode::UNAUTHORIZED,
            "missing or unknown bearer token\n",
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "auth lookup failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
    }
}

async fn index(State(state): State<AppState>) -> String {
    format!("hello from the app ({})\n", state.placeholder)
}
