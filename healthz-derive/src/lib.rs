//! The `#[derive(HealthChecks)]` macro of the [`healthz`] crate.
//!
//! Depend on `healthz`, not on this crate: `healthz` re-exports the derive
//! and pins this crate's exact version, because the generated code calls
//! `healthz`'s private interface.
//!
//! [`healthz`]: https://docs.rs/healthz

#![warn(rust_2018_idioms, unreachable_pub)]

mod ast;
mod attr;
mod bound;
mod ctxt;
mod duration;
mod expand;
mod fallback;
mod valid;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Derives `healthz::HealthChecks` for a state struct: every field marked
/// `#[healthz]` becomes a check, in field order: a readiness check, or a
/// liveness check with `probe = "liveness"`.
///
/// # Struct attributes: `#[healthz(...)]`
///
/// | key | value | default |
/// |---|---|---|
/// | `timeout` | deadline of a whole probe (duration, not zero) | `"800ms"` |
/// | `cache` | how long a check result is reused (duration; `"0s"` turns caching off) | `"1s"` |
/// | `liveness` | path of the liveness probe | `"/healthz"` |
/// | `readiness` | path of the readiness probe; each check is also served at `<path>/<check name>` | `"/readiness"` |
/// | `startup` | path of the startup probe | `"/startupz"` |
/// | `crate` | path to the `healthz` crate, as a string (`crate = "::my_platform::healthz"`), for crates that re-export it | `"::healthz"` |
/// | `interval` | background mode: every readiness check runs on its own timer and probes answer from its latest result (duration, at least `100ms` and at least each check's `timeout`) | off: checks run when a probe asks |
/// | `jitter` | whether background timers start at a random phase of the interval, so that pods started together do not check a shared dependency in lockstep | `true` |
///
/// # Field attributes: `#[healthz]` or `#[healthz(...)]`
///
/// | key | value | default |
/// |---|---|---|
/// | `name` | the check's name, `[a-z0-9][a-z0-9._-]*`, unique in the struct | the field's name (`r#` removed); required on tuple-struct fields |
/// | `timeout` | the check's own deadline (duration, not zero, at most the probe `timeout`) | the probe `timeout` |
/// | `critical` | `false` reports a failure but keeps the pod ready (degraded) | `true` |
/// | `busy_limit` | how long a pooled check (the pools of sqlx, deadpool-redis, deadpool-postgres, deadpool-lapin, and sea-orm's with a `sea-orm-*` driver feature) may report its pool as busy, every connection in use while the database answers, before it counts the pool as down (duration, not zero; may exceed the probe `timeout`); other checks ignore it | `"15s"` |
/// | `with` | path to an `async fn(&FieldType) -> Result<(), E>` with `E: Into<healthz::CheckError>`, for types that do not implement `healthz::Check` | the field type's `Check` impl |
/// | `interval` | this check alone in background mode, or on a timer of its own (duration, at least `100ms` and at least the check's `timeout`); not on a liveness check | the struct's `interval` |
/// | `fail_after` | flap damping: the check counts as failing only after this many consecutive failed runs (`3`), or after failing with no pass for this long (`"10s"`); until then it is reported as degraded | `1` |
/// | `recover_after` | a failing check counts as passing again only after this many consecutive passes | `1` |
/// | `probe` | the probe the check runs in: `"readiness"` (readiness and startup), or `"liveness"` (the liveness probe alone; only for a type implementing `healthz::LocalCheck`, such as `healthz::watchdog::Watchdog`, and without `with` or `interval`) | `"readiness"` |
///
/// Fields without `#[healthz]` are never checked. A field whose type
/// mentions a type parameter of the struct adds a `FieldType: Check` bound
/// (`FieldType: LocalCheck` for a liveness check) to the impl.
///
/// # Durations
///
/// A string literal holding a whole number and a unit: `ns`, `us`, `ms`,
/// `s` or `m` (`"250ms"`, `"2s"`, `"1m"`). Hours are not accepted: no probe
/// deadline or cache lifetime should be that long. Fractions (`"1.5s"`),
/// spaces, signs and values above `u64::MAX` nanoseconds are compile errors.
///
/// # Paths
///
/// A probe path starts with `/` and contains no `?`, `#`, `..`, whitespace
/// or control characters, and does not end with `/` (so `"/"` is refused:
/// readiness sub-paths would be ambiguous, and a probe there would shadow
/// the application's root). The three probes need three different paths,
/// and the liveness and startup paths must not equal a readiness sub-path
/// `<readiness>/<check name>`.
///
/// Every mistake in one derive is reported in the same build, each on the
/// token that is wrong.
#[proc_macro_derive(HealthChecks, attributes(healthz))]
pub fn derive_health_checks(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input).into()
}
