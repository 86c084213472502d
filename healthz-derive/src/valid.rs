//! Rules that involve more than one value: names against names, check
//! timeouts against the probe timeout, paths against paths and names.

use syn::LitStr;

use crate::ast::{Input, NameSource};
use crate::attr::{self, ProbePath};
use crate::ctxt::Ctxt;

const NAME_RULE: &str = "check names must match `[a-z0-9][a-z0-9._-]*`";

pub(crate) fn check(cx: &Ctxt, input: &Input<'_>) {
    check_names(cx, input);
    check_timeouts(cx, input);
    check_paths(cx, input);
}

fn check_names(cx: &Ctxt, input: &Input<'_>) {
    for (position, check) in input.checks.iter().enumerate() {
        let Some(name) = &check.name else {
            continue;
        };
        if name.value.is_empty() {
            cx.error_spanned_by(name.token(), format!("empty check name: {NAME_RULE}"));
        } else if !is_valid_name(&name.value) {
            match &name.source {
                NameSource::Explicit(literal) => cx.error_spanned_by(
                    literal,
                    format!("invalid check name `{}`: {NAME_RULE}", name.value),
                ),
                NameSource::FieldIdent(ident) => cx.error_spanned_by(
                    ident,
                    format!(
                        "invalid check name `{}` (taken from the field name): {NAME_RULE}; \
                         name the check explicitly with `#[healthz(name = \"{}\")]`",
                        name.value,
                        suggest_name(&name.value)
                    ),
                ),
            }
        }
        let earlier = input.checks[..position].iter().find(|other| {
            other
                .name
                .as_ref()
                .is_some_and(|other| other.value == name.value)
        });
        if let Some(earlier) = earlier {
            cx.error_spanned_by(
                name.token(),
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
    let Some(probe_timeout) = input.probe_timeout() else {
        return;
    };
    let probe_text = input.attrs.timeout.as_ref().map_or_else(
        || attr::DEFAULT_TIMEOUT.to_owned(),
        |timeout| timeout.literal.value(),
    );
    for check in &input.checks {
        let Some(timeout) = &check.attrs.timeout else {
            continue;
        };
        if timeout.nanos <= probe_timeout {
            continue;
        }
        let how_to_raise = if input.attrs.timeout.is_none() {
            format!(
                " (the default; raise it with `#[healthz(timeout = \"{}\")]` on the struct)",
                timeout.literal.value()
            )
        } else {
            String::new()
        };
        cx.error_spanned_by(
            &timeout.literal,
            format!(
                "check timeout `{}` is longer than the probe timeout `{probe_text}`{how_to_raise}: \
                 the probe must outlive every check",
                timeout.literal.value()
            ),
        );
    }
}

/// One of the three probes and where its path came from.
struct Probe<'a> {
    kind: &'static str,
    path: String,
    /// `None` for a default path.
    literal: Option<&'a LitStr>,
    position: usize,
}

fn check_paths(cx: &Ctxt, input: &Input<'_>) {
    let attrs = &input.attrs;
    let mut probes = Vec::new();
    for (kind, written, default) in [
        ("liveness", attrs.liveness.as_ref(), attr::DEFAULT_LIVENESS),
        (
            "readiness",
            attrs.readiness.as_ref(),
            attr::DEFAULT_READINESS,
        ),
        ("startup", attrs.startup.as_ref(), attr::DEFAULT_STARTUP),
    ] {
        match written {
            Some(ProbePath { literal, position }) => {
                let path = literal.value();
                if let Some(problem) = path_problem(&path) {
                    cx.error_spanned_by(
                        literal,
                        format!(
                            "invalid probe path `{path}`: {problem}; expected an absolute path \
                             such as `{default}`"
                        ),
                    );
                    continue;
                }
                probes.push(Probe {
                    kind,
                    path,
                    literal: Some(literal),
                    position: *position,
                });
            }
            // Rejected while parsing: already reported, and its default
            // must not stand in for it.
            None if attrs.wrote(kind) => {}
            None => probes.push(Probe {
                kind,
                path: default.to_owned(),
                literal: None,
                position: 0,
            }),
        }
    }

    for (index, probe) in probes.iter().enumerate() {
        for other in &probes[index + 1..] {
            if probe.path != other.path {
                continue;
            }
            let (first, second) = if probe.position < other.position {
                (probe, other)
            } else {
                (other, probe)
            };
            // Two defaults never clash, so the later one was written.
            let Some(literal) = second.literal else {
                continue;
            };
            let default_note = if first.literal.is_none() {
                " by default"
            } else {
                ""
            };
            cx.error_spanned_by(
                literal,
                format!(
                    "duplicate probe path `{}`: the {} probe already uses it{default_note}",
                    second.path, first.kind
                ),
            );
        }
    }

    let Some(readiness) = probes.iter().find(|probe| probe.kind == "readiness") else {
        return;
    };
    for probe in probes.iter().filter(|probe| probe.kind != "readiness") {
        for check in &input.checks {
            let Some(name) = &check.name else {
                continue;
            };
            if probe.path != format!("{}/{}", readiness.path, name.value) {
                continue;
            }
            let message = format!(
                "{} path `{}` is also the readiness path of check `{}` (readiness answers \
                 `{}/<check name>` for each check)",
                probe.kind, probe.path, name.value, readiness.path
            );
            match (probe.literal, readiness.literal) {
                (Some(literal), _) | (None, Some(literal)) => cx.error_spanned_by(literal, message),
                (None, None) => cx.error_spanned_by(name.token(), message),
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
