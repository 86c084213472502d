use healthz::HealthChecks;

#[derive(HealthChecks)]
struct State {
    #[healthz(probe = "liveness", name = "cache")]
    sessions: std::sync::Arc<memcache::Client>,
}

fn main() {}
