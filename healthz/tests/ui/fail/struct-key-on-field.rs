use healthz::HealthChecks;

#[derive(HealthChecks)]
struct State {
    #[healthz(cache = "1s")]
    db: Db,
}

struct Db;

impl healthz::Check for Db {
    async fn check(&self) -> Result<(), healthz::CheckError> {
        Ok(())
    }
}

fn main() {}
