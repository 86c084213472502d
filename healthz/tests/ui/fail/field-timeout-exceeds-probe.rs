use healthz::HealthChecks;

#[derive(HealthChecks)]
#[healthz(timeout = "500ms")]
struct Explicit {
    #[healthz(timeout = "2s")]
    db: Db,
    #[healthz(timeout = "500ms")]
    cache: Db,
}

#[derive(HealthChecks)]
struct Default {
    #[healthz(timeout = "1s")]
    db: Db,
}

struct Db;

impl healthz::Check for Db {
    async fn check(&self) -> Result<(), healthz::CheckError> {
        Ok(())
    }
}

fn main() {}
