//! The `application/health+json` rendering of a [`Report`] (IETF draft
//! `draft-inadarei-api-health-check`), with the timestamps it needs.

use std::fmt::{self, Write as _};
use std::time::{Duration, SystemTime};

use super::{Damping, Outcome, Report};

impl Report {
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
            if let Some(reason) = check.reason() {
                body.push_str(",\"output\":\"");
                push_json_escaped(&mut body, &reason);
                body.push('"');
            } else if check.outcome == Outcome::NotConfigured {
                body.push_str(",\"output\":\"not configured\"");
            }
            if check.damping != Damping::Steady {
                // Damping holds the check: say what its last run found.
                let _ = write!(body, ",\"rawStatus\":\"{}\"", check.raw_status().as_str());
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

/// Appends `text` as the inside of a JSON string literal.
pub(crate) fn push_json_escaped(out: &mut String, text: &str) {
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
