use healthz::HealthChecks;

// Unlike `timeout`, `busy_limit` may exceed the probe timeout: a pool is
// busy across many probes before it counts as down.
#[derive(HealthChecks)]
struct State {
    #[healthz(busy_limit = "0s")]
    db: Db,
    #[healthz(busy_limit = "5m")]
    replica: Db,
}

struct Db;

impl healthz::Check for Db {
    async fn check(&self) -> Result<(), healthz::CheckError> {
        Ok(())
    }
}

fn main() {}
