use healthz::HealthChecks;

#[derive(HealthChecks)]
#[healthz(timeout = "307445735m", cache = "18446744073709551616ns")]
struct State {
    #[healthz]
    db: Db,
}

struct Db;

impl healthz::Check for Db {
    async fn check(&self) -> Result<(), healthz::CheckError> {
        Ok(())
    }
}

fn main() {}
