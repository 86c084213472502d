use healthz::HealthChecks;

// Readiness also answers `/readiness/db` for the `db` check.
#[derive(HealthChecks)]
#[healthz(liveness = "/readiness/db")]
struct State {
    #[healthz]
    db: Db,
}

#[derive(HealthChecks)]
#[healthz(readiness = "/ready", startup = "/ready/cache")]
struct Renamed {
    #[healthz(name = "cache")]
    sessions: Db,
}

struct Db;

impl healthz::Check for Db {
    async fn check(&self) -> Result<(), healthz::CheckError> {
        Ok(())
    }
}

fn main() {}
