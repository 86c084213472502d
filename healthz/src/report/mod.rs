//! What a probe found, and how it is written into the plain and verbose
//! response bodies; [`json`] writes the health+json one.
//!
//! Over 400 lines only with its unit tests, which read the written bodies
//! and belong beside the code that writes them.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

mod json;

pub(crate) use json::{json_without_checks, push_json_escaped};
use std::time::{Duration, SystemTime};

use crate::check::ErrorKind;

/// The overall result of a probe, in the words of the IETF health+json draft.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// Every check passed.
    Pass,
    /// Every critical check passed, but a non-critical check failed or a
    /// dependency is busy. The pod stays ready.
    Warn,
    /// A critical check failed, or the service is shutting down.
    Fail,
}

impl Status {
    /// `pass`, `warn` or `fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }

    /// Whether a probe with this status answers 200.
    pub fn is_ready(self) -> bool {
        self != Status::Fail
    }
}

/// The result of one run of one check.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The dependency is ready.
    Pass,
    /// The field is not configured (`None`): nothing ran, and it passes.
    NotConfigured,
    /// The dependency works but cannot take more work right now (every
    /// pooled connection in use, the server answering on a spare one): the
    /// probe stays ready and reports it as degraded.
    Busy {
        /// The public message, such as `busy: every connection is in use.`.
        message: Cow<'static, str>,
    },
    /// The check failed. `message` is the public message.
    Fail {
        /// How it failed.
        kind: ErrorKind,
        /// The public message, such as `cannot connect to database.`.
        message: Cow<'static, str>,
    },
}

impl Outcome {
    pub(crate) fn timed_out(after: Duration) -> Self {
        Outcome::Fail {
            kind: ErrorKind::TimedOut,
            message: Cow::Owned(format!("timed out after {}.", DisplayDuration(after))),
        }
    }

    /// Whether the check passed.
    pub fn is_pass(&self) -> bool {
        matches!(self, Outcome::Pass)
    }

    /// Whether the dependency works but is saturated.
    pub fn is_busy(&self) -> bool {
        matches!(self, Outcome::Busy { .. })
    }

    /// Whether the check failed: neither passed nor busy.
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Fail { .. })
    }

    /// The outcome a check's error stands for: busy for
    /// [`ErrorKind::Busy`], a failure for every other kind.
    pub(crate) fn of_error(kind: ErrorKind, message: Cow<'static, str>) -> Self {
        match kind {
            ErrorKind::Busy => Outcome::Busy { message },
            ErrorKind::NotConfigured => Outcome::NotConfigured,
            kind => Outcome::Fail { kind, message },
        }
    }
}

/// One check's line in a [`Report`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckReport {
    /// The check's name.
    pub name: &'static str,
    /// Whether a failure of this check makes the probe fail.
    pub critical: bool,
    /// What the check found.
    pub outcome: Outcome,
    /// How long the run took (for a timed-out check: how long the probe
    /// waited).
    pub latency: Duration,
    /// When the run finished.
    pub time: SystemTime,
    /// Whether flap damping (`fail_after`, `recover_after`) holds the
    /// check in its previous state: [`outcome`](Self::outcome) is always
    /// the raw result of the last run, [`status`](Self::status) the damped
    /// verdict.
    pub damping: Damping,
}

/// Whether flap damping holds a check in its previous state, despite the
/// outcome of its last run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Damping {
    /// The outcome stands.
    Steady,
    /// The check failed, but not yet `fail_after` times in a row (or not
    /// yet for that long): it still counts as passing, and the probe
    /// reports it as degraded.
    Holding {
        /// Consecutive failed runs so far.
        failures: u32,
    },
    /// The check passed, but not yet `recover_after` times in a row since
    /// it counted as failing: it still counts as failing.
    Recovering {
        /// Consecutive passes so far.
        passes: u32,
        /// The passes it needs.
        needed: u32,
    },
}

impl CheckReport {
    /// How this check contributes to the probe's status: the damped
    /// verdict.
    pub fn status(&self) -> Status {
        match (self.damping, &self.outcome) {
            (Damping::Holding { .. }, _) => Status::Warn,
            (Damping::Recovering { .. }, _) if self.critical => Status::Fail,
            (Damping::Recovering { .. }, _) => Status::Warn,
            (Damping::Steady, outcome) => self.raw_status_of(outcome),
        }
    }

    /// What the last run alone would make of the probe's status.
    pub fn raw_status(&self) -> Status {
        self.raw_status_of(&self.outcome)
    }

    fn raw_status_of(&self, outcome: &Outcome) -> Status {
        match outcome {
            Outcome::Pass | Outcome::NotConfigured => Status::Pass,
            Outcome::Busy { .. } => Status::Warn,
            Outcome::Fail { .. } if !self.critical => Status::Warn,
            Outcome::Fail { .. } => Status::Fail,
        }
    }

    /// The public reason this check counts as failing or degraded, if it
    /// does: its last run's message, or why damping still holds it down.
    pub(crate) fn reason(&self) -> Option<Cow<'_, str>> {
        match (self.damping, &self.outcome) {
            (Damping::Recovering { passes, needed }, _) => Some(Cow::Owned(format!(
                "recovering: {passes} of {needed} passes."
            ))),
            (_, Outcome::Fail { message, .. } | Outcome::Busy { message }) => {
                Some(Cow::Borrowed(message))
            }
            (_, Outcome::Pass | Outcome::NotConfigured) => None,
        }
    }
}

/// The result of a readiness or startup probe.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// The checks that ran, in field order (excluded checks are absent).
    pub checks: Vec<CheckReport>,
    /// Names of the checks skipped with `?exclude=`.
    pub excluded: Vec<&'static str>,
    /// Whether the service is shutting down (readiness then fails).
    pub draining: bool,
}

impl Report {
    /// The overall status: the worst of the checks', and `Fail` while
    /// draining.
    pub fn status(&self) -> Status {
        if self.draining {
            return Status::Fail;
        }
        self.checks
            .iter()
            .map(CheckReport::status)
            .fold(Status::Pass, |worst, status| match (worst, status) {
                (Status::Fail, _) | (_, Status::Fail) => Status::Fail,
                (Status::Warn, _) | (_, Status::Warn) => Status::Warn,
                _ => Status::Pass,
            })
    }

    /// The plain-text body: `OK`, `shutting down`, or one line per failing
    /// critical check (`db: cannot connect to database.`), without a final
    /// newline, as the probe bodies of the Django middleware it follows.
    pub fn to_text(&self) -> String {
        if self.draining {
            return "shutting down".to_owned();
        }
        if self.status().is_ready() {
            return "OK".to_owned();
        }
        let mut body = String::new();
        for check in self.checks.iter().filter(|c| c.status() == Status::Fail) {
            if let Some(reason) = check.reason() {
                if !body.is_empty() {
                    body.push('\n');
                }
                let _ = write!(body, "{}: {}", check.name, reason);
            }
        }
        body
    }

    /// The `?verbose` body, in the style of Kubernetes' own `/readyz?verbose`:
    /// one `[+]name ok` or `[-]name failed: reason` line per check, then a
    /// summary line naming `probe` (with no newline after it).
    pub fn to_verbose_text(&self, probe: &str) -> String {
        let mut body = String::new();
        for check in &self.checks {
            let Some(reason) = check.reason() else {
                let state = match check.outcome {
                    Outcome::NotConfigured => "not configured",
                    _ => "ok",
                };
                let _ = writeln!(body, "[+]{} {state}", check.name);
                continue;
            };
            let reason = reason.strip_suffix('.').unwrap_or(&reason);
            let (mark, word) = match check.damping {
                Damping::Holding { failures } => {
                    let _ = writeln!(
                        body,
                        "[~]{} degraded: {reason} (failure {failures}, not yet counted)",
                        check.name
                    );
                    continue;
                }
                Damping::Steady if check.outcome.is_busy() => ("~", "degraded"),
                _ if check.critical => ("-", "failed"),
                _ => ("-", "failed (non-critical)"),
            };
            let _ = writeln!(body, "[{mark}]{} {word}: {reason}", check.name);
        }
        for name in &self.excluded {
            let _ = writeln!(body, "[+]{name} excluded: ok");
        }
        if self.draining {
            body.push_str("[-]shutting down\n");
        }
        let verdict = if self.status().is_ready() {
            "passed"
        } else {
            "failed"
        };
        let _ = write!(body, "{probe} check {verdict}");
        body
    }
}

/// An age, as a person would say it: `850ms`, `3.2s`, `12m`.
pub(crate) struct DisplayAge(pub(crate) Duration);

impl fmt::Display for DisplayAge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0.as_millis();
        if millis < 1000 {
            write!(f, "{millis}ms")
        } else if millis < 120_000 {
            write!(f, "{}.{}s", millis / 1000, millis % 1000 / 100)
        } else {
            write!(f, "{}m", millis / 60_000)
        }
    }
}

/// A duration in the unit a person would write it in: `300ms`, `2s`.
pub(crate) struct DisplayDuration(pub(crate) Duration);

impl fmt::Display for DisplayDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        let (value, unit) = if nanos == 0 {
            (0, "s")
        } else if nanos % 60_000_000_000 == 0 {
            (nanos / 60_000_000_000, "m")
        } else if nanos % 1_000_000_000 == 0 {
            (nanos / 1_000_000_000, "s")
        } else if nanos % 1_000_000 == 0 {
            (nanos / 1_000_000, "ms")
        } else if nanos % 1_000 == 0 {
            (nanos / 1_000, "us")
        } else {
            (nanos, "ns")
        };
        write!(f, "{value}{unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &'static str, critical: bool, outcome: Outcome) -> CheckReport {
        CheckReport {
            name,
            critical,
            outcome,
            latency: Duration::from_micros(1500),
            time: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            damping: Damping::Steady,
        }
    }

    fn failed(message: &'static str) -> Outcome {
        Outcome::Fail {
            kind: ErrorKind::Unavailable,
            message: message.into(),
        }
    }

    #[test]
    fn durations_use_the_largest_exact_unit() {
        let shown = |d| DisplayDuration(d).to_string();
        assert_eq!(shown(Duration::from_millis(300)), "300ms");
        assert_eq!(shown(Duration::from_secs(2)), "2s");
        assert_eq!(shown(Duration::from_secs(120)), "2m");
        assert_eq!(shown(Duration::from_micros(1500)), "1500us");
        assert_eq!(shown(Duration::from_nanos(7)), "7ns");
        let age = |d| DisplayAge(d).to_string();
        assert_eq!(age(Duration::from_millis(850)), "850ms");
        assert_eq!(age(Duration::from_millis(3_250)), "3.2s");
        assert_eq!(age(Duration::from_secs(3 * 3600)), "180m");
    }

    #[test]
    fn text_lists_only_failing_critical_checks() {
        let report = Report {
            checks: vec![
                check("db", true, failed("cannot connect to database.")),
                check("replica", false, failed("cannot connect to database.")),
                check(
                    "cache",
                    true,
                    Outcome::timed_out(Duration::from_millis(300)),
                ),
                check("search", true, Outcome::Pass),
            ],
            excluded: vec![],
            draining: false,
        };
        assert_eq!(report.status(), Status::Fail);
        assert_eq!(
            report.to_text(),
            "db: cannot connect to database.\ncache: timed out after 300ms."
        );
    }

    #[test]
    fn non_critical_and_busy_failures_warn() {
        let busy = Outcome::Busy {
            message: "busy: every connection is in use.".into(),
        };
        let report = Report {
            checks: vec![
                check("db", true, busy),
                check("replica", false, failed("cannot connect to database.")),
            ],
            excluded: vec!["cache"],
            draining: false,
        };
        assert_eq!(report.status(), Status::Warn);
        assert_eq!(report.to_text(), "OK");
        assert_eq!(
            report.to_verbose_text("readiness"),
            "[~]db degraded: busy: every connection is in use\n\
             [-]replica failed (non-critical): cannot connect to database\n\
             [+]cache excluded: ok\n\
             readiness check passed"
        );
    }

    #[test]
    fn damping_decides_the_status_and_the_raw_outcome_is_kept() {
        let mut held = check("db", true, failed("cannot connect to database."));
        held.damping = Damping::Holding { failures: 1 };
        let mut recovering = check("cache", true, Outcome::Pass);
        recovering.damping = Damping::Recovering {
            passes: 1,
            needed: 2,
        };
        assert_eq!(held.status(), Status::Warn);
        assert_eq!(held.raw_status(), Status::Fail);
        assert_eq!(recovering.status(), Status::Fail);
        assert_eq!(recovering.raw_status(), Status::Pass);
        let report = Report {
            checks: vec![held, recovering],
            excluded: vec![],
            draining: false,
        };
        assert_eq!(report.status(), Status::Fail);
        assert_eq!(report.to_text(), "cache: recovering: 1 of 2 passes.");
        assert_eq!(
            report.to_verbose_text("readiness"),
            "[~]db degraded: cannot connect to database (failure 1, not yet counted)\n\
             [-]cache failed: recovering: 1 of 2 passes\n\
             readiness check failed"
        );
        assert!(
            report.to_json().contains(
                r#""cache:responseTime":[{"status":"fail","observedValue":1.500,"observedUnit":"ms","componentType":"component","time":"2023-11-14T22:13:20.123Z","output":"recovering: 1 of 2 passes.","rawStatus":"pass"}]"#
            ),
            "{}",
            report.to_json()
        );
    }

    #[test]
    fn draining_fails_whatever_the_checks_say() {
        let report = Report {
            checks: vec![check("db", true, Outcome::Pass)],
            excluded: vec![],
            draining: true,
        };
        assert_eq!(report.status(), Status::Fail);
        assert_eq!(report.to_text(), "shutting down");
    }

    #[test]
    fn json_has_the_health_json_shape() {
        let report = Report {
            checks: vec![
                check("db", true, Outcome::Pass),
                check("cache", true, failed("cannot \"connect\".")),
            ],
            excluded: vec![],
            draining: false,
        };
        assert_eq!(
            report.to_json(),
            concat!(
                r#"{"status":"fail","checks":{"#,
                r#""db:responseTime":[{"status":"pass","observedValue":1.500,"observedUnit":"ms","componentType":"component","time":"2023-11-14T22:13:20.123Z"}],"#,
                r#""cache:responseTime":[{"status":"fail","observedValue":1.500,"observedUnit":"ms","componentType":"component","time":"2023-11-14T22:13:20.123Z","output":"cannot \"connect\"."}]"#,
                "}}"
            )
        );
    }
}
