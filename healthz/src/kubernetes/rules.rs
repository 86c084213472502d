//! The cross-checks of [`KubernetesProbes`]: settings that cannot work are
//! a [`ManifestError`]; settings that work but are risky are warnings.

use std::fmt;
use std::time::Duration;

use super::{age, KubernetesProbes};

/// Probe settings that cannot work, refused by
/// [`KubernetesProbes::to_yaml`] rather than printed or silently fixed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ManifestError {
    /// `timeoutSeconds` at or below the probe deadline: the kubelet would
    /// give up on answers that are still on their way.
    TimeoutNotAboveDeadline {
        /// The `timeoutSeconds` asked for.
        timeout_seconds: u64,
        /// The probe deadline.
        deadline: Duration,
    },
    /// A drain delay shorter than readiness takes to take the pod out of
    /// rotation: requests would still be routed to a server that stopped.
    DrainDelayTooShort {
        /// The drain delay given.
        delay: Duration,
        /// `periodSeconds × failureThreshold` of readiness plus one period.
        needed: Duration,
    },
    /// A startup budget shorter than one probe deadline: the container
    /// would be restarted before its first probe could be answered.
    StartupBudgetTooShort {
        /// The startup budget given.
        budget: Duration,
        /// The probe deadline.
        deadline: Duration,
    },
    /// A `periodSeconds` or `failureThreshold` of zero, which Kubernetes
    /// rejects.
    Zero {
        /// Which setting.
        setting: &'static str,
    },
    /// A Docker `HEALTHCHECK` was asked for without an exec command.
    NoExecCommand,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TimeoutNotAboveDeadline {
                timeout_seconds,
                deadline,
            } => write!(
                f,
                "timeoutSeconds {timeout_seconds} is not above the probe deadline of {}: the \
                 kubelet would count answers still on their way as failures; use at least {}",
                age(*deadline),
                super::default_timeout_seconds(*deadline)
            ),
            Self::DrainDelayTooShort { delay, needed } => write!(
                f,
                "drain delay {} is shorter than the {} readiness needs to take the pod out of \
                 rotation (periodSeconds × failureThreshold, plus one period): requests would \
                 reach a stopped server",
                age(*delay),
                age(*needed)
            ),
            Self::StartupBudgetTooShort { budget, deadline } => write!(
                f,
                "startup budget {} is shorter than one probe deadline ({}): the container would \
                 be restarted before its first probe is answered",
                age(*budget),
                age(*deadline)
            ),
            Self::Zero { setting } => write!(f, "{setting} must be at least 1"),
            Self::NoExecCommand => f.write_str(
                "a Docker HEALTHCHECK needs the exec command: call `.exec([\"/path/to/binary\"])`",
            ),
        }
    }
}

impl std::error::Error for ManifestError {}

impl KubernetesProbes {
    /// Why these settings cannot work, if they cannot.
    pub(super) fn validate(&self) -> Result<(), ManifestError> {
        for (setting, value) in [
            ("readiness periodSeconds", self.readiness.period),
            (
                "readiness failureThreshold",
                self.readiness.failure_threshold,
            ),
            ("liveness periodSeconds", self.liveness.period),
            ("liveness failureThreshold", self.liveness.failure_threshold),
        ] {
            if value == 0 {
                return Err(ManifestError::Zero { setting });
            }
        }
        let deadline = self.config.probe_timeout;
        let timeout_seconds = self.probe_timeout_seconds();
        if Duration::from_secs(timeout_seconds) <= deadline {
            return Err(ManifestError::TimeoutNotAboveDeadline {
                timeout_seconds,
                deadline,
            });
        }
        if let Some(delay) = self.drain_delay {
            let needed = self.unrouting_time();
            if delay < needed {
                return Err(ManifestError::DrainDelayTooShort { delay, needed });
            }
        }
        if self.startup_budget < deadline {
            return Err(ManifestError::StartupBudgetTooShort {
                budget: self.startup_budget,
                deadline,
            });
        }
        Ok(())
    }

    /// How long readiness takes, at worst, to take the pod out of rotation
    /// once it fails: `failureThreshold` failed probes, a period apart,
    /// after up to one period until the first.
    fn unrouting_time(&self) -> Duration {
        Duration::from_secs(self.readiness.period * (self.readiness.failure_threshold + 1))
    }

    /// The settings that work but are risky, one sentence each; `to_yaml`
    /// prints them as `# warning:` comments.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        let deadline = self.config.probe_timeout;
        let timeout = Duration::from_secs(self.probe_timeout_seconds());
        let margin = timeout.saturating_sub(deadline);
        if margin > Duration::ZERO && margin < Duration::from_millis(200) {
            warnings.push(format!(
                "timeoutSeconds {} leaves only {} over the probe deadline of {} for the network \
                 and the kubelet; a probe deadline of at most {} would leave 200ms",
                timeout.as_secs(),
                age(margin),
                age(deadline),
                age(timeout - Duration::from_millis(200)),
            ));
        }
        if self.liveness.failure_threshold == 1 {
            warnings.push(
                "liveness failureThreshold 1 restarts the container on a single missed probe"
                    .to_owned(),
            );
        }
        let reaction =
            Duration::from_secs(self.readiness.period * self.readiness.failure_threshold);
        for check in self.config.checks.iter().filter(|check| !check.liveness) {
            let Some(interval) = check.interval else {
                continue;
            };
            if interval > reaction {
                warnings.push(format!(
                    "check `{}` runs every {} in the background: readiness can see it fail up \
                     to {} late, longer than the {} (periodSeconds × failureThreshold) the \
                     kubelet needs to act",
                    check.name,
                    age(interval),
                    age(interval),
                    age(reaction)
                ));
            }
        }
        if self.startup_budget < deadline * 3 {
            warnings.push(format!(
                "startup budget {} leaves room for fewer than 3 probes of {}",
                age(self.startup_budget),
                age(deadline)
            ));
        }
        warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::__private::{check_config, config as build_config, CheckFields, ConfigFields};
    use crate::config::{CheckConfig, Config, FailAfter};

    static CHECKS: [CheckConfig; 1] = [check_config(CheckFields {
        name: "db",
        timeout: Duration::from_millis(300),
        critical: true,
        busy_limit: CheckConfig::DEFAULT_BUSY_LIMIT,
        interval: Some(Duration::from_secs(30)),
        fail_after: FailAfter::Failures(1),
        recover_after: 1,
        liveness: false,
    })];

    fn config(probe_timeout: Duration, checks: &'static [CheckConfig]) -> &'static Config {
        Box::leak(Box::new(build_config(ConfigFields {
            probe_timeout,
            cache_ttl: Config::DEFAULT_CACHE_TTL,
            liveness_path: "/live",
            readiness_path: "/ready",
            startup_path: "/started",
            jitter: true,
            checks,
        })))
    }

    #[test]
    fn timeouts_are_strictly_above_the_probe_deadline() {
        for (millis, seconds) in [(800, 1), (1000, 2), (2500, 3)] {
            assert_eq!(
                super::super::default_timeout_seconds(Duration::from_millis(millis)),
                seconds
            );
        }
    }

    #[test]
    fn yaml_uses_the_configured_paths_port_and_budget() {
        let yaml = KubernetesProbes::from_config(config(Duration::from_secs(2), &[]))
            .named_port("http")
            .startup_budget(Duration::from_secs(91))
            .to_yaml()
            .unwrap();
        assert_eq!(
            yaml,
            "livenessProbe:\n  httpGet:\n    path: /live\n    port: http\n  timeoutSeconds: 1\n  periodSeconds: 10\n  failureThreshold: 3\n  successThreshold: 1\n\
             readinessProbe:\n  httpGet:\n    path: /ready\n    port: http\n  timeoutSeconds: 3\n  periodSeconds: 5\n  failureThreshold: 2\n  successThreshold: 1\n\
             startupProbe:\n  httpGet:\n    path: /started\n    port: http\n  timeoutSeconds: 3\n  periodSeconds: 2\n  failureThreshold: 46\n  successThreshold: 1\n"
        );
    }

    #[test]
    fn settings_that_cannot_work_are_refused() {
        let probes = || KubernetesProbes::from_config(config(Duration::from_secs(2), &[]));
        assert_eq!(
            probes().timeout_seconds(2).to_yaml(),
            Err(ManifestError::TimeoutNotAboveDeadline {
                timeout_seconds: 2,
                deadline: Duration::from_secs(2)
            })
        );
        // Readiness every 5s, unready after 2: up to 15s to unroute.
        assert_eq!(
            probes().drain_delay(Duration::from_secs(14)).to_yaml(),
            Err(ManifestError::DrainDelayTooShort {
                delay: Duration::from_secs(14),
                needed: Duration::from_secs(15)
            })
        );
        assert!(probes()
            .drain_delay(Duration::from_secs(15))
            .to_yaml()
            .is_ok());
        assert_eq!(
            probes().startup_budget(Duration::from_secs(1)).to_yaml(),
            Err(ManifestError::StartupBudgetTooShort {
                budget: Duration::from_secs(1),
                deadline: Duration::from_secs(2)
            })
        );
        assert_eq!(
            probes().readiness_timing(0, 2).to_yaml(),
            Err(ManifestError::Zero {
                setting: "readiness periodSeconds"
            })
        );
        assert_eq!(
            probes().docker_healthcheck(),
            Err(ManifestError::NoExecCommand)
        );
        let message = probes()
            .timeout_seconds(1)
            .to_yaml()
            .unwrap_err()
            .to_string();
        assert!(message.contains("use at least 3"), "{message}");
    }

    #[test]
    fn risky_settings_are_printed_as_warnings() {
        let yaml = KubernetesProbes::from_config(config(Duration::from_millis(900), &CHECKS))
            .liveness_timing(10, 1)
            .startup_budget(Duration::from_secs(2))
            .to_yaml()
            .unwrap();
        let warnings: Vec<&str> = yaml
            .lines()
            .filter(|l| l.starts_with("# warning: "))
            .collect();
        assert_eq!(warnings.len(), 4, "{yaml}");
        assert!(warnings[0].contains("leaves only 100ms"), "{yaml}");
        assert!(warnings[1].contains("single missed probe"), "{yaml}");
        assert!(
            warnings[2].contains("check `db` runs every 30.0s"),
            "{yaml}"
        );
        assert!(warnings[3].contains("fewer than 3 probes"), "{yaml}");
        let quiet = KubernetesProbes::from_config(config(Duration::from_millis(800), &[]));
        assert_eq!(quiet.warnings(), Vec::<String>::new());
    }

    #[test]
    fn exec_probes_and_the_docker_healthcheck() {
        let probes = KubernetesProbes::from_config(config(Duration::from_millis(800), &[]))
            .exec(["/app/server"]);
        let yaml = probes.to_yaml().unwrap();
        assert!(
            yaml.contains(
                "readinessProbe:\n  exec:\n    command:\n      - \"/app/server\"\n      - \"--probe\"\n      - \"readiness\"\n  timeoutSeconds: 1\n"
            ),
            "{yaml}"
        );
        assert!(!yaml.contains("httpGet"), "{yaml}");
        assert_eq!(
            probes.docker_healthcheck().unwrap(),
            "HEALTHCHECK --interval=5s --timeout=1s --start-period=60s --retries=2 CMD \
             [\"/app/server\", \"--probe\", \"readiness\"]"
        );
    }
}
