use healthz::HealthChecks;

#[derive(HealthChecks)]
struct State {
    #[healthz(busy_limit = "15")]
    a: Db,
    #[healthz(busy_limit = "15 s")]
    b: Db,
    #[healthz(busy_limit = "1h")]
    c: Db,
    #[healthz(busy_limit = 15)]
    d: Db,
}

struct Db;

impl healthz::Check for Db {
    async fn check(&self) -> Result<(), healthz::CheckError> {
        Ok(())
    }
}

fn main() {}
