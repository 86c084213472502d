//! Parsing of `#[healthz(...)]` on the struct and on its fields, into what
//! was written; `ast` applies the defaults.
//!
//! Keys are matched by hand from the closed set in [`keys`] so that every
//! message can name the key, list what is accepted and point at the one
//! token that is wrong.
//!
//! Over 400 lines only with its unit tests, which parse attributes and
//! read the messages, and belong beside the parser.

pub(crate) mod keys;
mod value;

use quote::{quote, ToTokens};
use syn::ext::IdentExt;
use syn::meta::ParseNestedMeta;
use syn::{Attribute, ExprPath, LitStr, Meta};

use self::keys::{Key, Level};
use crate::ctxt::Ctxt;

/// A duration given in an attribute, with its literal for spans and messages.
pub(crate) struct Duration {
    pub(crate) nanos: u64,
    pub(crate) literal: LitStr,
}

/// A count given in an attribute; `literal` is `None` for a rejected one.
pub(crate) struct Count {
    pub(crate) value: u32,
    pub(crate) literal: Option<syn::LitInt>,
}

/// When a check counts as failing: after this many consecutive failed
/// runs, or after failing without a pass for this many nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Threshold {
    Failures(u32),
    Failing(u64),
    /// No `fail_after`: as long as the check's client waits itself.
    Patience,
}

/// The probe a check runs in: the `probe` key of a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CheckProbe {
    Readiness,
    Liveness,
}

impl CheckProbe {
    /// Every probe a check can run in, in the order messages list them.
    pub(crate) const ALL: [Self; 2] = [Self::Readiness, Self::Liveness];

    /// The name `probe = "..."` gives it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Readiness => "readiness",
            Self::Liveness => "liveness",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|probe| probe.name() == name)
    }
}

/// A probe path given in an attribute.
pub(crate) struct ProbePath {
    pub(crate) literal: LitStr,
    /// Position among the struct's keys, so that a clash between two paths
    /// is reported on the one written second.
    pub(crate) position: usize,
}

/// The struct-level `#[healthz(...)]` keys; `None` where absent or invalid.
#[derive(Default)]
pub(crate) struct StructAttrs {
    pub(crate) timeout: Option<Duration>,
    pub(crate) cache: Option<Duration>,
    pub(crate) liveness: Option<ProbePath>,
    pub(crate) readiness: Option<ProbePath>,
    pub(crate) startup: Option<ProbePath>,
    pub(crate) krate: Option<syn::Path>,
    pub(crate) interval: Option<Duration>,
    pub(crate) jitter: Option<bool>,
    /// Every key written, valid or not (see [`StructAttrs::wrote`]).
    written: Vec<&'static Key>,
}

/// The field-level `#[healthz]` keys; `None` where absent or invalid.
#[derive(Default)]
pub(crate) struct FieldAttrs {
    /// The `healthz` of the first `#[healthz]` on the field, if any: the
    /// field is checked, and errors about the field as a whole point here.
    pub(crate) marker: Option<syn::Path>,
    pub(crate) name: Option<LitStr>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) critical: Option<bool>,
    pub(crate) busy_limit: Option<Duration>,
    pub(crate) with: Option<ExprPath>,
    pub(crate) interval: Option<Duration>,
    pub(crate) fail_after: Option<Threshold>,
    pub(crate) recover_after: Option<Count>,
    pub(crate) probe: Option<CheckProbe>,
    /// Every key written, valid or not (see [`StructAttrs::wrote`]).
    written: Vec<&'static Key>,
}

impl StructAttrs {
    /// Whether `key` was written, even with a value that was rejected: a
    /// key that was given but rejected must not fall back to its default in
    /// later checks, or one mistake would be reported twice.
    pub(crate) fn wrote(&self, key: &'static Key) -> bool {
        self.written.contains(&key)
    }

    pub(crate) fn from_attrs(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut parsed = Self::default();
        let mut position = 0;
        parsed.written = for_each_key(cx, attrs, Level::Struct, |key, meta| {
            position += 1;
            match *key {
                keys::PROBE_TIMEOUT => parsed.timeout = value::duration(cx, meta, key)?,
                keys::CACHE => parsed.cache = value::duration(cx, meta, key)?,
                keys::LIVENESS => parsed.liveness = value::probe_path(cx, meta, key, position)?,
                keys::READINESS => parsed.readiness = value::probe_path(cx, meta, key, position)?,
                keys::STARTUP => parsed.startup = value::probe_path(cx, meta, key, position)?,
                keys::CRATE => parsed.krate = value::crate_path(cx, meta, key)?,
                keys::INTERVAL => parsed.interval = value::duration(cx, meta, key)?,
                keys::JITTER => parsed.jitter = value::boolean(cx, meta, key)?,
                _ => unreachable!("key `{}` is in STRUCT_KEYS but not parsed", key.name),
            }
            Ok(())
        });
        parsed
    }
}

impl FieldAttrs {
    /// Whether `key` was written, even with a value that was rejected (see
    /// [`StructAttrs::wrote`]).
    pub(crate) fn wrote(&self, key: &'static Key) -> bool {
        self.written.contains(&key)
    }

    pub(crate) fn from_attrs(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut parsed = Self {
            marker: attrs
                .iter()
                .find(|attr| attr.path().is_ident("healthz"))
                .map(|attr| attr.path().clone()),
            ..Self::default()
        };
        parsed.written = for_each_key(cx, attrs, Level::Field, |key, meta| {
            match *key {
                keys::NAME => parsed.name = value::name(cx, meta, key)?,
                keys::CHECK_TIMEOUT => parsed.timeout = value::duration(cx, meta, key)?,
                keys::CRITICAL => parsed.critical = value::boolean(cx, meta, key)?,
                keys::BUSY_LIMIT => parsed.busy_limit = value::duration(cx, meta, key)?,
                keys::WITH => parsed.with = value::function(cx, meta, key)?,
                keys::CHECK_INTERVAL => parsed.interval = value::duration(cx, meta, key)?,
                keys::FAIL_AFTER => parsed.fail_after = value::threshold(cx, meta, key)?,
                keys::RECOVER_AFTER => parsed.recover_after = value::count(cx, meta, key)?,
                keys::PROBE => parsed.probe = value::check_probe(cx, meta, key)?,
                _ => unreachable!("key `{}` is in FIELD_KEYS but not parsed", key.name),
            }
            Ok(())
        });
        parsed
    }
}

/// Calls `parse_key` once per accepted, first-seen key in every
/// `#[healthz(...)]` of `attrs`, with the input positioned after the key.
/// Unknown and repeated keys are reported here and their values skipped.
/// Returns the accepted keys that were written.
fn for_each_key(
    cx: &Ctxt,
    attrs: &[Attribute],
    level: Level,
    mut parse_key: impl FnMut(&'static Key, &ParseNestedMeta<'_>) -> syn::Result<()>,
) -> Vec<&'static Key> {
    let mut seen: Vec<&'static Key> = Vec::new();
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("healthz")) {
        match &attr.meta {
            // `#[healthz]` on a field marks it as checked; on the struct it
            // asks for nothing beyond the defaults.
            Meta::Path(_) => continue,
            Meta::List(_) => {}
            Meta::NameValue(meta) => {
                let form = match level {
                    Level::Struct => "`#[healthz(key = value, ...)]`",
                    Level::Field => "`#[healthz]` or `#[healthz(key = value, ...)]`",
                };
                let (eq_token, value) = (&meta.eq_token, &meta.value);
                cx.error_spanned_by(
                    quote!(#eq_token #value),
                    format!("expected {form}, not `#[healthz = ...]`"),
                );
                continue;
            }
        }
        let result = attr.parse_nested_meta(|meta| {
            let written = key_text(&meta.path);
            match level.key(&written) {
                None => {
                    cx.error_spanned_by(&meta.path, level.unknown_key_message(&written));
                    value::skip(meta.input)
                }
                Some(key) if seen.contains(&key) => {
                    cx.error_spanned_by(
                        &meta.path,
                        format!("duplicate healthz attribute `{}`", key.name),
                    );
                    value::skip(meta.input)
                }
                Some(key) => {
                    seen.push(key);
                    parse_key(key, &meta)
                }
            }
        });
        // A syntax error (a missing comma, a stray token) ends this
        // attribute only; the others are still read.
        if let Err(error) = result {
            cx.syn_error(error);
        }
    }
    seen
}

fn key_text(path: &syn::Path) -> String {
    match path.get_ident() {
        Some(ident) => ident.unraw().to_string(),
        None => path.to_token_stream().to_string().replace(' ', ""),
    }
}

#[cfg(test)]
mod tests {
    use quote::ToTokens;
    use syn::{parse_quote, Attribute};

    use super::{FieldAttrs, StructAttrs};
    use crate::ctxt::Ctxt;

    /// Parses with `parse` and returns the result and every error message.
    fn run<T>(parse: impl FnOnce(&Ctxt) -> T) -> (T, Vec<String>) {
        let cx = Ctxt::new();
        let parsed = parse(&cx);
        let errors = match cx.check() {
            Ok(()) => Vec::new(),
            Err(error) => error.into_iter().map(|error| error.to_string()).collect(),
        };
        (parsed, errors)
    }

    fn struct_attrs(attrs: &[Attribute]) -> (StructAttrs, Vec<String>) {
        run(|cx| StructAttrs::from_attrs(cx, attrs))
    }

    fn field_attrs(attrs: &[Attribute]) -> (FieldAttrs, Vec<String>) {
        run(|cx| FieldAttrs::from_attrs(cx, attrs))
    }

    #[test]
    fn parses_every_struct_key() {
        let (parsed, errors) = struct_attrs(&[parse_quote! {
            #[healthz(timeout = "2s", cache = "0s", liveness = "/live", readiness = "/ready",
                      startup = "/started", crate = "::my::healthz")]
        }]);
        assert_eq!(errors, Vec::<String>::new());
        assert_eq!(parsed.timeout.map(|d| d.nanos), Some(2_000_000_000));
        assert_eq!(parsed.cache.map(|d| d.nanos), Some(0));
        assert_eq!(
            parsed.liveness.map(|p| p.literal.value()).as_deref(),
            Some("/live")
        );
        assert_eq!(parsed.readiness.map(|p| p.position), Some(4));
        assert_eq!(
            parsed.startup.map(|p| p.literal.value()).as_deref(),
            Some("/started")
        );
        let krate = parsed.krate.map(|path| path.to_token_stream().to_string());
        assert_eq!(krate.as_deref(), Some(":: my :: healthz"));
    }

    #[test]
    fn parses_every_field_key_across_attributes() {
        let (parsed, errors) = field_attrs(&[
            parse_quote!(#[doc = "not ours"]),
            parse_quote!(#[healthz(name = "cache", timeout = "300ms")]),
            parse_quote!(#[healthz(critical = false, with = crate::checks::ping)]),
            parse_quote!(#[healthz(busy_limit = "30s")]),
        ]);
        assert_eq!(errors, Vec::<String>::new());
        assert!(parsed.marker.is_some());
        assert_eq!(
            parsed.name.map(|name| name.value()).as_deref(),
            Some("cache")
        );
        assert_eq!(parsed.timeout.map(|d| d.nanos), Some(300_000_000));
        assert_eq!(parsed.critical, Some(false));
        assert_eq!(parsed.busy_limit.map(|d| d.nanos), Some(30_000_000_000));
        let with = parsed.with.map(|path| path.to_token_stream().to_string());
        assert_eq!(with.as_deref(), Some("crate :: checks :: ping"));
    }

    #[test]
    fn background_damping_and_liveness_keys() {
        let (parsed, errors) =
            struct_attrs(&[parse_quote!(#[healthz(interval = "5s", jitter = false)])]);
        assert_eq!(errors, Vec::<String>::new());
        assert_eq!(parsed.interval.map(|d| d.nanos), Some(5_000_000_000));
        assert_eq!(parsed.jitter, Some(false));

        let (parsed, errors) = field_attrs(&[parse_quote! {
            #[healthz(interval = "10s", fail_after = 3, recover_after = 2, probe = "liveness")]
        }]);
        assert_eq!(errors, Vec::<String>::new());
        assert_eq!(parsed.interval.map(|d| d.nanos), Some(10_000_000_000));
        assert_eq!(parsed.fail_after, Some(super::Threshold::Failures(3)));
        assert_eq!(parsed.recover_after.map(|c| c.value), Some(2));
        assert_eq!(parsed.probe, Some(super::CheckProbe::Liveness));

        let (parsed, errors) =
            field_attrs(&[parse_quote!(#[healthz(fail_after = "10s", probe = "readiness")])]);
        assert_eq!(errors, Vec::<String>::new());
        assert_eq!(
            parsed.fail_after,
            Some(super::Threshold::Failing(10_000_000_000))
        );
        assert_eq!(parsed.probe, Some(super::CheckProbe::Readiness));

        let (parsed, errors) = field_attrs(&[parse_quote! {
            #[healthz(fail_after = 0, recover_after = "2", probe = "startup")]
        }]);
        assert_eq!(
            errors,
            [
                "zero fail_after: write at least `fail_after = 1`",
                "expected a number of consecutive passes such as `recover_after = 2`",
                "unknown probe `startup`: a check runs in one of `probe = \"readiness\"` (the \
                 default), `probe = \"liveness\"`",
            ]
        );
        assert_eq!(parsed.probe, None);
        let (_, errors) = field_attrs(&[parse_quote!(#[healthz(probe = liveness)])]);
        assert_eq!(
            errors,
            ["expected a string literal such as `probe = \"liveness\"`"]
        );
        let (_, errors) =
            field_attrs(&[parse_quote!(#[healthz(fail_after = true, recover_after = 2u8)])]);
        assert_eq!(
            errors,
            [
                "expected a number of consecutive failures (`fail_after = 3`) or how long the \
                 check must keep failing (`fail_after = \"10s\"`)",
                "expected a whole number from 1 to 4294967295, such as `recover_after = 3`",
            ]
        );
    }

    /// The field flag `liveness` became `probe = "liveness"`: the old
    /// spelling says what to write, in every form it took.
    #[test]
    fn the_liveness_field_flag_says_to_write_probe() {
        for attr in [
            parse_quote!(#[healthz(liveness)]),
            parse_quote!(#[healthz(liveness = true)]),
            parse_quote!(#[healthz(name = "x", liveness = "/live")]),
        ] {
            let (parsed, errors) = field_attrs(&[attr]);
            assert_eq!(
                errors,
                [
                    "`liveness` is not a field key: write `probe = \"liveness\"` to run this \
                     check in the liveness probe (`liveness = \"/path\"` on the struct sets the \
                     liveness probe's path)"
                ]
            );
            assert!(parsed.probe.is_none());
        }
    }

    #[test]
    fn bare_marker_checks_the_field() {
        let (parsed, errors) = field_attrs(&[parse_quote!(#[healthz])]);
        assert!(errors.is_empty());
        assert!(parsed.marker.is_some());
        assert!(parsed.name.is_none() && parsed.timeout.is_none() && parsed.with.is_none());

        let (parsed, _) = field_attrs(&[parse_quote!(#[serde(default)])]);
        assert!(parsed.marker.is_none());
    }

    #[test]
    fn unknown_keys_list_what_is_accepted() {
        let (_, errors) =
            struct_attrs(&[parse_quote!(#[healthz(timout = "1s", critical = true, bogus(x))])]);
        assert_eq!(
            errors,
            [
                "unknown healthz attribute `timout` (did you mean `timeout`?); accepted on a \
                 struct: `timeout`, `cache`, `liveness`, `readiness`, `startup`, `crate`, `interval`, `jitter`",
                "unknown healthz attribute `critical` (it goes on a field); accepted on a \
                 struct: `timeout`, `cache`, `liveness`, `readiness`, `startup`, `crate`, `interval`, `jitter`",
                "unknown healthz attribute `bogus`; accepted on a struct: `timeout`, `cache`, \
                 `liveness`, `readiness`, `startup`, `crate`, `interval`, `jitter`",
            ]
        );
        let (_, errors) = field_attrs(&[parse_quote!(#[healthz(cache = "1s", nmae = "x")])]);
        assert_eq!(
            errors,
            [
                "unknown healthz attribute `cache` (it goes on the struct); accepted on a \
                 field: `name`, `timeout`, `critical`, `busy_limit`, `with`, `interval`, \
                 `fail_after`, `recover_after`, `probe`",
                "unknown healthz attribute `nmae` (did you mean `name`?); accepted on a \
                 field: `name`, `timeout`, `critical`, `busy_limit`, `with`, `interval`, \
                 `fail_after`, `recover_after`, `probe`",
            ]
        );
    }

    #[test]
    fn duplicates_are_reported_once_each_and_the_first_wins() {
        let (parsed, errors) = field_attrs(&[
            parse_quote!(#[healthz(timeout = "1s", timeout = "2s")]),
            parse_quote!(#[healthz(timeout = "3s")]),
        ]);
        assert_eq!(
            errors,
            [
                "duplicate healthz attribute `timeout`",
                "duplicate healthz attribute `timeout`"
            ]
        );
        assert_eq!(parsed.timeout.map(|d| d.nanos), Some(1_000_000_000));
    }

    #[test]
    fn wrong_value_kinds() {
        let (_, errors) = field_attrs(&[parse_quote! {
            #[healthz(critical = "yes", timeout = 5, name = 1, with = "f", busy_limit = 15)]
        }]);
        assert_eq!(
            errors,
            [
                "expected `critical = true` or `critical = false`",
                "expected a duration string literal: write `\"5s\"` (units: `ns`, `us`, `ms`, \
                 `s`, `m`)",
                "expected a string literal such as `name = \"db\"`",
                "expected a path to a check function, not a string: write `with = f`",
                "expected a duration string literal: write `\"15s\"` (units: `ns`, `us`, `ms`, \
                 `s`, `m`)",
            ]
        );
        let (_, errors) = struct_attrs(&[parse_quote! {
            #[healthz(timeout = 5ms, liveness = healthz, crate = healthz, cache)]
        }]);
        assert_eq!(
            errors,
            [
                "expected a duration string literal: write `\"5ms\"` (units: `ns`, `us`, `ms`, \
                 `s`, `m`)",
                "expected a string literal such as `liveness = \"/liveness\"`",
                "expected a string literal containing a path, such as \
                 `crate = \"::my_reexports::healthz\"`",
                "expected a value: `cache = \"500ms\"`",
            ]
        );
    }

    #[test]
    fn bad_durations_and_zero_timeouts() {
        let (parsed, errors) =
            struct_attrs(&[parse_quote!(#[healthz(timeout = "0s", cache = "0ms")])]);
        assert_eq!(
            errors,
            ["zero timeout `0s`: a timeout must be greater than zero"]
        );
        assert_eq!(parsed.cache.map(|d| d.nanos), Some(0));

        let (_, errors) = field_attrs(&[parse_quote!(#[healthz(timeout = "5h")])]);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("unknown duration unit `h` in `5h`"),
            "{errors:?}"
        );

        let (parsed, errors) = field_attrs(&[parse_quote! {
            #[healthz(busy_limit = "0s", timeout = "1.5s")]
        }]);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(
            errors[0],
            "zero busy_limit `0s`: a busy_limit must be greater than zero"
        );
        assert!(
            errors[1].starts_with("malformed duration `1.5s`"),
            "{errors:?}"
        );
        assert!(parsed.wrote(&super::keys::BUSY_LIMIT) && parsed.busy_limit.is_none());
    }

    #[test]
    fn name_value_form_is_rejected() {
        let (_, errors) = field_attrs(&[parse_quote!(#[healthz = "x"])]);
        assert_eq!(
            errors,
            ["expected `#[healthz]` or `#[healthz(key = value, ...)]`, not `#[healthz = ...]`"]
        );
    }

    #[test]
    fn a_syntax_error_ends_only_its_attribute() {
        let (parsed, errors) = field_attrs(&[
            parse_quote!(#[healthz(name = "a" critical = false)]),
            parse_quote!(#[healthz(timeout = "1s")]),
        ]);
        assert_eq!(errors, ["expected `,`"]);
        assert_eq!(parsed.name.map(|name| name.value()).as_deref(), Some("a"));
        assert_eq!(parsed.timeout.map(|d| d.nanos), Some(1_000_000_000));
    }

    #[test]
    fn raw_and_macro_wrapped_values() {
        let (parsed, errors) = field_attrs(&[parse_quote!(#[healthz(r#name = "x")])]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(parsed.name.map(|name| name.value()).as_deref(), Some("x"));
    }
}
