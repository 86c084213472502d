use std::sync::Arc;

use healthz::HealthChecks;

#[derive(HealthChecks)]
struct State<'a> {
    #[healthz]
    optional: Option<Arc<Db>>,
    #[healthz]
    shared: Arc<Db>,
    #[healthz]
    boxed: Box<Db>,
    #[healthz]
    borrowed: &'a Db,
    #[healthz]
    nested: Option<Arc<Option<Db>>>,
}

struct Db {
    up: bool,
}

impl healthz::Check for Db {
    async fn check(&self) -> Result<(), healthz::CheckError> {
        if self.up {
            Ok(())
        } else {
            Err(healthz::CheckError::unavailable(
                healthz::CheckError::DATABASE,
            ))
        }
    }
}

/// A state is `'static` (`HealthChecks: Send + Sync + 'static`): a borrowed
/// field borrows something that lives as long as the program.
static DOWN: Db = Db { up: false };

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let state = State {
        optional: None,
        shared: Arc::new(Db { up: true }),
        boxed: Box::new(Db { up: true }),
        borrowed: &DOWN,
        nested: Some(Arc::new(Some(Db { up: true }))),
    };
    assert_eq!(State::config().checks.len(), 5);
    // None is not configured: it passes, reported as such.
    let optional = state.__healthz_check(0).await;
    assert!(
        matches!(&optional, Err(e) if e.kind() == healthz::ErrorKind::NotConfigured),
        "{optional:?}"
    );
    assert!(state.__healthz_check(1).await.is_ok());
    assert!(state.__healthz_check(2).await.is_ok());
    assert!(state.__healthz_check(3).await.is_err());
    assert!(state.__healthz_check(4).await.is_ok());
}
