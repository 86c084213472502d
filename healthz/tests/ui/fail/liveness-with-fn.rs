use healthz::HealthChecks;

#[derive(HealthChecks)]
struct State {
    #[healthz(probe = "liveness", with = ping)]
    search: Search,
}

struct Search;

async fn ping(_: &Search) -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
