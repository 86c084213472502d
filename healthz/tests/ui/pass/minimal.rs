use std::time::Duration;

use healthz::HealthChecks;

#[derive(HealthChecks)]
struct State {
    #[healthz]
    db: Db,
    settings: Settings,
}

struct Db;

impl healthz::Check for Db {
    async fn check(&self) -> Result<(), healthz::CheckError> {
        Ok(())
    }
}

struct Settings;

fn main() {
    let state = State {
        db: Db,
        settings: Settings,
    };
    let _ = &state.settings;
    let config = State::config();
    assert_eq!(config.probe_timeout, Duration::from_millis(800));
    assert_eq!(config.cache_ttl, Duration::from_secs(1));
    assert_eq!(config.liveness_path, "/healthz");
    assert_eq!(config.readiness_path, "/readiness");
    assert_eq!(config.startup_path, "/startupz");
    // `CheckConfig` is `#[non_exhaustive]`: read it field by field.
    let [db] = config.checks else {
        panic!("one check expected: {:?}", config.checks);
    };
    assert_eq!(db.name, "db");
    assert_eq!(db.timeout, Duration::from_millis(800));
    assert!(db.critical);
    assert_eq!(db.busy_limit, Duration::from_secs(15));
}
