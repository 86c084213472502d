use std::time::Duration;

use healthz::HealthChecks;

#[derive(HealthChecks)]
#[healthz(timeout = "500ms")]
struct State(
    #[healthz(name = "db")] Db,
    Settings,
    #[healthz(name = "cache", timeout = "100ms", critical = false)] Db,
);

struct Db;

impl healthz::Check for Db {
    async fn check(&self) -> Result<(), healthz::CheckError> {
        Ok(())
    }
}

struct Settings;

fn main() {
    let _ = State(Db, Settings, Db);
    let checks = State::config().checks;
    assert_eq!(checks.len(), 2);
    assert_eq!(checks[0].name, "db");
    assert_eq!(checks[0].timeout, Duration::from_millis(500));
    assert_eq!(checks[1].name, "cache");
    assert_eq!(checks[1].timeout, Duration::from_millis(100));
    assert!(!checks[1].critical);
}
