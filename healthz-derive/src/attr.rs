//! Parsing of `#[healthz(...)]` on the struct and on its fields.
//!
//! Keys are matched by hand from a closed set so that every message can
//! name the key, list what is accepted and point at the one token that is
//! wrong. Values are first read as any expression, then checked for the
//! expected kind: a wrong kind (`critical = "yes"`) is then reported like
//! any other mistake, and parsing continues with the next key.

use proc_macro2::TokenTree;
use quote::{quote, ToTokens};
use syn::ext::IdentExt;
use syn::meta::ParseNestedMeta;
use syn::parse::ParseStream;
use syn::{Attribute, Expr, ExprLit, ExprPath, Lit, LitStr, Meta, Token};

use crate::ctxt::Ctxt;
use crate::duration;

pub(crate) const STRUCT_KEYS: &[&str] = &[
    "timeout",
    "cache",
    "liveness",
    "readiness",
    "startup",
    "crate",
];
pub(crate) const FIELD_KEYS: &[&str] = &["name", "timeout", "critical", "with"];

/// Defaults of the struct-level keys, in the form a user would write them.
pub(crate) const DEFAULT_TIMEOUT: &str = "800ms";
pub(crate) const DEFAULT_CACHE: &str = "1s";
pub(crate) const DEFAULT_LIVENESS: &str = "/healthz";
pub(crate) const DEFAULT_READINESS: &str = "/readiness";
pub(crate) const DEFAULT_STARTUP: &str = "/startupz";

/// A duration given in an attribute, with its literal for spans and messages.
pub(crate) struct Duration {
    pub(crate) nanos: u64,
    pub(crate) literal: LitStr,
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
    /// Every key written, valid or not: a key that was given but rejected
    /// must not fall back to its default in later checks, or one mistake
    /// would be reported twice.
    pub(crate) written: Vec<&'static str>,
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
    pub(crate) with: Option<ExprPath>,
    /// Every key written, valid or not (see [`StructAttrs::written`]).
    pub(crate) written: Vec<&'static str>,
}

#[derive(Clone, Copy)]
enum Level {
    Struct,
    Field,
}

impl Level {
    fn keys(self) -> &'static [&'static str] {
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
}

impl StructAttrs {
    /// Whether `key` was written, even with a value that was rejected.
    pub(crate) fn wrote(&self, key: &str) -> bool {
        self.written.contains(&key)
    }

    pub(crate) fn from_attrs(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut parsed = Self::default();
        let mut position = 0;
        parsed.written = for_each_key(cx, attrs, Level::Struct, |key, meta| {
            position += 1;
            match key {
                "timeout" => parsed.timeout = duration_value(cx, meta, key, false)?,
                "cache" => parsed.cache = duration_value(cx, meta, key, true)?,
                "liveness" => parsed.liveness = path_value(cx, meta, key, position)?,
                "readiness" => parsed.readiness = path_value(cx, meta, key, position)?,
                "startup" => parsed.startup = path_value(cx, meta, key, position)?,
                "crate" => parsed.krate = crate_value(cx, meta)?,
                _ => unreachable!("key `{key}` is in STRUCT_KEYS but not parsed"),
            }
            Ok(())
        });
        parsed
    }
}

impl FieldAttrs {
    /// Whether `key` was written, even with a value that was rejected.
    pub(crate) fn wrote(&self, key: &str) -> bool {
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
            match key {
                "name" => parsed.name = name_value(cx, meta)?,
                "timeout" => parsed.timeout = duration_value(cx, meta, key, false)?,
                "critical" => parsed.critical = bool_value(cx, meta, key)?,
                "with" => parsed.with = with_value(cx, meta)?,
                _ => unreachable!("key `{key}` is in FIELD_KEYS but not parsed"),
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
    mut parse_key: impl FnMut(&'static str, &ParseNestedMeta<'_>) -> syn::Result<()>,
) -> Vec<&'static str> {
    let mut seen: Vec<&'static str> = Vec::new();
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
            let accepted = level.keys().iter().copied().find(|key| *key == written);
            match accepted {
                None => {
                    cx.error_spanned_by(&meta.path, unknown_key_message(&written, level));
                    skip_value(meta.input)
                }
                Some(key) if seen.contains(&key) => {
                    cx.error_spanned_by(&meta.path, format!("duplicate healthz attribute `{key}`"));
                    skip_value(meta.input)
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

fn unknown_key_message(written: &str, level: Level) -> String {
    let hint = if level.other().keys().contains(&written) {
        format!(" (it goes on {})", level.other().place())
    } else if let Some(close) = level.keys().iter().find(|key| is_typo_of(written, key)) {
        format!(" (did you mean `{close}`?)")
    } else {
        String::new()
    };
    format!(
        "unknown healthz attribute `{written}`{hint}; accepted on a {}: {}",
        level.noun(),
        quoted_list(level.keys())
    )
}

/// `` `a`, `b`, `c` ``
fn quoted_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| format!("`{item}`")).collect();
    quoted.join(", ")
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

/// Skips the `= value` or `(...)` after a key that will not be used, up to
/// the next top-level comma.
fn skip_value(input: ParseStream<'_>) -> syn::Result<()> {
    input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((token, next)) = rest.token_tree() {
            if matches!(&token, TokenTree::Punct(punct) if punct.as_char() == ',') {
                break;
            }
            rest = next;
        }
        Ok(((), rest))
    })
}

/// The expression after `key =`, with invisible groups (from `macro_rules!`
/// expansions) removed. Reports and returns `None` when there is no `=`.
fn value_expr(cx: &Ctxt, meta: &ParseNestedMeta<'_>, example: &str) -> syn::Result<Option<Expr>> {
    if !meta.input.peek(Token![=]) {
        cx.error_spanned_by(&meta.path, format!("expected a value: `{example}`"));
        skip_value(meta.input)?;
        return Ok(None);
    }
    let mut value: Expr = meta.value()?.parse()?;
    while let Expr::Group(group) = value {
        value = *group.expr;
    }
    Ok(Some(value))
}

fn string_literal(value: &Expr) -> Option<&LitStr> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(literal),
            attrs,
        }) if attrs.is_empty() => Some(literal),
        _ => None,
    }
}

fn duration_value(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: &str,
    zero_allowed: bool,
) -> syn::Result<Option<Duration>> {
    let Some(value) = value_expr(cx, meta, &format!("{key} = \"500ms\""))? else {
        return Ok(None);
    };
    let Some(literal) = string_literal(&value) else {
        cx.error_spanned_by(&value, duration_kind_message(&value));
        return Ok(None);
    };
    match duration::parse(&literal.value()) {
        Ok(0) if !zero_allowed => {
            cx.error_spanned_by(
                literal,
                format!(
                    "zero {key} `{}`: a {key} must be greater than zero",
                    literal.value()
                ),
            );
            Ok(None)
        }
        Ok(nanos) => Ok(Some(Duration {
            nanos,
            literal: literal.clone(),
        })),
        Err(error) => {
            cx.error_spanned_by(literal, error);
            Ok(None)
        }
    }
}

fn duration_kind_message(value: &Expr) -> String {
    if let Expr::Lit(ExprLit {
        lit: Lit::Int(number),
        ..
    }) = value
    {
        // `5ms` is a valid token (an integer with a suffix), so the intent
        // is clear: say how to write it.
        let unit = if number.suffix().is_empty() {
            "s"
        } else {
            number.suffix()
        };
        return format!(
            "expected a duration string literal: write `\"{}{unit}\"` (units: {})",
            number.base10_digits(),
            duration::unit_list()
        );
    }
    format!(
        "expected a duration string literal such as `\"500ms\"` (units: {})",
        duration::unit_list()
    )
}

fn path_value(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: &str,
    position: usize,
) -> syn::Result<Option<ProbePath>> {
    let example = format!("{key} = \"/{key}\"");
    let Some(value) = value_expr(cx, meta, &example)? else {
        return Ok(None);
    };
    match string_literal(&value) {
        Some(literal) => Ok(Some(ProbePath {
            literal: literal.clone(),
            position,
        })),
        None => {
            cx.error_spanned_by(
                &value,
                format!("expected a string literal such as `{example}`"),
            );
            Ok(None)
        }
    }
}

fn crate_value(cx: &Ctxt, meta: &ParseNestedMeta<'_>) -> syn::Result<Option<syn::Path>> {
    const EXAMPLE: &str = "crate = \"::my_reexports::healthz\"";
    let Some(value) = value_expr(cx, meta, EXAMPLE)? else {
        return Ok(None);
    };
    let Some(literal) = string_literal(&value) else {
        cx.error_spanned_by(
            &value,
            format!("expected a string literal containing a path, such as `{EXAMPLE}`"),
        );
        return Ok(None);
    };
    match literal.parse::<syn::Path>() {
        Ok(path) => Ok(Some(path)),
        Err(_) => {
            cx.error_spanned_by(
                literal,
                format!(
                    "expected a path to the healthz crate inside the string, such as `{EXAMPLE}`"
                ),
            );
            Ok(None)
        }
    }
}

fn name_value(cx: &Ctxt, meta: &ParseNestedMeta<'_>) -> syn::Result<Option<LitStr>> {
    const EXAMPLE: &str = "name = \"db\"";
    let Some(value) = value_expr(cx, meta, EXAMPLE)? else {
        return Ok(None);
    };
    match string_literal(&value) {
        Some(literal) => Ok(Some(literal.clone())),
        None => {
            cx.error_spanned_by(
                &value,
                format!("expected a string literal such as `{EXAMPLE}`"),
            );
            Ok(None)
        }
    }
}

fn bool_value(cx: &Ctxt, meta: &ParseNestedMeta<'_>, key: &str) -> syn::Result<Option<bool>> {
    let Some(value) = value_expr(cx, meta, &format!("{key} = false"))? else {
        return Ok(None);
    };
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(literal),
            ..
        }) => Ok(Some(literal.value)),
        _ => {
            cx.error_spanned_by(
                &value,
                format!("expected `{key} = true` or `{key} = false`"),
            );
            Ok(None)
        }
    }
}

fn with_value(cx: &Ctxt, meta: &ParseNestedMeta<'_>) -> syn::Result<Option<ExprPath>> {
    const EXAMPLE: &str = "with = my_check";
    let Some(value) = value_expr(cx, meta, EXAMPLE)? else {
        return Ok(None);
    };
    match value {
        Expr::Path(path) if path.attrs.is_empty() => Ok(Some(path)),
        other => {
            let message = match string_literal(&other).map(LitStr::parse::<ExprPath>) {
                // serde takes `with = "path"`; here the path is written bare
                // so that it resolves and is checked like any other path.
                Some(Ok(path)) => format!(
                    "expected a path to a check function, not a string: write `with = {}`",
                    path.to_token_stream().to_string().replace(' ', "")
                ),
                _ => format!(
                    "expected a path to an async check function, such as `{EXAMPLE}`, that \
                     takes `&FieldType` and returns `Result<(), E>`"
                ),
            };
            cx.error_spanned_by(&other, message);
            Ok(None)
        }
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
        ]);
        assert_eq!(errors, Vec::<String>::new());
        assert!(parsed.marker.is_some());
        assert_eq!(
            parsed.name.map(|name| name.value()).as_deref(),
            Some("cache")
        );
        assert_eq!(parsed.timeout.map(|d| d.nanos), Some(300_000_000));
        assert_eq!(parsed.critical, Some(false));
        let with = parsed.with.map(|path| path.to_token_stream().to_string());
        assert_eq!(with.as_deref(), Some("crate :: checks :: ping"));
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
                 struct: `timeout`, `cache`, `liveness`, `readiness`, `startup`, `crate`",
                "unknown healthz attribute `critical` (it goes on a field); accepted on a \
                 struct: `timeout`, `cache`, `liveness`, `readiness`, `startup`, `crate`",
                "unknown healthz attribute `bogus`; accepted on a struct: `timeout`, `cache`, \
                 `liveness`, `readiness`, `startup`, `crate`",
            ]
        );
        let (_, errors) = field_attrs(&[parse_quote!(#[healthz(cache = "1s", nmae = "x")])]);
        assert_eq!(
            errors,
            [
                "unknown healthz attribute `cache` (it goes on the struct); accepted on a \
                 field: `name`, `timeout`, `critical`, `with`",
                "unknown healthz attribute `nmae` (did you mean `name`?); accepted on a \
                 field: `name`, `timeout`, `critical`, `with`",
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
            #[healthz(critical = "yes", timeout = 5, name = 1, with = "f")]
        }]);
        assert_eq!(
            errors,
            [
                "expected `critical = true` or `critical = false`",
                "expected a duration string literal: write `\"5s\"` (units: `ns`, `us`, `ms`, \
                 `s`, `m`)",
                "expected a string literal such as `name = \"db\"`",
                "expected a path to a check function, not a string: write `with = f`",
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

    #[test]
    fn typo_distance() {
        assert!(super::is_typo_of("timout", "timeout"));
        assert!(super::is_typo_of("critcal", "critical"));
        assert!(super::is_typo_of("readyness", "readiness"));
        assert!(!super::is_typo_of("bogus", "cache"));
    }
}
