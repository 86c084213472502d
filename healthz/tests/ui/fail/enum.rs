use healthz::HealthChecks;

#[derive(HealthChecks)]
enum State {
    Up(#[healthz] Db),
}

struct Db;

impl healthz::Check for Db {
    async fn check(&self) -> Result<(), healthz::CheckError> {
        Ok(())
    }
}

fn main() {}
