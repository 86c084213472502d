//! The derive keeps its own copy of the defaults (it cannot depend on this
//! crate); this pins that copy to the documented constants.

use healthz::{Check, CheckConfig, CheckError, Config, FailAfter, HealthChecks};

#[derive(HealthChecks)]
struct State {
    #[healthz]
    db: Db,
}

struct Db;

impl Check for Db {
    async fn check(&self) -> Result<(), CheckError> {
        Ok(())
    }
}

#[test]
fn derive_defaults_are_the_documented_constants() {
    let state = State { db: Db };
    let _ = &state.db;
    let config = State::config();
    assert_eq!(config.probe_timeout, Config::DEFAULT_PROBE_TIMEOUT);
    assert_eq!(config.cache_ttl, Config::DEFAULT_CACHE_TTL);
    assert_eq!(
        (
            config.liveness_path,
            config.readiness_path,
            config.startup_path
        ),
        ("/healthz", "/readiness", "/startupz")
    );
    assert!(config.jitter);
    let [db] = config.checks else {
        panic!("one check expected: {:?}", config.checks);
    };
    assert_eq!(db.timeout, Config::DEFAULT_PROBE_TIMEOUT);
    assert!(db.critical);
    assert_eq!(db.busy_limit, CheckConfig::DEFAULT_BUSY_LIMIT);
    assert_eq!(db.interval, None);
    assert_eq!(db.fail_after, FailAfter::Patience);
    assert_eq!(db.recover_after, 1);
    // `probe = "readiness"` unless the field says otherwise.
    assert!(!db.liveness);
}
