use healthz::HealthChecks;

#[derive(HealthChecks)]
#[healthz(cache = "5h")]
struct State {
    #[healthz(timeout = "300 ms")]
    db: Db,
    #[healthz(timeout = "1sec")]
    cache: Db,
}

struct Db;

impl healthz::Check for Db {
    async fn check(&self) -> Result<(), healthz::CheckError> {
        Ok(())
    }
}

fn main() {}
