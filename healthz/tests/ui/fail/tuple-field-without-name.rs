use healthz::HealthChecks;

#[derive(HealthChecks)]
struct State(#[healthz(name = "db")] Db, #[healthz(timeout = "300ms")] Db);

struct Db;

impl healthz::Check for Db {
    async fn check(&self) -> Result<(), healthz::CheckError> {
        Ok(())
    }
}

fn main() {}
