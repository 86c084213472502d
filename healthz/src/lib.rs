//! Kubernetes liveness, readiness and startup probes derived from a
//! service's own state.
//!
//! `#[derive(HealthChecks)]` on the struct that holds your pools and clients
//! turns each field marked `#[healthz]` into a readiness check, configured
//! and validated at compile time. [`HealthChecks::probes`] returns a
//! [`Probes`] handle: a tower [`Layer`](tower_layer::Layer) to mount
//! outermost, so the kubelet gets an honest answer before any auth, session
//! or rate-limit middleware runs.
//!
//! ```
//! use axum::{body::Body, http::Request, routing::get, Router};
//! use healthz::{Check, CheckError, HealthChecks};
//! use tower::ServiceExt;
//!
//! /// Stands for a real client; the `sqlx` and `memcache` features provide
//! /// checks for theirs.
//! struct Database { up: bool }
//!
//! impl Check for Database {
//!     async fn check(&self) -> Result<(), CheckError> {
//!         if self.up { Ok(()) } else { Err(CheckError::unavailable(CheckError::DATABASE)) }
//!     }
//! }
//!
//! #[derive(Clone, HealthChecks)]
//! #[healthz(timeout = "800ms", cache = "1s")]
//! struct AppState {
//!     #[healthz(timeout = "300ms")]
//!     db: std::sync::Arc<Database>,
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let state = AppState { db: std::sync::Arc::new(Database { up: false }) };
//! let app = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .with_state(state.clone())
//!     .layer(state.probes()); // last layer = outermost = runs first
//!
//! let response = app
//!     .oneshot(Request::get("/readiness").body(Body::empty()).unwrap())
//!     .await
//!     .unwrap();
//! assert_eq!(response.status(), 503);
//! let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
//! assert_eq!(body, "db: cannot connect to database.");
//! # }
//! ```
//!
//! The [README](https://github.com/healthz-rs/healthz#readme) has the whole
//! reference: every endpoint's answers, every attribute and its default,
//! and how to mount the layer in axum, hyper and tower.
//!
//! # Architecture
//!
//! Roughly in the order a request meets them, and so that a module imports
//! only from the modules below it and from the leaves every layer shares
//! (`config`, [`probe`](Probe), [`limits`]):
//!
//! 1. **Adapters** — [`layer`] (tower), `actix`, `poem` and `rocket` ask
//!    [`Probes::probe_request`] whether a request is a probe and pass every
//!    other request through untouched; `grpc` answers the gRPC health
//!    service from a verdict; [`exec`] asks the running server over HTTP;
//!    [`kubernetes`] prints the probe settings.
//! 2. **`answer`** (private): [`ProbeRequest`], and the HTTP rendering of
//!    a verdict (status, headers, body).
//! 3. **`route`** (private): which probe or check a method, path, query
//!    and `Accept` header ask for, as a pure function of the compile-time
//!    [`Config`].
//! 4. **`verdict`** (private): what a probe decides, the one place for
//!    the drain switch, the startup latch and the liveness checks; HTTP
//!    and gRPC only render it.
//! 5. **`probes`**: the [`Probes`] handle: every check concurrently under
//!    the probe deadline, the startup latch, the drain switch, background
//!    mode and [subscribers](Probes::subscribe).
//! 6. **`runner`** (private): one slot per check: the result cache,
//!    single-flight, the bounds on runs that outlive their deadline (every
//!    figure in [`limits`]), flap damping, and the timers of background
//!    checks.
//! 7. **[`checks`]**: one file per backend, behind its feature; pooled
//!    backends fill one seam (`checks::pool::PooledBackend`) and share its
//!    rule.
//! 8. **`report`**: the [`Report`] and its text, verbose and health+json
//!    renderings.
//! 9. **[`check`]**: the [`Check`] trait and [`CheckError`] (re-exported
//!    here), and what a check may ask of its run (its deadline,
//!    [`check::blocking`]).
//!
//! The derive (`healthz-derive`) produces the [`Config`] and the dispatch
//! from a check's index to its field. [`watchdog`] is the crate's own
//! liveness check.
//!
//! # Feature flags
//!
#![doc = document_features::document_features!()]
//!
//! # Metrics
//!
//! With the `metrics` feature, whatever recorder the application installed
//! (Prometheus, StatsD, ...) receives, once per check run (not once per
//! probe, so a probe storm does not inflate them):
//!
//! | metric | kind | labels | value |
//! |---|---|---|---|
//! | `healthz_check_status` | gauge | `check` | `1` passing, `0.5` degraded (busy), `0` failing |
//! | `healthz_check_duration_seconds` | histogram | `check` | how long each run took |
//! | `healthz_check_transitions_total` | counter | `check`, `to` (`pass`, `busy`, `fail`) | state changes |
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs, unreachable_pub, rust_2018_idioms)]

#[cfg(feature = "actix")]
pub mod actix;
mod answer;
pub mod check;
pub mod checks;
mod config;
pub mod details;
pub mod exec;
#[cfg(feature = "grpc")]
pub mod grpc;
pub mod kubernetes;
pub mod layer;
pub mod limits;
#[cfg(feature = "listener")]
pub mod listener;
#[cfg(feature = "metrics")]
mod metrics;
#[cfg(feature = "poem")]
pub mod poem;
mod probe;
mod probes;
mod report;
#[cfg(feature = "rocket")]
pub mod rocket;
mod route;
mod runner;
mod verdict;
pub mod watchdog;

pub use answer::ProbeRequest;
pub use check::types::{Check, CheckError, ErrorKind, LocalCheck};
pub use config::{CheckConfig, Config, FailAfter};

pub use probe::Probe;
pub use probes::{HealthChecks, Probes};
pub use report::{CheckReport, Damping, Outcome, Report, Status};

/// Derives [`HealthChecks`] for a state struct: every field marked
/// `#[healthz]` becomes a readiness check. See the crate documentation for
/// every attribute.
pub use healthz_derive::HealthChecks;

// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Items used by the code `#[derive(HealthChecks)]` generates. Not public
/// API: they may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::config::{CheckConfig, Config, FailAfter};
    pub use crate::probes::HealthChecks;
    pub use crate::{Check, CheckError, LocalCheck};
    pub use core;

    pub use crate::check::CheckFuture;
    use std::future::Future;

    /// Runs a field's [`Check`] impl.
    pub fn run<'a, C: Check + ?Sized>(value: &'a C) -> CheckFuture<'a> {
        crate::check::note_patience(value.patience());
        if !value.is_configured() {
            return Box::pin(async { Err(CheckError::not_configured()) });
        }
        Box::pin(value.check())
    }

    /// Runs a liveness field's check, which must be a [`LocalCheck`].
    pub fn run_local<'a, C: LocalCheck + ?Sized>(value: &'a C) -> CheckFuture<'a> {
        run(value)
    }

    /// Runs a `with = path` check function on a field.
    pub fn run_with<'a, T, F, Fut, E>(function: F, value: &'a T) -> CheckFuture<'a>
    where
        T: ?Sized,
        F: FnOnce(&'a T) -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'a,
        E: Into<CheckError>,
    {
        let future = function(value);
        Box::pin(async move { future.await.map_err(Into::into) })
    }

    /// What a check index outside the state's checks runs (never, unless
    /// called by hand).
    pub fn no_such_check<'a>() -> CheckFuture<'a> {
        Box::pin(async { Err(CheckError::unavailable("no such check.")) })
    }

    /// Every field of a [`Config`], named, for [`config`]: generated code
    /// says which value is which, and a field added to `Config` without
    /// its twin here is a compile error in [`config`], not a shifted
    /// argument.
    pub struct ConfigFields {
        pub probe_timeout: ::core::time::Duration,
        pub cache_ttl: ::core::time::Duration,
        pub liveness_path: &'static str,
        pub readiness_path: &'static str,
        pub startup_path: &'static str,
        pub jitter: bool,
        pub checks: &'static [CheckConfig],
    }

    /// Builds a [`Config`], which is `#[non_exhaustive]`; `const` so that
    /// generated code can build it in a `const` or `static`.
    pub const fn config(fields: ConfigFields) -> Config {
        Config {
            probe_timeout: fields.probe_timeout,
            cache_ttl: fields.cache_ttl,
            liveness_path: fields.liveness_path,
            readiness_path: fields.readiness_path,
            startup_path: fields.startup_path,
            jitter: fields.jitter,
            checks: fields.checks,
        }
    }

    /// Every field of a [`CheckConfig`], named, for [`check_config`].
    pub struct CheckFields {
        pub name: &'static str,
        pub timeout: ::core::time::Duration,
        pub critical: bool,
        pub busy_limit: ::core::time::Duration,
        pub interval: ::core::option::Option<::core::time::Duration>,
        pub fail_after: FailAfter,
        pub recover_after: u32,
        pub liveness: bool,
    }

    /// Builds a [`CheckConfig`], which is `#[non_exhaustive]`, in a `const`
    /// or `static` like [`config`].
    pub const fn check_config(fields: CheckFields) -> CheckConfig {
        CheckConfig {
            name: fields.name,
            timeout: fields.timeout,
            critical: fields.critical,
            busy_limit: fields.busy_limit,
            interval: fields.interval,
            fail_after: fields.fail_after,
            recover_after: fields.recover_after,
            liveness: fields.liveness,
        }
    }
}
