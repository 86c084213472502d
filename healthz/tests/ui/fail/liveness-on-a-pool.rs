use healthz::HealthChecks;

// A database in liveness restarts every pod when it blips.
#[derive(HealthChecks)]
struct State {
    #[healthz(probe = "liveness")]
    db: sqlx::PgPool,
}

fn main() {}
