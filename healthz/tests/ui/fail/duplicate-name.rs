use healthz::HealthChecks;

#[derive(HealthChecks)]
struct State {
    #[healthz]
    db: Db,
    #[healthz(name = "db")]
    replica: Db,
}

struct Db;

impl healthz::Check for Db {
    async fn check(&self) -> Result<(), healthz::CheckError> {
        Ok(())
    }
}

fn main() {}
