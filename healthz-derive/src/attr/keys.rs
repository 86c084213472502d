//! Every `#[healthz(...)]` key, the kind of value it takes and its default,
//! in one table: the parser, the accepted-keys lists of error messages and
//! the model's defaults all read it.
//!
//! Over 400 lines only with its unit tests, which check the table (its
//! defaults, its names, the docs' lists of keys) and belong beside it.

use crate::duration;

/// What a key's value must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A duration string such as `"500ms"`; `zero_allowed` for the cache
    /// lifetime, where `"0s"` turns the cache off.
    Duration { zero_allowed: bool },
    /// A string holding a probe path.
    ProbePath,
    /// A string holding a path to the `healthz` crate.
    CratePath,
    /// A string holding a check name.
    Name,
    /// `true` or `false`.
    Bool,
    /// A bare path to a check function.
    Function,
    /// A whole number, at least 1.
    Count,
    /// A number of consecutive failures (`3`) or a duration of failing
    /// (`"10s"`).
    Threshold,
    /// A string naming the probe a check runs in, one of
    /// [`CheckProbe::ALL`](crate::attr::CheckProbe::ALL).
    CheckProbe,
}

/// One accepted key.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Key {
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    /// The default as a user would write it; `None` where the default comes
    /// from elsewhere (the field's name, the probe timeout, the field type's
    /// `Check` impl).
    pub(crate) default: Option<&'static str>,
}

const fn key(name: &'static str, kind: Kind, default: Option<&'static str>) -> Key {
    Key {
        name,
        kind,
        default,
    }
}

const NON_ZERO: Kind = Kind::Duration {
    zero_allowed: false,
};

pub(crate) const PROBE_TIMEOUT: Key = key("timeout", NON_ZERO, Some("800ms"));
pub(crate) const CACHE: Key = key("cache", Kind::Duration { zero_allowed: true }, Some("1s"));
pub(crate) const LIVENESS: Key = key("liveness", Kind::ProbePath, Some("/healthz"));
pub(crate) const READINESS: Key = key("readiness", Kind::ProbePath, Some("/readiness"));
pub(crate) const STARTUP: Key = key("startup", Kind::ProbePath, Some("/startupz"));
pub(crate) const CRATE: Key = key("crate", Kind::CratePath, Some("::healthz"));
/// Off by default: checks run when a probe asks.
pub(crate) const INTERVAL: Key = key("interval", NON_ZERO, None);
pub(crate) const JITTER: Key = key("jitter", Kind::Bool, Some("true"));

pub(crate) const NAME: Key = key("name", Kind::Name, None);
pub(crate) const CHECK_TIMEOUT: Key = key("timeout", NON_ZERO, None);
pub(crate) const CRITICAL: Key = key("critical", Kind::Bool, Some("true"));
pub(crate) const BUSY_LIMIT: Key = key("busy_limit", NON_ZERO, Some("15s"));
pub(crate) const WITH: Key = key("with", Kind::Function, None);
/// The struct's `interval` by default.
pub(crate) const CHECK_INTERVAL: Key = key("interval", NON_ZERO, None);
/// By default, the check's client's patience (`Check::patience`), else 1.
pub(crate) const FAIL_AFTER: Key = key("fail_after", Kind::Threshold, None);
pub(crate) const RECOVER_AFTER: Key = key("recover_after", Kind::Count, Some("1"));
pub(crate) const PROBE: Key = key("probe", Kind::CheckProbe, Some("readiness"));

/// A key that is no longer accepted where it once was, and what to write
/// instead.
pub(crate) struct Retired {
    pub(crate) name: &'static str,
    pub(crate) message: &'static str,
}

/// Field keys that are no longer accepted: `liveness` was both the
/// struct's liveness path and a field's flag, two meanings for one word.
pub(crate) const RETIRED_FIELD_KEYS: &[Retired] = &[Retired {
    name: "liveness",
    message: "`liveness` is not a field key: write `probe = \"liveness\"` to run this check \
              in the liveness probe (`liveness = \"/path\"` on the struct sets the liveness \
              probe's path)",
}];

/// The shortest `interval`: a shorter one turns every pod into a load
/// generator against its own dependencies.
pub(crate) const MIN_INTERVAL_NANOS: u64 = 100_000_000;

/// The struct-level keys, in the order error messages list them.
pub(crate) const STRUCT_KEYS: &[Key] = &[
    PROBE_TIMEOUT,
    CACHE,
    LIVENESS,
    READINESS,
    STARTUP,
    CRATE,
    INTERVAL,
    JITTER,
];
/// The field-level keys, in the order error messages list them.
pub(crate) const FIELD_KEYS: &[Key] = &[
    NAME,
    CHECK_TIMEOUT,
    CRITICAL,
    BUSY_LIMIT,
    WITH,
    CHECK_INTERVAL,
    FAIL_AFTER,
    RECOVER_AFTER,
    PROBE,
];

impl Key {
    /// The default, as a user would write it.
    pub(crate) fn default_text(&self) -> &'static str {
        self.default
            .unwrap_or_else(|| panic!("key `{}` has no default of its own", self.name))
    }

    /// The default of a duration key, in nanoseconds.
    pub(crate) fn default_nanos(&self) -> u64 {
        duration::parse(self.default_text()).expect("default durations are valid")
    }

    pub(crate) fn default_bool(&self) -> bool {
        self.default_text()
            .parse()
            .expect("default booleans are `true` or `false`")
    }

    /// The default of a count key (or of a threshold, as a count).
    pub(crate) fn default_count(&self) -> u32 {
        self.default_text()
            .parse()
            .expect("default counts are whole numbers")
    }

    pub(crate) fn default_path(&self) -> syn::Path {
        syn::parse_str(self.default_text()).expect("default paths are valid")
    }

    /// How the key is written, for messages that say what is expected.
    pub(crate) fn example(&self) -> String {
        let name = self.name;
        match self.kind {
            Kind::Duration { .. } => format!("{name} = \"500ms\""),
            Kind::ProbePath => format!("{name} = \"/{name}\""),
            Kind::CratePath => format!("{name} = \"::my_reexports::healthz\""),
            Kind::Name => format!("{name} = \"db\""),
            Kind::Bool => format!("{name} = false"),
            Kind::Function => format!("{name} = my_check"),
            Kind::Count => format!("{name} = 2"),
            Kind::Threshold => format!("{name} = 3"),
            Kind::CheckProbe => format!("{name} = \"liveness\""),
        }
    }

    #[cfg(test)]
    /// The default as the docs' tables show it: quoted for the keys whose
    /// value is a string literal (`"800ms"`), bare otherwise (`true`).
    pub(crate) fn documented_default(&self) -> Option<String> {
        let default = self.default?;
        Some(match self.kind {
            Kind::Duration { .. }
            | Kind::ProbePath
            | Kind::CratePath
            | Kind::Name
            | Kind::CheckProbe => format!("\"{default}\""),
            Kind::Bool | Kind::Function | Kind::Count | Kind::Threshold => default.to_owned(),
        })
    }
}

/// Where an attribute sits, which decides the keys it accepts.
#[derive(Clone, Copy)]
pub(crate) enum Level {
    Struct,
    Field,
}

impl Level {
    pub(crate) fn keys(self) -> &'static [Key] {
        match self {
            Self::Struct => STRUCT_KEYS,
            Self::Field => FIELD_KEYS,
        }
    }

    fn other(self) -> Self {
        match self {
            Self::Struct => Self::Field,
            Self::Field => Self::Struct,
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Self::Struct => "struct",
            Self::Field => "field",
        }
    }

    fn place(self) -> &'static str {
        match self {
            Self::Struct => "the struct",
            Self::Field => "a field",
        }
    }

    /// The accepted key named `written`, if there is one.
    pub(crate) fn key(self, written: &str) -> Option<&'static Key> {
        self.keys().iter().find(|key| key.name == written)
    }

    fn retired_keys(self) -> &'static [Retired] {
        match self {
            Self::Struct => &[],
            Self::Field => RETIRED_FIELD_KEYS,
        }
    }

    pub(crate) fn unknown_key_message(self, written: &str) -> String {
        if let Some(retired) = self.retired_keys().iter().find(|key| key.name == written) {
            return retired.message.to_owned();
        }
        let hint = if self.other().key(written).is_some() {
            format!(" (it goes on {})", self.other().place())
        } else if let Some(close) = self.keys().iter().find(|key| is_typo_of(written, key.name)) {
            format!(" (did you mean `{}`?)", close.name)
        } else {
            String::new()
        };
        let accepted: Vec<String> = self
            .keys()
            .iter()
            .map(|key| format!("`{}`", key.name))
            .collect();
        format!(
            "unknown healthz attribute `{written}`{hint}; accepted on a {}: {}",
            self.noun(),
            accepted.join(", ")
        )
    }
}

/// Whether `written` is at most two single-character edits from `key`.
fn is_typo_of(written: &str, key: &str) -> bool {
    let written: Vec<char> = written.chars().collect();
    if written.len() < 3 {
        return false;
    }
    let mut previous: Vec<usize> = (0..=written.len()).collect();
    for (i, key_char) in key.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, written_char) in written.iter().enumerate() {
            let substitution = previous[j] + usize::from(*written_char != key_char);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[written.len()] <= 2
}

#[cfg(test)]
mod tests {
    use super::{is_typo_of, Key, Kind, FIELD_KEYS, RETIRED_FIELD_KEYS, STRUCT_KEYS};

    #[test]
    fn every_default_is_valid_for_its_kind() {
        for key in STRUCT_KEYS.iter().chain(FIELD_KEYS) {
            let Some(default) = key.default else {
                continue;
            };
            match key.kind {
                Kind::Duration { zero_allowed } => {
                    assert!(zero_allowed || key.default_nanos() > 0, "{key:?}");
                }
                Kind::ProbePath => {
                    assert_eq!(crate::valid::path_problem(default), None, "{key:?}");
                }
                Kind::CratePath => drop(key.default_path()),
                Kind::Bool => drop(key.default_bool()),
                Kind::CheckProbe => assert!(
                    crate::attr::CheckProbe::from_name(default).is_some(),
                    "{key:?}"
                ),
                Kind::Count | Kind::Threshold => assert!(key.default_count() >= 1, "{key:?}"),
                Kind::Name | Kind::Function => panic!("{key:?} cannot have a default"),
            }
        }
    }

    #[test]
    fn names_are_unique_per_level() {
        for keys in [STRUCT_KEYS, FIELD_KEYS] {
            for (index, key) in keys.iter().enumerate() {
                assert!(
                    keys[index + 1..].iter().all(|other| other.name != key.name),
                    "{key:?}"
                );
            }
        }
    }

    #[test]
    fn retired_keys_are_not_accepted() {
        for retired in RETIRED_FIELD_KEYS {
            assert!(FIELD_KEYS.iter().all(|key| key.name != retired.name));
        }
    }

    /// The rows of the first Markdown table after the line containing
    /// `heading`, as cells, header and separator left out; `///` of doc
    /// comments is stripped.
    fn table_after(text: &str, heading: &str) -> Vec<Vec<String>> {
        let lines: Vec<&str> = text
            .lines()
            .map(|line| line.trim_start().trim_start_matches("///").trim())
            .collect();
        let start = lines
            .iter()
            .position(|line| line.contains(heading))
            .unwrap_or_else(|| panic!("no `{heading}` in the docs"));
        lines[start..]
            .iter()
            .skip_while(|line| !line.starts_with('|'))
            .take_while(|line| line.starts_with('|'))
            .skip(2)
            .map(|row| {
                let cells = row.trim_matches('|').split(" | ");
                cells.map(|cell| cell.trim().to_owned()).collect()
            })
            .collect()
    }

    /// The key a table's first cell names: `` `timeout` `` or
    /// `` `timeout = "800ms"` ``.
    fn key_of(cell: &str) -> &str {
        let written = cell.trim_start_matches('`');
        let end = written.find([' ', '=', '`']).unwrap_or(written.len());
        &written[..end]
    }

    /// Every key the derive accepts at one level appears once in a table of
    /// the docs, with its default, and the table lists no other key.
    fn assert_documented(
        document: &str,
        heading: &str,
        default_column: usize,
        keys: &[Key],
    ) -> Vec<String> {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(document),
        )
        .unwrap_or_else(|error| panic!("{document}: {error}"));
        let rows = table_after(&text, heading);
        let documented: Vec<&str> = rows.iter().map(|row| key_of(&row[0])).collect();
        let mut problems = Vec::new();
        for key in keys {
            let Some(row) = rows.iter().find(|row| key_of(&row[0]) == key.name) else {
                problems.push(format!(
                    "{document} ({heading}): key `{}` missing",
                    key.name
                ));
                continue;
            };
            if let Some(default) = key.documented_default() {
                let cell = row.get(default_column).map_or("", String::as_str);
                if !cell.contains(&format!("`{default}`")) {
                    problems.push(format!(
                        "{document} ({heading}): key `{}` has default `{default}`, not {cell:?}",
                        key.name
                    ));
                }
            }
        }
        for (index, name) in documented.iter().enumerate() {
            if !keys.iter().any(|key| key.name == *name) {
                problems.push(format!("{document} ({heading}): `{name}` is not a key"));
            } else if documented[..index].contains(name) {
                problems.push(format!("{document} ({heading}): `{name}` is listed twice"));
            }
        }
        problems
    }

    /// The tables of the derive's docs (docs.rs shows them) and of the
    /// README list exactly the keys of [`STRUCT_KEYS`] and [`FIELD_KEYS`],
    /// with their defaults.
    #[test]
    fn the_docs_list_every_key() {
        let problems: Vec<String> = [
            ("src/lib.rs", "# Struct attributes", 2, STRUCT_KEYS),
            ("src/lib.rs", "# Field attributes", 2, FIELD_KEYS),
            (
                "../README.md",
                "On the struct, `#[healthz(...)]`",
                1,
                STRUCT_KEYS,
            ),
            ("../README.md", "On a field, `#[healthz]`", 1, FIELD_KEYS),
        ]
        .into_iter()
        .flat_map(|(document, heading, default_column, keys)| {
            assert_documented(document, heading, default_column, keys)
        })
        .collect();
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn typo_distance() {
        assert!(is_typo_of("timout", "timeout"));
        assert!(is_typo_of("critcal", "critical"));
        assert!(is_typo_of("readyness", "readiness"));
        assert!(is_typo_of("busylimit", "busy_limit"));
        assert!(!is_typo_of("bogus", "cache"));
    }
}
