use healthz::HealthChecks;

#[derive(HealthChecks)]
struct State {
    #[healthz(with = ping)]
    search: SearchClient,
}

struct SearchClient;
struct OtherClient;

async fn ping(_: &OtherClient) -> Result<(), healthz::CheckError> {
    Ok(())
}

fn main() {}
