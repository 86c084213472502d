use healthz::HealthChecks;

#[derive(HealthChecks)]
#[healthz(timeout = "800ms", interval = "500ms")]
struct State {
    // Inherits the struct's 500ms interval, under its own 600ms timeout.
    #[healthz(timeout = "600ms")]
    db: healthz::watchdog::Watchdog,
    #[healthz(interval = "200ms", timeout = "300ms")]
    cache: healthz::watchdog::Watchdog,
    #[healthz(interval = "50ms", timeout = "10ms")]
    queue: healthz::watchdog::Watchdog,
    #[healthz(probe = "liveness", interval = "1s", timeout = "10ms")]
    runtime: healthz::watchdog::Watchdog,
}

fn main() {}
