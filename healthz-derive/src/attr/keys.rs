//! Every `#[healthz(...)]` key, the kind of value it takes and its default,
//! in one table: the parser, the accepted-keys lists of error messages and
//! the model's defaults all read it.

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
pub(crate) const FAIL_AFTER: Key = key("fail_after", Kind::Threshold, Some("1"));
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
    use super::{is_typo_of, Kind, FIELD_KEYS, RETIRED_FIELD_KEYS, STRUCT_KEYS};

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

    #[test]
    fn typo_distance() {
        assert!(is_typo_of("timout", "timeout"));
        assert!(is_typo_of("critcal", "critical"));
        assert!(is_typo_of("readyness", "readiness"));
        assert!(is_typo_of("busylimit", "busy_limit"));
        assert!(!is_typo_of("bogus", "cache"));
    }
}
