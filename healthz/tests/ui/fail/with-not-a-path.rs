use healthz::HealthChecks;

#[derive(HealthChecks)]
struct State {
    #[healthz(with = "ping")]
    db: Db,
    #[healthz(with = |db| ping(db))]
    replica: Db,
}

async fn ping(_: &Db) -> Result<(), healthz::CheckError> {
    Ok(())
}

struct Db;

impl healthz::Check for Db {
    async fn check(&self) -> Result<(), healthz::CheckError> {
        Ok(())
    }
}

fn main() {}
