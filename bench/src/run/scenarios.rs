//! The throughput scenarios of `run`: which server and path each measures,
//! and the figures that divide one scenario by its baseline.

/// One scenario: a name, the server, the path every request asks.
pub(super) struct Scenario {
    pub(super) name: &'static str,
    pub(super) server: &'static str,
    pub(super) path: &'static str,
}

const fn scenario(name: &'static str, server: &'static str, path: &'static str) -> Scenario {
    Scenario { name, server, path }
}

// Names of the scenarios the figures divide.
pub(super) const BARE: &str = "bare hyper OK (1 worker, nodelay)";
pub(super) const BACKGROUND: &str = "/readiness, background mode, 400ms check";
pub(super) const SLOW_ON_DEMAND: &str = "/readiness, on demand (1s cache), 400ms check";
pub(super) const HYPER_OK: &str = "hyper OK, examples/hyper.rs construction";
pub(super) const HYPER_MIRROR: &str = "hyper example mirror: /healthz";
pub(super) const HYPER_OK_1W: &str = "hyper OK, same construction, 1 worker";
pub(super) const HYPER_MIRROR_1W: &str = "hyper example mirror, 1 worker: /healthz";
pub(super) const HYPER_BINARY: &str = "hyper example binary: /healthz";
pub(super) const AXUM_OK: &str = "axum::serve, trivial /healthz route, no layer";
pub(super) const AXUM_LAYERED: &str = "axum::serve + layer: /healthz";
pub(super) const AXUM_OK_1W: &str = "axum::serve, 1 worker, trivial /healthz route";
pub(super) const AXUM_LAYERED_1W: &str = "axum::serve, 1 worker, + layer: /healthz";
pub(super) const AXUM_BINARY: &str = "axum example binary: /healthz";
pub(super) const AXUM_BINARY_READINESS: &str = "axum example binary: /readiness (cached)";

#[rustfmt::skip]
pub(super) const SCENARIOS: &[Scenario] = &[
    // DESIGN §7, one worker per server.
    scenario(BARE, "bare", "/"),
    scenario("app, no layer", "app", "/"),
    scenario("app through the layer", "layered", "/"),
    scenario("/healthz", "layered", "/healthz"),
    scenario("/readiness (cached)", "layered", "/readiness"),
    scenario(BACKGROUND, "background", "/readiness"),
    scenario(SLOW_ON_DEMAND, "slow-on-demand", "/readiness"),
    // As the examples serve: tokio's default runtime (2 workers here).
    scenario(HYPER_OK, "hyper-ok", "/"),
    scenario(HYPER_MIRROR, "hyper-layered", "/healthz"),
    scenario(HYPER_BINARY, "example-hyper", "/healthz"),
    scenario(HYPER_OK_1W, "hyper-ok-1w", "/"),
    scenario(HYPER_MIRROR_1W, "hyper-layered-1w", "/healthz"),
    scenario("hyper OK, hyper-util auto builder", "hyper-auto-ok", "/"),
    scenario(AXUM_OK, "axum-ok", "/healthz"),
    scenario(AXUM_LAYERED, "axum-layered", "/healthz"),
    scenario(AXUM_BINARY, "example-axum", "/healthz"),
    scenario("axum::serve, layer around the Router: /healthz", "axum-outer", "/healthz"),
    scenario("axum::serve + layer: /readiness (cached)", "axum-layered", "/readiness"),
    scenario(AXUM_BINARY_READINESS, "example-axum", "/readiness"),
    scenario("axum::serve + layer + tracing (info): /healthz", "axum-traced", "/healthz"),
    scenario("axum example binary, RUST_LOG=off: /healthz", "example-axum-quiet", "/healthz"),
    scenario(AXUM_OK_1W, "axum-ok-1w", "/healthz"),
    scenario(AXUM_LAYERED_1W, "axum-layered-1w", "/healthz"),
    scenario("axum example binary, 1 worker: /healthz", "example-axum-1w", "/healthz"),
];

/// The index of the scenario named `name`.
pub(super) fn at(name: &str) -> usize {
    SCENARIOS
        .iter()
        .position(|s| s.name == name)
        .unwrap_or_else(|| panic!("no scenario {name:?}"))
}

/// The figures: a name, the scenario measured, its baseline, the target.
#[rustfmt::skip]
pub(super) const RATIOS: &[(&str, &str, &str, Option<f64>)] = &[
    ("pass-through: app through the layer ÷ app without", "app through the layer", "app, no layer", Some(0.98)),
    ("`/healthz` ÷ bare hyper OK", "/healthz", BARE, Some(0.95)),
    ("`/readiness` from cache ÷ bare hyper OK", "/readiness (cached)", BARE, Some(0.9)),
    ("background-mode `/readiness` (400ms check) ÷ bare hyper OK", BACKGROUND, BARE, Some(0.9)),
    ("on-demand `/readiness` (400ms check, 1s cache) ÷ bare hyper OK", SLOW_ON_DEMAND, BARE, None),
    ("hyper example (mirror) `/healthz` ÷ hyper OK, same construction", HYPER_MIRROR, HYPER_OK, Some(0.97)),
    ("hyper example binary `/healthz` ÷ hyper OK, same construction", HYPER_BINARY, HYPER_OK, Some(0.97)),
    ("same, 1 worker each", HYPER_MIRROR_1W, HYPER_OK_1W, Some(0.97)),
    ("axum + layer `/healthz` ÷ same axum app, trivial route", AXUM_LAYERED, AXUM_OK, Some(0.97)),
    ("same, 1 worker each", AXUM_LAYERED_1W, AXUM_OK_1W, Some(0.97)),
    ("axum example binary `/healthz` ÷ axum app, trivial route", AXUM_BINARY, AXUM_OK, Some(0.97)),
    ("axum example binary `/healthz` ÷ bare hyper OK (1 worker)", AXUM_BINARY, BARE, None),
    ("axum example binary `/readiness` ÷ bare hyper OK (1 worker)", AXUM_BINARY_READINESS, BARE, None),
];

/// The load generators, by column.
pub(super) const DRIVERS: [&str; 2] = ["own client", "wrk"];
