//! The compile-time configuration the derive produces.

use std::time::Duration;

/// The probe configuration of a state type, fixed at compile time by
/// `#[derive(HealthChecks)]` and its `#[healthz(...)]` attributes.
///
/// Read it through [`HealthChecks::config`](crate::HealthChecks::config) or
/// [`Probes::config`](crate::Probes::config), for example to print the
/// matching Kubernetes probe settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Deadline of a whole readiness or startup probe.
    pub probe_timeout: Duration,
    /// How long a check result is reused; zero disables the cache.
    pub cache_ttl: Duration,
    /// Path of the liveness probe (`/healthz` by default).
    pub liveness_path: &'static str,
    /// Path of the readiness probe (`/readiness` by default).
    pub readiness_path: &'static str,
    /// Path of the startup probe (`/startupz` by default).
    pub startup_path: &'static str,
    /// The checks, in field order.
    pub checks: &'static [CheckConfig],
}

/// The configuration of one check (one annotated field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckConfig {
    /// The check's name: `[a-z0-9][a-z0-9._-]*`, unique within the state.
    pub name: &'static str,
    /// The check's own deadline, never above the probe deadline.
    pub timeout: Duration,
    /// Whether a failure makes the pod unready (`true`) or only degraded.
    pub critical: bool,
}

impl Config {
    /// Whether a `GET` or `HEAD` on `path` is answered by the probes rather
    /// than the application: the three probe paths, and everything under
    /// `<readiness>/` (one check by name, or a 404 for an unknown name).
    /// Frameworks other than tower use it to decide, before converting
    /// anything, whether a request is worth handing to
    /// [`Probes::probe_request`](crate::Probes::probe_request).
    pub fn is_probe_path(&self, path: &str) -> bool {
        path == self.liveness_path
            || path == self.startup_path
            || path
                .strip_prefix(self.readiness_path)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}
