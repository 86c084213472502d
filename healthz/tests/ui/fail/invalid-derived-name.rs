use healthz::HealthChecks;

#[derive(HealthChecks)]
#[allow(non_snake_case)]
struct State {
    #[healthz]
    Db: Db,
    #[healthz]
    _cache: Db,
}

struct Db;

impl healthz::Check for Db {
    async fn check(&self) -> Result<(), healthz::CheckError> {
        Ok(())
    }
}

fn main() {}
