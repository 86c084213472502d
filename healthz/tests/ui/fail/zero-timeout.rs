use healthz::HealthChecks;

// `cache = "0s"` is accepted: it turns the result cache off.
#[derive(HealthChecks)]
#[healthz(timeout = "0s", cache = "0s")]
struct State {
    #[healthz(timeout = "0ms")]
    db: Db,
}

struct Db;

impl healthz::Check for Db {
    async fn check(&self) -> Result<(), healthz::CheckError> {
        Ok(())
    }
}

fn main() {}
