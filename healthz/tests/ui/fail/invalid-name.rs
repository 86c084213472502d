use healthz::HealthChecks;

#[derive(HealthChecks)]
struct State {
    #[healthz(name = "Primary DB")]
    db: Db,
    #[healthz(name = "")]
    cache: Db,
}

struct Db;

impl healthz::Check for Db {
    async fn check(&self) -> Result<(), healthz::CheckError> {
        Ok(())
    }
}

fn main() {}
