use healthz::HealthChecks;

#[derive(HealthChecks)]
struct State {
    #[healthz(timeout = "abc")]
    a: Db,
    #[healthz(timeout = "ms")]
    b: Db,
    #[healthz(timeout = "1.5.s")]
    c: Db,
}

struct Db;

impl healthz::Check for Db {
    async fn check(&self) -> Result<(), healthz::CheckError> {
        Ok(())
    }
}

fn main() {}
