//! Rules that involve more than one value: names against names, check
//! timeouts against the probe timeout, paths against paths and names.

use quote::ToTokens;
use syn::LitStr;

use crate::ast::{Input, Origin, Probe};
use crate::attr::{keys, CheckProbe};
use crate::ctxt::Ctxt;
use crate::duration;

const NAME_RULE: &str = "check names must match `[a-z0-9][a-z0-9._-]*`";

pub(crate) fn check(cx: &Ctxt, input: &Input<'_>) {
    check_names(cx, input);
    check_timeouts(cx, input);
    check_paths(cx, input);
    check_intervals(cx, input);
    check_liveness(cx, input);
}

/// A background interval must leave room for a whole run: at least the
/// check's timeout, and never under the shortest interval.
fn check_intervals(cx: &Ctxt, input: &Input<'_>) {
    if let Some(interval) = &input.interval {
        if interval.nanos < keys::MIN_INTERVAL_NANOS {
            cx.error_spanned_by(&interval.literal, short_interval(&interval.literal));
        }
    }
    for check in &input.checks {
        let Some(interval) = &check.interval else {
            continue;
        };
        if interval.on_field && interval.nanos < keys::MIN_INTERVAL_NANOS {
            cx.error_spanned_by(&interval.literal, short_interval(&interval.literal));
            continue;
        }
        if check.timeout.is_rejected() || interval.nanos >= check.timeout.value {
            continue;
        }
        let timeout = check
            .timeout
            .literal()
            .map_or_else(|| duration::format(check.timeout.value), LitStr::value);
        let whose = if interval.on_field {
            String::new()
        } else {
            format!(" (the struct's, for check `{}`)", check.name.value)
        };
        let span = match (interval.on_field, check.timeout.literal()) {
            (false, Some(literal)) => literal.to_token_stream(),
            _ => interval.literal.to_token_stream(),
        };
        cx.error_spanned_by(
            span,
            format!(
                "interval `{}`{whose} is shorter than the check timeout `{timeout}`: a background \
                 run must be able to finish before the next one is due",
                interval.literal.value()
            ),
        );
    }
}

fn short_interval(literal: &LitStr) -> String {
    format!(
        "interval `{}` is shorter than {}: every pod would load its dependencies with checks",
        literal.value(),
        duration::format(keys::MIN_INTERVAL_NANOS)
    )
}

/// A liveness check must be a type the crate can hold to being local: a
/// `with` function could reach anything.
fn check_liveness(cx: &Ctxt, input: &Input<'_>) {
    for check in &input.checks {
        if check.probe != CheckProbe::Liveness {
            continue;
        }
        if let Some(with) = &check.with {
            cx.error_spanned_by(
                with,
                "a liveness check cannot use `with`: only a field whose type implements \
                 `healthz::LocalCheck` (such as `healthz::watchdog::Watchdog`) can be a \
                 liveness check, so that liveness never touches a dependency",
            );
        }
    }
}

fn check_names(cx: &Ctxt, input: &Input<'_>) {
    for (position, check) in input.checks.iter().enumerate() {
        let name = &check.name;
        let Some(token) = name.token() else {
            continue;
        };
        if name.value.is_empty() {
            cx.error_spanned_by(&token, format!("empty check name: {NAME_RULE}"));
        } else if !is_valid_name(&name.value) {
            let message = match &name.origin {
                Origin::FieldName(_) => format!(
                    "invalid check name `{}` (taken from the field name): {NAME_RULE}; \
                     name the check explicitly with `#[healthz(name = \"{}\")]`",
                    name.value,
                    suggest_name(&name.value)
                ),
                _ => format!("invalid check name `{}`: {NAME_RULE}", name.value),
            };
            cx.error_spanned_by(&token, message);
        }
        let earlier = input.checks[..position]
            .iter()
            .find(|other| !other.name.is_rejected() && other.name.value == name.value);
        if let Some(earlier) = earlier {
            cx.error_spanned_by(
                &token,
                format!(
                    "duplicate check name `{}`: field `{}` already uses it",
                    name.value,
                    earlier.field_label()
                ),
            );
        }
    }
}

fn check_timeouts(cx: &Ctxt, input: &Input<'_>) {
    let probe_timeout = &input.probe_timeout;
    if probe_timeout.is_rejected() {
        return;
    }
    let probe_text = probe_timeout
        .literal()
        .map_or_else(|| duration::format(probe_timeout.value), LitStr::value);
    for check in &input.checks {
        // A default check timeout is the probe timeout; a rejected one is
        // already reported.
        let Some(literal) = check.timeout.literal() else {
            continue;
        };
        if check.timeout.value <= probe_timeout.value {
            continue;
        }
        let how_to_raise = if probe_timeout.literal().is_none() {
            format!(
                " (the default; raise it with `#[healthz(timeout = \"{}\")]` on the struct)",
                literal.value()
            )
        } else {
            String::new()
        };
        cx.error_spanned_by(
            literal,
            format!(
                "check timeout `{}` is longer than the probe timeout `{probe_text}`{how_to_raise}: \
                 the probe must outlive every check",
                literal.value()
            ),
        );
    }
}

fn check_paths(cx: &Ctxt, input: &Input<'_>) {
    // The probes whose path can be compared with the others: neither
    // rejected while parsing nor invalid, each already reported.
    let mut probes: Vec<&Probe> = Vec::new();
    for probe in input.probes() {
        if probe.path.is_rejected() {
            continue;
        }
        if let Some(literal) = probe.path.literal() {
            if let Some(problem) = path_problem(&probe.path.value) {
                cx.error_spanned_by(
                    literal,
                    format!(
                        "invalid probe path `{}`: {problem}; expected an absolute path such as \
                         `{}`",
                        probe.path.value,
                        probe.key.default_text()
                    ),
                );
                continue;
            }
        }
        probes.push(probe);
    }

    for (index, probe) in probes.iter().enumerate() {
        for other in &probes[index + 1..] {
            if probe.path.value != other.path.value {
                continue;
            }
            let (first, second) = if probe.position < other.position {
                (probe, other)
            } else {
                (other, probe)
            };
            // Two defaults never clash, so the later one was written.
            let Some(literal) = second.path.literal() else {
                continue;
            };
            let default_note = if first.path.literal().is_none() {
                " by default"
            } else {
                ""
            };
            cx.error_spanned_by(
                literal,
                format!(
                    "duplicate probe path `{}`: the {} probe already uses it{default_note}",
                    second.path.value, first.key.name
                ),
            );
        }
    }

    let readiness = &input.readiness;
    if !probes.iter().any(|probe| std::ptr::eq(*probe, readiness)) {
        return;
    }
    for probe in [&input.liveness, &input.startup] {
        if !probes.iter().any(|valid| std::ptr::eq(*valid, probe)) {
            continue;
        }
        for check in &input.checks {
            let name = &check.name;
            let Some(name_token) = name.token() else {
                continue;
            };
            if probe.path.value != format!("{}/{}", readiness.path.value, name.value) {
                continue;
            }
            let message = format!(
                "{} path `{}` is also the readiness path of check `{}` (readiness answers \
                 `{}/<check name>` for each check)",
                probe.key.name, probe.path.value, name.value, readiness.path.value
            );
            match (probe.path.literal(), readiness.path.literal()) {
                (Some(literal), _) | (None, Some(literal)) => cx.error_spanned_by(literal, message),
                (None, None) => cx.error_spanned_by(name_token, message),
            }
        }
    }
}

pub(crate) fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    first_ok
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

/// A valid check name close to `field`: `Db` → `db`, `_db` → `db`,
/// `dbPool` → `db_pool`.
fn suggest_name(field: &str) -> String {
    let mut suggestion = String::new();
    let mut previous_lower = false;
    for c in field.chars() {
        if c.is_ascii_uppercase() {
            if previous_lower {
                suggestion.push('_');
            }
            suggestion.push(c.to_ascii_lowercase());
        } else if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-') {
            suggestion.push(c);
        } else {
            suggestion.push('_');
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
    }
    let trimmed = suggestion.trim_start_matches(['.', '_', '-']);
    if trimmed.is_empty() {
        "check".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// Why `path` cannot be a probe path, if it cannot.
pub(crate) fn path_problem(path: &str) -> Option<&'static str> {
    if !path.starts_with('/') {
        Some("it must start with `/`")
    } else if path.contains('?') {
        Some("it must not contain `?` (the query string is not part of the path)")
    } else if path.contains('#') {
        Some("it must not contain `#`")
    } else if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("it must not contain whitespace or control characters")
    } else if path.contains("..") {
        Some("it must not contain `..`")
    } else if path.ends_with('/') {
        // Readiness serves `<path>/<check name>`; a trailing slash would make
        // those `//name`, and a probe on `/` would shadow the app's root.
        Some("it must not end with `/`")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::{is_valid_name, path_problem, suggest_name};

    #[test]
    fn names() {
        for valid in ["db", "0", "db-1", "cache.sessions", "a_b", "9lives"] {
            assert!(is_valid_name(valid), "{valid}");
        }
        for invalid in ["", "Db", "_db", "-db", ".db", "db pool", "db/x", "dé", "dB"] {
            assert!(!is_valid_name(invalid), "{invalid}");
        }
    }

    #[test]
    fn suggestions_are_valid_names() {
        for (field, suggestion) in [
            ("Db", "db"),
            ("_db", "db"),
            ("dbPool", "db_pool"),
            ("DB", "db"),
            ("__", "check"),
            ("café", "caf_"),
        ] {
            assert_eq!(suggest_name(field), suggestion);
            assert!(is_valid_name(suggestion));
        }
    }

    #[test]
    fn paths() {
        for valid in ["/healthz", "/a/b", "/x.y", "/-/ready", "/a%20b"] {
            assert_eq!(path_problem(valid), None, "{valid}");
        }
        for (invalid, problem) in [
            ("healthz", "start with `/`"),
            ("", "start with `/`"),
            ("/healthz?full", "`?`"),
            ("/healthz#top", "`#`"),
            ("/health z", "whitespace"),
            ("/health\tz", "whitespace"),
            ("/a/../b", "`..`"),
            ("/..", "`..`"),
            ("/", "end with `/`"),
            ("/ready/", "end with `/`"),
        ] {
            let found = path_problem(invalid).unwrap_or_default();
            assert!(found.contains(problem), "{invalid:?}: {found}");
        }
    }
}
