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
    assert_eq!(
        config.checks,
        [healthz::CheckConfig {
            name: "db",
            timeout: Duration::from_millis(800),
            critical: true,
        }]
    );
}
