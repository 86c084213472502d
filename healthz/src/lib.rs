//! CRATE_DOCS
#![cfg_attr(docsrs, feature(doc_auto_cfg))]
#![warn(missing_docs, unreachable_pub, rust_2018_idioms)]

pub mod check;
pub mod checks;
mod config;
pub mod layer;
pub mod probes;
pub mod report;
mod runner;

pub use check::{Check, CheckError, ErrorKind};
pub use config::{CheckConfig, Config};
pub use layer::ProbeService;
pub use probes::{HealthChecks, Probes};
pub use report::{CheckReport, Outcome, Report, Status};

/// Derives [`HealthChecks`] for a state struct: every field marked
/// `#[healthz]` becomes a readiness check. See the crate documentation for
/// every attribute.
pub use healthz_derive::HealthChecks;

// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

/// Items used by the code `#[derive(HealthChecks)]` generates. Not public
/// API: they may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::check::{Check, CheckError};
    pub use crate::config::{CheckConfig, Config};
    pub use crate::probes::HealthChecks;
    pub use core;

    use std::future::Future;
    use std::pin::Pin;

    /// The future of one run of one check.
    pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Result<(), CheckError>> + Send + 'a>>;

    /// Runs a field's [`Check`] impl.
    pub fn run<'a, C: Check + ?Sized>(value: &'a C) -> CheckFuture<'a> {
        Box::pin(value.check())
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

    /// A compile-time assertion, placed on a field's type, that the type
    /// implements [`Check`]; the error then points at the type.
    pub const fn assert_check<T: Check + ?Sized>() {}

    /// What a check index outside the state's checks runs (never, unless
    /// called by hand).
    pub fn no_such_check<'a>() -> CheckFuture<'a> {
        Box::pin(async { Err(CheckError::unavailable("no such check.")) })
    }
}
