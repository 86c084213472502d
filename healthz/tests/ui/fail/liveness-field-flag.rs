use healthz::HealthChecks;

// `liveness` on a field was the flag now written `probe = "liveness"`.
#[derive(HealthChecks)]
struct State {
    #[healthz(liveness)]
    runtime: healthz::watchdog::Watchdog,
}

fn main() {}
