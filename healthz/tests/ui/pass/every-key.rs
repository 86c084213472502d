use std::time::Duration;

use healthz::HealthChecks;

// A crate that re-exports healthz points the derive at its own path.
mod platform {
    pub use healthz;
}

#[derive(HealthChecks)]
#[healthz(
    timeout = "1m",
    cache = "0s",
    liveness = "/-/live",
    readiness = "/-/ready",
    startup = "/-/started",
    crate = "crate::platform::healthz"
)]
struct State {
    #[healthz(
        name = "primary-db",
        timeout = "1500ms",
        critical = true,
        busy_limit = "2m",
        probe = "readiness"
    )]
    db: Db,
    #[healthz(name = "cache.sessions", timeout = "250000us")]
    #[healthz(critical = false)]
    sessions: Db,
    #[healthz(with = ping, timeout = "2s")]
    search: Search,
    #[healthz(timeout = "5000000ns")]
    r#type: Db,
    #[healthz(timeout = "1m")]
    slow: Db,
}

struct Db;

impl healthz::Check for Db {
    async fn check(&self) -> Result<(), healthz::CheckError> {
        Ok(())
    }
}

struct Search;

async fn ping(_: &Search) -> Result<(), std::io::Error> {
    tokio::task::yield_now().await;
    Ok(())
}

fn main() {
    let config = State::config();
    assert_eq!(config.probe_timeout, Duration::from_secs(60));
    assert_eq!(config.cache_ttl, Duration::ZERO);
    assert_eq!(config.liveness_path, "/-/live");
    assert_eq!(config.readiness_path, "/-/ready");
    assert_eq!(config.startup_path, "/-/started");
    let checks: Vec<_> = config
        .checks
        .iter()
        .map(|check| (check.name, check.timeout, check.critical, check.busy_limit))
        .collect();
    let busy = Duration::from_secs(15);
    assert_eq!(
        checks,
        [
            (
                "primary-db",
                Duration::from_millis(1500),
                true,
                Duration::from_secs(120)
            ),
            ("cache.sessions", Duration::from_millis(250), false, busy),
            ("search", Duration::from_secs(2), true, busy),
            ("type", Duration::from_millis(5), true, busy),
            ("slow", Duration::from_secs(60), true, busy),
        ]
    );
}
