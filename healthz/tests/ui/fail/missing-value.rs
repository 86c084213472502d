use healthz::HealthChecks;

#[derive(HealthChecks)]
struct State {
    #[healthz(critical)]
    db: Db,
}

struct Db;

impl healthz::Check for Db {
    async fn check(&self) -> Result<(), healthz::CheckError> {
        Ok(())
    }
}

fn main() {}
