use std::time::Duration;

use healthz::watchdog::Watchdog;
use healthz::{FailAfter, HealthChecks};

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "800ms", interval = "5s", jitter = false)]
struct State {
    #[healthz(fail_after = 3, recover_after = 2)]
    db: Db,
    #[healthz(interval = "1m", fail_after = "10s")]
    cache: Db,
    #[healthz(probe = "liveness")]
    runtime: Watchdog,
    #[healthz(probe = "liveness", name = "runtime-arc")]
    shared: std::sync::Arc<Watchdog>,
}

#[derive(Clone, HealthChecks)]
struct Generic<W> {
    #[healthz(probe = "liveness")]
    runtime: W,
}

#[derive(Clone)]
struct Db;

impl healthz::Check for Db {
    async fn check(&self) -> Result<(), healthz::CheckError> {
        Ok(())
    }
}

fn main() {
    let config = State::config();
    assert!(!config.jitter);
    let summary: Vec<_> = config
        .checks
        .iter()
        .map(|c| (c.name, c.interval, c.fail_after, c.recover_after, c.liveness))
        .collect();
    assert_eq!(
        summary,
        [
            ("db", Some(Duration::from_secs(5)), FailAfter::Failures(3), 2, false),
            ("cache", Some(Duration::from_secs(60)), FailAfter::Failing(Duration::from_secs(10)), 1, false),
            ("runtime", None, FailAfter::Patience, 1, true),
            ("runtime-arc", None, FailAfter::Patience, 1, true),
        ]
    );
    assert_eq!(config.checks[0].stale_after(), Some(Duration::from_secs(15)));
    let _ = Generic::<Watchdog>::config();
}
