use std::sync::Arc;

use healthz::HealthChecks;

// Fields whose type mentions a type parameter get a `Check` bound, so the
// impl exists exactly for the parameters that can be checked.
#[derive(HealthChecks)]
struct State<'a, C, D: Clone, S, const N: usize>
where
    S: Send + Sync,
{
    #[healthz]
    client: C,
    #[healthz]
    replicas: Option<Arc<D>>,
    #[healthz]
    borrowed: &'a Db,
    #[healthz(with = ping_settings)]
    settings: S,
    buffer: [u8; N],
}

#[derive(Clone)]
struct Db;

impl healthz::Check for Db {
    async fn check(&self) -> Result<(), healthz::CheckError> {
        Ok(())
    }
}

async fn ping_settings<S: Sync>(_: &S) -> Result<(), healthz::CheckError> {
    tokio::task::yield_now().await;
    Ok(())
}

fn assert_health_checks<T: HealthChecks>() {}

fn main() {
    assert_health_checks::<State<'static, Db, Db, (), 4>>();
    let names: Vec<_> = State::<Db, Db, (), 4>::config()
        .checks
        .iter()
        .map(|check| check.name)
        .collect();
    assert_eq!(names, ["client", "replicas", "borrowed", "settings"]);
    let db = Db;
    let state = State {
        client: Db,
        replicas: None::<Arc<Db>>,
        borrowed: &db,
        settings: (),
        buffer: [0; 4],
    };
    assert_eq!(state.buffer.len(), 4);
}
