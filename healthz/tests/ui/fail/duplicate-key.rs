use healthz::HealthChecks;

#[derive(HealthChecks)]
#[healthz(timeout = "1s", timeout = "2s")]
struct State {
    #[healthz(name = "primary")]
    #[healthz(name = "replica")]
    db: Db,
}

struct Db;

impl healthz::Check for Db {
    async fn check(&self) -> Result<(), healthz::CheckError> {
        Ok(())
    }
}

fn main() {}
