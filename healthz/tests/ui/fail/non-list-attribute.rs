use healthz::HealthChecks;

#[derive(HealthChecks)]
#[healthz = "800ms"]
struct State {
    #[healthz = "db"]
    db: Db,
}

struct Db;

impl healthz::Check for Db {
    async fn check(&self) -> Result<(), healthz::CheckError> {
        Ok(())
    }
}

fn main() {}
