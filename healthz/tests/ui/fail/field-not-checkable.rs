use healthz::HealthChecks;

#[derive(HealthChecks)]
struct State {
    #[healthz]
    search: SearchClient,
    #[healthz]
    replica: Option<std::sync::Arc<SearchClient>>,
    // Not annotated: never checked, so it needs no `Check` impl.
    settings: Settings,
}

struct SearchClient;
struct Settings;

fn main() {}
