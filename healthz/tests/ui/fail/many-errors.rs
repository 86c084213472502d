use healthz::HealthChecks;

// Every mistake of one derive is reported in one build.
#[derive(HealthChecks)]
#[healthz(timout = "1s", cache = "5h", liveness = "healthz")]
struct State {
    #[healthz(critical = "yes", timeout = "2s")]
    db: Db,
    #[healthz(name = "db")]
    replica: Db,
    #[healthz(nmae = "cache")]
    cache: Db,
}

struct Db;

impl healthz::Check for Db {
    async fn check(&self) -> Result<(), healthz::CheckError> {
        Ok(())
    }
}

fn main() {}
