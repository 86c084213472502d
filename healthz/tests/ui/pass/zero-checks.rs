#![deny(warnings)]

use healthz::HealthChecks;

// Liveness-only services have nothing to check; the derive still works.
#[derive(HealthChecks)]
#[healthz(timeout = "300ms")]
struct Named {
    settings: Settings,
}

#[derive(HealthChecks)]
struct Unit;

#[derive(HealthChecks)]
struct Tuple(Settings);

struct Settings;

fn main() {
    let named = Named { settings: Settings };
    let tuple = Tuple(Settings);
    let _ = (&named.settings, Unit, &tuple.0);
    assert!(Named::config().checks.is_empty());
    assert!(Unit::config().checks.is_empty());
    assert!(Tuple::config().checks.is_empty());
}
