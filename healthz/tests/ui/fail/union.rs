use healthz::HealthChecks;

#[derive(HealthChecks)]
union State {
    db: std::mem::ManuallyDrop<Db>,
}

struct Db;

impl healthz::Check for Db {
    async fn check(&self) -> Result<(), healthz::CheckError> {
        Ok(())
    }
}

fn main() {}
