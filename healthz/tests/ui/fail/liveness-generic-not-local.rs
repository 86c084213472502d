use healthz::HealthChecks;

// A generic liveness field is bounded by `LocalCheck`, not `Check`.
#[derive(Clone, HealthChecks)]
struct State<W> {
    #[healthz(probe = "liveness")]
    runtime: W,
}

fn probes(state: State<sqlx::PgPool>) {
    let _ = state.probes();
}

fn main() {}
