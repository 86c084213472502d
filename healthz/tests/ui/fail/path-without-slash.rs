use healthz::HealthChecks;

#[derive(HealthChecks)]
#[healthz(liveness = "healthz")]
struct State {
    #[healthz]
    db: Db,
}

struct Db;

impl healthz::Check for Db {
    async fn check(&self) -> Result<(), healthz::CheckError> {
        Ok(())
    }
}

fn main() {}
