//! The Kubernetes probe settings that match a state type's compile-time
//! configuration, printed as YAML for a container spec, so that the
//! numbers in a manifest cannot drift from the code.
//!
//! ```
//! use healthz::kubernetes::KubernetesProbes;
//! use healthz::HealthChecks;
//!
//! #[derive(Clone, HealthChecks)]
//! #[healthz(timeout = "800ms")]
//! struct State {}
//!
//! let yaml = KubernetesProbes::of::<State>().port(8080).to_yaml();
//! assert!(yaml.contains("readinessProbe:\n  httpGet:\n    path: /readiness\n    port: 8080\n  timeoutSeconds: 1\n"));
//! ```
//!
//! The choices:
//!
//! - `timeoutSeconds` is the probe deadline rounded up to the next whole
//!   second, strictly above it: the kubelet must never give up on a probe
//!   that `healthz` is still going to answer. (800ms gives 1, 1s gives 2.)
//! - readiness: every 5 seconds, unready after 2 failures, ready again
//!   after 1 success;
//! - liveness: every 10 seconds, restart after 3 failures (liveness never
//!   touches a dependency, so it fails only if the process is wedged);
//! - startup: every 2 seconds within a startup budget (60 seconds unless
//!   set), after which the kubelet restarts the container.

use std::fmt::Write as _;
use std::time::Duration;

use crate::config::Config;
use crate::probes::HealthChecks;

/// Probe settings for one container; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct KubernetesProbes {
    config: &'static Config,
    port: Port,
    readiness_period: u64,
    liveness_period: u64,
    startup_period: u64,
    startup_budget: Duration,
}

#[derive(Clone, Debug)]
enum Port {
    Number(u16),
    Name(String),
}

impl KubernetesProbes {
    /// The settings for state type `T`, on port 8080.
    pub fn of<T: HealthChecks>() -> Self {
        Self::from_config(T::config())
    }

    /// The settings for a configuration (from
    /// [`Probes::config`](crate::Probes::config)).
    pub fn from_config(config: &'static Config) -> Self {
        Self {
            config,
            port: Port::Number(8080),
            readiness_period: 5,
            liveness_period: 10,
            startup_period: 2,
            startup_budget: Duration::from_secs(60),
        }
    }

    /// The container port the probes are served on.
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = Port::Number(port);
        self
    }

    /// A named container port (such as `http`) instead of a number.
    #[must_use]
    pub fn named_port(mut self, name: impl Into<String>) -> Self {
        self.port = Port::Name(name.into());
        self
    }

    /// How long the container may take to become ready for the first time
    /// before the kubelet restarts it (default 60 seconds).
    #[must_use]
    pub fn startup_budget(mut self, budget: Duration) -> Self {
        self.startup_budget = budget;
        self
    }

    /// `timeoutSeconds` for a probe whose deadline is `deadline`: the next
    /// whole second strictly above it.
    fn timeout_seconds(deadline: Duration) -> u64 {
        deadline.as_secs() + 1
    }

    /// The `livenessProbe`, `readinessProbe` and `startupProbe` keys of a
    /// container, indented for a container spec at column zero (indent
    /// them to where your container's keys are).
    pub fn to_yaml(&self) -> String {
        let probe_timeout = Self::timeout_seconds(self.config.probe_timeout);
        let startup_failures = self
            .startup_budget
            .as_secs()
            .div_ceil(self.startup_period)
            .max(1);
        let mut yaml = String::new();
        self.write_probe(
            &mut yaml,
            "livenessProbe",
            self.config.liveness_path,
            1,
            self.liveness_period,
            3,
            1,
        );
        self.write_probe(
            &mut yaml,
            "readinessProbe",
            self.config.readiness_path,
            probe_timeout,
            self.readiness_period,
            2,
            1,
        );
        self.write_probe(
            &mut yaml,
            "startupProbe",
            self.config.startup_path,
            probe_timeout,
            self.startup_period,
            startup_failures,
            1,
        );
        yaml
    }

    #[allow(clippy::too_many_arguments)]
    fn write_probe(
        &self,
        yaml: &mut String,
        key: &str,
        path: &str,
        timeout_seconds: u64,
        period_seconds: u64,
        failure_threshold: u64,
        success_threshold: u64,
    ) {
        let port = match &self.port {
            Port::Number(number) => number.to_string(),
            Port::Name(name) => name.clone(),
        };
        let _ = write!(
            yaml,
            "{key}:\n  httpGet:\n    path: {path}\n    port: {port}\n  timeoutSeconds: {timeout_seconds}\n  periodSeconds: {period_seconds}\n  failureThreshold: {failure_threshold}\n  successThreshold: {success_threshold}\n"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::__private::{check_config, config as build_config};
    use crate::config::CheckConfig;

    static CHECKS: [CheckConfig; 1] = [check_config(
        "db",
        Duration::from_millis(300),
        true,
        CheckConfig::DEFAULT_BUSY_LIMIT,
    )];

    fn config(probe_timeout: Duration) -> &'static Config {
        Box::leak(Box::new(build_config(
            probe_timeout,
            Config::DEFAULT_CACHE_TTL,
            "/live",
            "/ready",
            "/started",
            &CHECKS,
        )))
    }

    #[test]
    fn timeouts_are_strictly_above_the_probe_deadline() {
        assert_eq!(
            KubernetesProbes::timeout_seconds(Duration::from_millis(800)),
            1
        );
        assert_eq!(KubernetesProbes::timeout_seconds(Duration::from_secs(1)), 2);
        assert_eq!(
            KubernetesProbes::timeout_seconds(Duration::from_millis(2500)),
            3
        );
    }

    #[test]
    fn yaml_uses_the_configured_paths_port_and_budget() {
        let yaml = KubernetesProbes::from_config(config(Duration::from_secs(2)))
            .named_port("http")
            .startup_budget(Duration::from_secs(91))
            .to_yaml();
        assert_eq!(
            yaml,
            "livenessProbe:\n  httpGet:\n    path: /live\n    port: http\n  timeoutSeconds: 1\n  periodSeconds: 10\n  failureThreshold: 3\n  successThreshold: 1\n\
             readinessProbe:\n  httpGet:\n    path: /ready\n    port: http\n  timeoutSeconds: 3\n  periodSeconds: 5\n  failureThreshold: 2\n  successThreshold: 1\n\
             startupProbe:\n  httpGet:\n    path: /started\n    port: http\n  timeoutSeconds: 3\n  periodSeconds: 2\n  failureThreshold: 46\n  successThreshold: 1\n"
        );
    }
}
