//! The compile-time configuration the derive produces.

use std::time::Duration;

/// The probe configuration of a state type, fixed at compile time by
/// `#[derive(HealthChecks)]` and its `#[healthz(...)]` attributes.
///
/// Read it through [`HealthChecks::config`](crate::HealthChecks::config) or
/// [`Probes::config`](crate::Probes::config), for example to print the
/// matching Kubernetes probe settings. Only the derive builds one, and new
/// settings may be added in any release, hence `#[non_exhaustive]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Deadline of a whole readiness or startup probe
    /// ([`DEFAULT_PROBE_TIMEOUT`](Self::DEFAULT_PROBE_TIMEOUT) unless set).
    pub probe_timeout: Duration,
    /// How long a check result is reused, counted from when its run
    /// began; zero disables the cache
    /// ([`DEFAULT_CACHE_TTL`](Self::DEFAULT_CACHE_TTL) unless set).
    pub cache_ttl: Duration,
    /// Path of the liveness probe (`/healthz` by default).
    pub liveness_path: &'static str,
    /// Path of the readiness probe (`/readiness` by default).
    pub readiness_path: &'static str,
    /// Path of the startup probe (`/startupz` by default).
    pub startup_path: &'static str,
    /// Whether background checks start at a random phase of their
    /// interval (`true` unless the struct sets `jitter = false`), so that
    /// a fleet of pods started together does not check a shared database
    /// in lockstep.
    pub jitter: bool,
    /// The checks, in field order.
    pub checks: &'static [CheckConfig],
}

/// The configuration of one check (one annotated field), built by the
/// derive like [`Config`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckConfig {
    /// The check's name: `[a-z0-9][a-z0-9._-]*`, unique within the state.
    pub name: &'static str,
    /// The check's own deadline, never above the probe deadline.
    pub timeout: Duration,
    /// Whether a failure makes the pod unready (`true`) or only degraded.
    pub critical: bool,
    /// How long a pooled check may report its pool as busy (every
    /// connection in use while the database itself answers) before it
    /// counts the pool as down: a pool that stays saturated that long is
    /// held by requests stuck on dead sockets, not by load. Used by every
    /// pooled check (the pools of sqlx, deadpool-redis, deadpool-postgres
    /// and deadpool-lapin, and sea-orm's with a `sea-orm-*` driver
    /// feature); other checks ignore it.
    pub busy_limit: Duration,
    /// The check's background interval (the field's `interval`, else the
    /// struct's): it runs on its own timer and probes answer from its
    /// latest result. `None` (the default) runs it when a probe asks.
    pub interval: Option<Duration>,
    /// When a failing check starts to count as failing (`fail_after`).
    pub fail_after: FailAfter,
    /// How many consecutive passes a failing check needs to count as
    /// passing again (`recover_after`, 1 unless set).
    pub recover_after: u32,
    /// Whether this is a liveness check (`#[healthz(probe = "liveness")]`):
    /// run by the liveness probe, never by readiness or startup.
    pub liveness: bool,
}

/// When a failing check starts to count as failing: the `fail_after` key.
/// Until then, the probes report its failure but stay ready, so that one
/// bad second does not take a pod out of rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailAfter {
    /// No `fail_after` (the default): as long as the check's client itself
    /// keeps the app's requests waiting for the dependency
    /// ([`Check::patience`](crate::Check::patience), such as a sqlx pool's
    /// `acquire_timeout`), as [`Failing`](Self::Failing) that long would;
    /// at the first failed run when the client does not wait. An outage
    /// the app's own requests wait out does not take the pod out of
    /// rotation, and one they do not is reported as soon as theirs fail.
    Patience,
    /// After this many consecutive failed runs (`fail_after = 3`); 1
    /// fails on the first.
    Failures(u32),
    /// After failing, with no pass in between, for this long
    /// (`fail_after = "10s"`): from the start of the first failed run to
    /// the start of the latest, so a run that took its whole deadline to
    /// fail counts no later than one refused at once.
    Failing(Duration),
}

impl FailAfter {
    /// The rule in force for a check whose client has `patience`
    /// ([`Check::patience`](crate::Check::patience)): [`Patience`](Self::Patience)
    /// resolved to [`Failing`](Self::Failing) that long, or to
    /// `Failures(1)` without one; any other rule as it is. What the probes
    /// apply, and what a tool that computes how late readiness may turn
    /// should apply too.
    pub fn with_patience(self, patience: Option<Duration>) -> FailAfter {
        match (self, patience) {
            (FailAfter::Patience, Some(patience)) if !patience.is_zero() => {
                FailAfter::Failing(patience)
            }
            (FailAfter::Patience, _) => FailAfter::Failures(1),
            (rule, _) => rule,
        }
    }
}

impl CheckConfig {
    /// The interval this check runs on in the background, if it does
    /// (liveness checks never do: they answer the question of the moment).
    pub fn background_interval(&self) -> Option<Duration> {
        self.interval.filter(|_| !self.liveness)
    }

    /// The [`busy_limit`](Self::busy_limit) when the field sets none: 15s,
    /// long enough to ride out a burst of load, short enough that a pool
    /// wedged by dead connections takes the pod out of rotation soon.
    pub const DEFAULT_BUSY_LIMIT: Duration = Duration::from_secs(15);

    /// How old a background check's latest result may be before it counts
    /// as failing with `stale: last result <age> old.`
    /// ([`limits::stale_after`](crate::limits::stale_after) its interval).
    /// `None` for a check that runs when a probe asks.
    pub fn stale_after(&self) -> Option<Duration> {
        self.interval.map(crate::limits::stale_after)
    }
}

impl Config {
    /// The probe deadline when the struct sets no `timeout`: 800ms, under
    /// the kubelet's default `timeoutSeconds` of 1s, so that a probe is
    /// answered before the kubelet gives up on it. Checks without a
    /// `timeout` of their own get the probe deadline.
    pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_millis(800);

    /// How long a check result is reused when the struct sets no `cache`:
    /// 1s, so that a probe storm costs each dependency at most one check a
    /// second.
    pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(1);

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

    /// Whether any check is a liveness check: without one, liveness
    /// answers at once and touches nothing.
    pub fn has_liveness_checks(&self) -> bool {
        self.checks.iter().any(|check| check.liveness)
    }

    /// Whether any check runs in the background (on an interval).
    pub fn has_background_checks(&self) -> bool {
        self.checks
            .iter()
            .any(|check| check.background_interval().is_some())
    }

    /// The index in [`checks`](Self::checks) of the check called `name`.
    pub fn check_index(&self, name: &str) -> Option<usize> {
        self.checks.iter().position(|check| check.name == name)
    }
}
