#![deny(warnings, clippy::pedantic)]

use std::sync::Arc;

use healthz::{CheckError, HealthChecks};

/// Application state.
#[derive(Clone, HealthChecks)]
#[healthz(timeout = "1m", cache = "2500ms")]
pub struct AppState<C: Clone> {
    #[healthz]
    db: Arc<Db>,
    #[healthz(name = "cache", timeout = "300ms", critical = false)]
    sessions: Option<Arc<Db>>,
    #[healthz(with = ping)]
    search: Arc<Search>,
    #[healthz]
    generic: C,
    settings: Arc<str>,
}

/// Tuple state with one check.
#[derive(HealthChecks)]
pub struct One(#[healthz(name = "db")] pub Db);

/// State without checks.
#[derive(HealthChecks)]
pub struct Empty;

/// A database client.
#[derive(Clone)]
pub struct Db;

impl healthz::Check for Db {
    async fn check(&self) -> Result<(), CheckError> {
        Ok(())
    }
}

/// A search client.
pub struct Search;

async fn ping(_: &Arc<Search>) -> Result<(), CheckError> {
    tokio::task::yield_now().await;
    Ok(())
}

fn main() {
    let state = AppState {
        db: Arc::new(Db),
        sessions: None,
        search: Arc::new(Search),
        generic: Db,
        settings: Arc::from("x"),
    };
    let _ = (state.clone(), &state.settings, One(Db), Empty);
    assert_eq!(AppState::<Db>::config().checks.len(), 4);
    assert_eq!(One::config().checks.len(), 1);
    assert!(Empty::config().checks.is_empty());
}
