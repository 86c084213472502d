use healthz::HealthChecks;

// The startup probe runs the readiness checks: a check runs in readiness
// or in liveness, nothing else.
#[derive(HealthChecks)]
struct State {
    #[healthz(probe = "startup")]
    db: healthz::watchdog::Watchdog,
}

fn main() {}
