use healthz::HealthChecks;

#[derive(HealthChecks)]
struct State {
    #[healthz(liveness, name = "cache")]
    sessions: std::sync::Arc<memcache::Client>,
}

fn main() {}
