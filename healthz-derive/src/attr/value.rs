//! The value after `key =`, one parser per kind of key.
//!
//! Values are first read as any expression, then checked for the expected
//! kind: a wrong kind (`critical = "yes"`) is then reported like any other
//! mistake, and parsing continues with the next key. Each parser returns
//! `Ok(None)` for a value it reported.

use proc_macro2::TokenTree;
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::parse::ParseStream;
use syn::{Expr, ExprLit, ExprPath, Lit, LitStr, Token};

use super::keys::{Key, Kind};
use super::{CheckProbe, Count, Duration, ProbePath, Threshold};
use crate::ctxt::Ctxt;

/// Skips the `= value` or `(...)` after a key that will not be used, up to
/// the next top-level comma.
pub(super) fn skip(input: ParseStream<'_>) -> syn::Result<()> {
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
fn expr(cx: &Ctxt, meta: &ParseNestedMeta<'_>, key: &Key) -> syn::Result<Option<Expr>> {
    if !meta.input.peek(Token![=]) {
        cx.error_spanned_by(&meta.path, format!("expected a value: `{}`", key.example()));
        skip(meta.input)?;
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

/// A string literal, for keys whose value is a plain string.
fn plain_string(cx: &Ctxt, meta: &ParseNestedMeta<'_>, key: &Key) -> syn::Result<Option<LitStr>> {
    let Some(value) = expr(cx, meta, key)? else {
        return Ok(None);
    };
    match string_literal(&value) {
        Some(literal) => Ok(Some(literal.clone())),
        None => {
            cx.error_spanned_by(
                &value,
                format!("expected a string literal such as `{}`", key.example()),
            );
            Ok(None)
        }
    }
}

pub(super) fn duration(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: &Key,
) -> syn::Result<Option<Duration>> {
    let Some(value) = expr(cx, meta, key)? else {
        return Ok(None);
    };
    let Some(literal) = string_literal(&value) else {
        cx.error_spanned_by(&value, duration_kind_message(&value));
        return Ok(None);
    };
    let zero_allowed = matches!(key.kind, Kind::Duration { zero_allowed: true });
    let name = key.name;
    match crate::duration::parse(&literal.value()) {
        Ok(0) if !zero_allowed => {
            cx.error_spanned_by(
                literal,
                format!(
                    "zero {name} `{}`: a {name} must be greater than zero",
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
            crate::duration::unit_list()
        );
    }
    format!(
        "expected a duration string literal such as `\"500ms\"` (units: {})",
        crate::duration::unit_list()
    )
}

pub(super) fn probe_path(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: &Key,
    position: usize,
) -> syn::Result<Option<ProbePath>> {
    let literal = plain_string(cx, meta, key)?;
    Ok(literal.map(|literal| ProbePath { literal, position }))
}

pub(super) fn name(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: &Key,
) -> syn::Result<Option<LitStr>> {
    plain_string(cx, meta, key)
}

pub(super) fn crate_path(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: &Key,
) -> syn::Result<Option<syn::Path>> {
    let example = key.example();
    let Some(value) = expr(cx, meta, key)? else {
        return Ok(None);
    };
    let Some(literal) = string_literal(&value) else {
        cx.error_spanned_by(
            &value,
            format!("expected a string literal containing a path, such as `{example}`"),
        );
        return Ok(None);
    };
    match literal.parse::<syn::Path>() {
        Ok(path) => Ok(Some(path)),
        Err(_) => {
            cx.error_spanned_by(
                literal,
                format!(
                    "expected a path to the healthz crate inside the string, such as `{example}`"
                ),
            );
            Ok(None)
        }
    }
}

pub(super) fn boolean(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: &Key,
) -> syn::Result<Option<bool>> {
    let Some(value) = expr(cx, meta, key)? else {
        return Ok(None);
    };
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(literal),
            ..
        }) => Ok(Some(literal.value)),
        _ => {
            let name = key.name;
            cx.error_spanned_by(
                &value,
                format!("expected `{name} = true` or `{name} = false`"),
            );
            Ok(None)
        }
    }
}

pub(super) fn function(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: &Key,
) -> syn::Result<Option<ExprPath>> {
    let Some(value) = expr(cx, meta, key)? else {
        return Ok(None);
    };
    match value {
        Expr::Path(path) if path.attrs.is_empty() => Ok(Some(path)),
        other => {
            let message = match string_literal(&other).map(LitStr::parse::<ExprPath>) {
                // serde takes `with = "path"`; here the path is written bare
                // so that it resolves and is checked like any other path.
                Some(Ok(path)) => format!(
                    "expected a path to a check function, not a string: write `{} = {}`",
                    key.name,
                    path.to_token_stream().to_string().replace(' ', "")
                ),
                _ => format!(
                    "expected a path to an async check function, such as `{}`, that \
                     takes `&FieldType` and returns `Result<(), E>`",
                    key.example()
                ),
            };
            cx.error_spanned_by(&other, message);
            Ok(None)
        }
    }
}

/// A whole number of at least 1, as written.
fn count_value(cx: &Ctxt, value: &Expr, key: &Key) -> Option<Count> {
    let Expr::Lit(ExprLit {
        lit: Lit::Int(number),
        ..
    }) = value
    else {
        return None;
    };
    let name = key.name;
    match number.base10_parse::<u32>() {
        Ok(0) => {
            cx.error_spanned_by(
                number,
                format!(
                    "zero {name}: write at least `{name} = 1`{}",
                    if key.default == Some("1") {
                        " (the default)"
                    } else {
                        ""
                    }
                ),
            );
            Some(Count {
                value: 0,
                literal: None,
            })
        }
        Ok(value) if number.suffix().is_empty() => Some(Count {
            value,
            literal: Some(number.clone()),
        }),
        _ => {
            cx.error_spanned_by(
                number,
                format!("expected a whole number from 1 to 4294967295, such as `{name} = 3`"),
            );
            Some(Count {
                value: 0,
                literal: None,
            })
        }
    }
}

pub(super) fn count(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: &Key,
) -> syn::Result<Option<Count>> {
    let Some(value) = expr(cx, meta, key)? else {
        return Ok(None);
    };
    match count_value(cx, &value, key) {
        Some(count) => Ok(count.literal.is_some().then_some(count)),
        None => {
            cx.error_spanned_by(
                &value,
                format!(
                    "expected a number of consecutive passes such as `{}`",
                    key.example()
                ),
            );
            Ok(None)
        }
    }
}

/// `fail_after = 3` (consecutive failures) or `fail_after = "10s"`
/// (failing without a pass for that long).
pub(super) fn threshold(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: &Key,
) -> syn::Result<Option<Threshold>> {
    let Some(value) = expr(cx, meta, key)? else {
        return Ok(None);
    };
    if let Some(count) = count_value(cx, &value, key) {
        return Ok(count.literal.map(|_| Threshold::Failures(count.value)));
    }
    if let Some(literal) = string_literal(&value) {
        let name = key.name;
        return match crate::duration::parse(&literal.value()) {
            Ok(0) => {
                cx.error_spanned_by(
                    literal,
                    format!(
                        "zero {name} `{}`: a duration of failing must be greater than zero",
                        literal.value()
                    ),
                );
                Ok(None)
            }
            Ok(nanos) => Ok(Some(Threshold::Failing(nanos))),
            Err(error) => {
                cx.error_spanned_by(literal, error);
                Ok(None)
            }
        };
    }
    let name = key.name;
    cx.error_spanned_by(
        &value,
        format!(
            "expected a number of consecutive failures (`{name} = 3`) or how long the check \
             must keep failing (`{name} = \"10s\"`)"
        ),
    );
    Ok(None)
}

/// `probe = "liveness"` or `probe = "readiness"`.
pub(super) fn check_probe(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: &Key,
) -> syn::Result<Option<CheckProbe>> {
    let Some(literal) = plain_string(cx, meta, key)? else {
        return Ok(None);
    };
    let written = literal.value();
    if let Some(probe) = CheckProbe::from_name(&written) {
        return Ok(Some(probe));
    }
    let accepted: Vec<String> = CheckProbe::ALL
        .iter()
        .map(|probe| {
            let default = if key.default == Some(probe.name()) {
                " (the default)"
            } else {
                ""
            };
            format!("`{} = \"{}\"`{default}", key.name, probe.name())
        })
        .collect();
    cx.error_spanned_by(
        &literal,
        format!(
            "unknown probe `{written}`: a check runs in one of {}",
            accepted.join(", ")
        ),
    );
    Ok(None)
}
