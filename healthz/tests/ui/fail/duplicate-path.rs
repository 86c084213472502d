use healthz::HealthChecks;

#[derive(HealthChecks)]
#[healthz(startup = "/probe", liveness = "/probe")]
struct Explicit {
    #[healthz]
    db: Db,
}

// The liveness path is `/healthz` by default.
#[derive(HealthChecks)]
#[healthz(readiness = "/healthz")]
struct AgainstDefault {
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
