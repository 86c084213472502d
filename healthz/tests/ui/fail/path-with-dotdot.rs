use healthz::HealthChecks;

#[derive(HealthChecks)]
#[healthz(startup = "/probes/../startupz")]
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
