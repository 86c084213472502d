//! The Kubernetes probe settings that match a state type's compile-time
//! configuration, printed as YAML for a container spec (or as a Docker
//! `HEALTHCHECK` line), so that the numbers in a manifest cannot drift from
//! the code, and cross-checked so that settings that cannot work are
//! refused.
//!
//! ```
//! use healthz::kubernetes::KubernetesProbes;
//! use healthz::HealthChecks;
//!
//! #[derive(Clone, HealthChecks)]
//! #[healthz(timeout = "800ms")]
//! struct State {}
//!
//! let yaml = KubernetesProbes::of::<State>().port(8080).to_yaml().unwrap();
//! assert!(yaml.contains("readinessProbe:\n  httpGet:\n    path: /readiness\n    port: 8080\n  timeoutSeconds: 1\n"));
//!
//! // A kubelet that gives up before the probe deadline is refused.
//! let error = KubernetesProbes::of::<State>().timeout_seconds(0).to_yaml().unwrap_err();
//! assert!(error.to_string().contains("timeoutSeconds"));
//! ```
//!
//! The defaults:
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
//!
//! [`to_yaml`](KubernetesProbes::to_yaml) refuses, with a
//! [`ManifestError`], settings that cannot work: a `timeoutSeconds` at or
//! below the probe deadline (the kubelet would count answers still on
//! their way as failures), a drain delay shorter than the time readiness
//! takes to take the pod out of rotation (`periodSeconds ×
//! failureThreshold` plus one period), a startup budget shorter than one
//! probe deadline, a period or threshold of zero. Settings that work but
//! are risky come out as `# warning:` comments above the probes (see
//! [`warnings`](KubernetesProbes::warnings)).

use std::fmt::{self, Write as _};
use std::time::Duration;

use crate::config::Config;
use crate::probe::Probe;
use crate::probes::HealthChecks;
use crate::report::{push_json_escaped, DisplayAge};

mod rules;

pub use rules::ManifestError;

/// Probe settings for one container; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct KubernetesProbes {
    config: &'static Config,
    port: Port,
    /// `Some(command)` for exec probes: the command before `--probe <name>`.
    exec: Option<Vec<String>>,
    readiness: Timing,
    liveness: Timing,
    startup_period: u64,
    startup_budget: Duration,
    /// `None`: the next whole second above the probe deadline.
    timeout_seconds: Option<u64>,
    drain_delay: Option<Duration>,
}

/// How often a probe runs and how many failures the kubelet acts on.
#[derive(Clone, Copy, Debug)]
struct Timing {
    period: u64,
    failure_threshold: u64,
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
            exec: None,
            readiness: Timing {
                period: 5,
                failure_threshold: 2,
            },
            liveness: Timing {
                period: 10,
                failure_threshold: 3,
            },
            startup_period: 2,
            startup_budget: Duration::from_secs(60),
            timeout_seconds: None,
            drain_delay: None,
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

    /// Exec probes instead of `httpGet`, for images without curl or a
    /// shell: each probe runs `command --probe <liveness|readiness|startup>`,
    /// which [`ExecProbe::exit_if_requested`](crate::exec::ExecProbe::exit_if_requested)
    /// answers from the running server.
    #[must_use]
    pub fn exec<I, S>(mut self, command: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.exec = Some(command.into_iter().map(Into::into).collect());
        self
    }

    /// How long the container may take to become ready for the first time
    /// before the kubelet restarts it (default 60 seconds).
    #[must_use]
    pub fn startup_budget(mut self, budget: Duration) -> Self {
        self.startup_budget = budget;
        self
    }

    /// `periodSeconds` and `failureThreshold` of the readiness probe
    /// (default 5 and 2).
    #[must_use]
    pub fn readiness_timing(mut self, period_seconds: u64, failure_threshold: u64) -> Self {
        self.readiness = Timing {
            period: period_seconds,
            failure_threshold,
        };
        self
    }

    /// `periodSeconds` and `failureThreshold` of the liveness probe
    /// (default 10 and 3).
    #[must_use]
    pub fn liveness_timing(mut self, period_seconds: u64, failure_threshold: u64) -> Self {
        self.liveness = Timing {
            period: period_seconds,
            failure_threshold,
        };
        self
    }

    /// `timeoutSeconds` of the readiness and startup probes, instead of
    /// the next whole second above the probe deadline. At or below the
    /// deadline it is refused.
    #[must_use]
    pub fn timeout_seconds(mut self, seconds: u64) -> Self {
        self.timeout_seconds = Some(seconds);
        self
    }

    /// The drain delay the server keeps serving for after SIGTERM (what
    /// it passes to [`Probes::drain_on_signal`](crate::Probes::drain_on_signal)),
    /// to check it against the readiness timing.
    #[must_use]
    pub fn drain_delay(mut self, delay: Duration) -> Self {
        self.drain_delay = Some(delay);
        self
    }

    /// The `timeoutSeconds` of the readiness and startup probes.
    fn probe_timeout_seconds(&self) -> u64 {
        self.timeout_seconds
            .unwrap_or_else(|| default_timeout_seconds(self.config.probe_timeout))
    }

    /// The `livenessProbe`, `readinessProbe` and `startupProbe` keys of a
    /// container, indented for a container spec at column zero (indent
    /// them to where your container's keys are), after a `# warning:`
    /// comment per risky setting; or why the settings cannot work.
    pub fn to_yaml(&self) -> Result<String, ManifestError> {
        self.validate()?;
        let probe_timeout = self.probe_timeout_seconds();
        let startup_failures = self
            .startup_budget
            .as_secs()
            .div_ceil(self.startup_period)
            .max(1);
        let mut yaml = String::new();
        for warning in self.warnings() {
            let _ = writeln!(yaml, "# warning: {warning}");
        }
        // Liveness answers at once: it runs no dependency check.
        let liveness_timeout = if self.config.has_liveness_checks() {
            probe_timeout
        } else {
            1
        };
        self.write_probe(&mut yaml, Probe::Liveness, liveness_timeout, self.liveness);
        self.write_probe(&mut yaml, Probe::Readiness, probe_timeout, self.readiness);
        self.write_probe(
            &mut yaml,
            Probe::Startup,
            probe_timeout,
            Timing {
                period: self.startup_period,
                failure_threshold: startup_failures,
            },
        );
        Ok(yaml)
    }

    /// A Dockerfile `HEALTHCHECK` instruction running the exec readiness
    /// probe (Docker and Compose have no HTTP probe of their own). Needs
    /// [`exec`](Self::exec); without it, or with settings that cannot
    /// work, returns the error.
    pub fn docker_healthcheck(&self) -> Result<String, ManifestError> {
        self.validate()?;
        let Some(command) = &self.exec else {
            return Err(ManifestError::NoExecCommand);
        };
        let mut words: Vec<String> = command.iter().map(|word| json_string(word)).collect();
        words.push(json_string(crate::exec::PROBE_ARG));
        words.push(json_string(Probe::Readiness.as_str()));
        Ok(format!(
            "HEALTHCHECK --interval={}s --timeout={}s --start-period={} --retries={} CMD [{}]",
            self.readiness.period,
            self.probe_timeout_seconds(),
            DockerDuration(self.startup_budget),
            self.readiness.failure_threshold,
            words.join(", ")
        ))
    }

    fn write_probe(&self, yaml: &mut String, probe: Probe, timeout_seconds: u64, timing: Timing) {
        let _ = writeln!(yaml, "{}Probe:", probe.as_str());
        match &self.exec {
            Some(command) => {
                yaml.push_str("  exec:\n    command:\n");
                for word in command
                    .iter()
                    .map(String::as_str)
                    .chain([crate::exec::PROBE_ARG, probe.as_str()])
                {
                    let _ = writeln!(yaml, "      - {}", json_string(word));
                }
            }
            None => {
                let port = match &self.port {
                    Port::Number(number) => number.to_string(),
                    Port::Name(name) => name.clone(),
                };
                let path = probe.path(self.config);
                let _ = write!(yaml, "  httpGet:\n    path: {path}\n    port: {port}\n");
            }
        }
        let _ = write!(
            yaml,
            "  timeoutSeconds: {timeout_seconds}\n  periodSeconds: {}\n  failureThreshold: {}\n  successThreshold: 1\n",
            timing.period, timing.failure_threshold
        );
    }
}

/// `timeoutSeconds` for a probe whose deadline is `deadline`: the next
/// whole second strictly above it.
fn default_timeout_seconds(deadline: Duration) -> u64 {
    deadline.as_secs() + 1
}

/// A string as a JSON (and so YAML flow) string literal.
fn json_string(text: &str) -> String {
    let mut quoted = String::from("\"");
    push_json_escaped(&mut quoted, text);
    quoted.push('"');
    quoted
}

/// A duration as Docker writes one: `60s`, `1500ms`.
struct DockerDuration(Duration);

impl fmt::Display for DockerDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.subsec_millis() == 0 {
            write!(f, "{}s", self.0.as_secs())
        } else {
            write!(f, "{}ms", self.0.as_millis())
        }
    }
}

/// An age in a message.
fn age(duration: Duration) -> String {
    DisplayAge(duration).to_string()
}
