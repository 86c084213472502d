use healthz::HealthChecks;

// A database in liveness restarts every pod when it blips.
#[derive(HealthChecks)]
struct State {
    #[healthz(liveness)]
    db: sqlx::PgPool,
}

fn main() {}
