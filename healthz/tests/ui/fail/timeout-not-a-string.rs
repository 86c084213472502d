use healthz::HealthChecks;

#[derive(HealthChecks)]
#[healthz(timeout = 5)]
struct State {
    #[healthz(timeout = 300ms)]
    db: Db,
}

struct Db;

impl healthz::Check for Db {
    async fn check(&self) -> Result<(), healthz::CheckError> {
        Ok(())
    }
}

fn main() {}
