//! What a probe found, and how it is written into a response body.
//!
//! Over 400 lines with its unit tests (about a hundred): the report and its
//! three renderings (text, verbose, health+json) change together, so they
//! stay in one room.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
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
        matches!(
            self,
            Outcome::Fail {
                kind: ErrorKind::Busy,
                ..
            }
        )
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
}

impl CheckReport {
    /// How this check contributes to the probe's status.
    pub fn status(&self) -> Status {
        match &self.outcome {
            Outcome::Pass => Status::Pass,
            outcome if outcome.is_busy() || !self.critical => Status::Warn,
            Outcome::Fail { .. } => Status::Fail,
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
            if let Outcome::Fail { message, .. } = &check.outcome {
                if !body.is_empty() {
                    body.push('\n');
                }
                let _ = write!(body, "{}: {}", check.name, message);
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
            match &check.outcome {
                Outcome::Pass => {
                    let _ = writeln!(body, "[+]{} ok", check.name);
                }
                Outcome::Fail { message, .. } => {
                    let reason = message.strip_suffix('.').unwrap_or(message);
                    let (mark, word) = if check.outcome.is_busy() {
                        ("~", "degraded")
                    } else if check.critical {
                        ("-", "failed")
                    } else {
                        ("-", "failed (non-critical)")
                    };
                    let _ = writeln!(body, "[{mark}]{} {word}: {reason}", check.name);
                }
            }
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

    /// The `application/health+json` body (IETF draft
    /// `draft-inadarei-api-health-check`).
    pub fn to_json(&self) -> String {
        let mut body = String::with_capacity(64 + 160 * self.checks.len());
        let _ = write!(body, "{{\"status\":\"{}\"", self.status().as_str());
        if self.draining {
            body.push_str(",\"output\":\"shutting down\"");
        }
        body.push_str(",\"checks\":{");
        for (i, check) in self.checks.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push('"');
            push_json_escaped(&mut body, check.name);
            let _ = write!(
                body,
                ":responseTime\":[{{\"status\":\"{}\",\"observedValue\":{},\"observedUnit\":\"ms\",\"componentType\":\"component\",\"time\":\"{}\"",
                check.status().as_str(),
                DisplayMillis(check.latency),
                Rfc3339(check.time),
            );
            if let Outcome::Fail { message, .. } = &check.outcome {
                body.push_str(",\"output\":\"");
                push_json_escaped(&mut body, message);
                body.push('"');
            }
            body.push_str("}]");
        }
        body.push_str("}}");
        body
    }
}

/// The `application/health+json` body of an answer that ran no check
/// (liveness, an open startup probe, an unknown check): `pass`, or `fail`
/// with `output` as its reason.
pub(crate) fn json_without_checks(pass: bool, output: &str) -> String {
    if pass {
        return r#"{"status":"pass"}"#.to_owned();
    }
    let mut body = String::from(r#"{"status":"fail","output":""#);
    push_json_escaped(&mut body, output);
    body.push_str("\"}");
    body
}

fn push_json_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
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

/// Milliseconds with three decimals, as a JSON number.
struct DisplayMillis(Duration);

impl fmt::Display for DisplayMillis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = self.0.as_micros();
        write!(f, "{}.{:03}", micros / 1000, micros % 1000)
    }
}

/// A UTC timestamp in RFC 3339 form, to the millisecond.
struct Rfc3339(SystemTime);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let since_epoch = self
            .0
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let secs = since_epoch.as_secs();
        let (hour, minute, second) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
        let (year, month, day) = civil_from_days(secs / 86_400);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{:03}Z",
            since_epoch.subsec_millis()
        )
    }
}

/// Converts days since 1970-01-01 into a (year, month, day) date, after
/// Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
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
        let busy = Outcome::Fail {
            kind: ErrorKind::Busy,
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
