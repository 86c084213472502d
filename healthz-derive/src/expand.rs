//! Code generation: the `HealthChecks` impl of a valid input.

use proc_macro2::{Group, Literal, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{
    parse_quote, parse_quote_spanned, DeriveInput, Generics, Ident, LitInt, LitStr, Path, Type,
    TypeParamBound, WherePredicate,
};

use crate::ast::{Check, Input};
use crate::attr;
use crate::ctxt::Ctxt;
use crate::{fallback, valid};

pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    let cx = Ctxt::new();
    let model = Input::from_syn(&cx, input);
    valid::check(&cx, &model);
    match cx.check() {
        Ok(()) => impl_health_checks(&model),
        Err(errors) => {
            let mut tokens = errors.to_compile_error();
            tokens.extend(fallback::expand(&model));
            tokens
        }
    }
}

/// The values of a `Config`, resolved: every default applied.
pub(crate) struct ConfigValues {
    pub(crate) probe_timeout: u64,
    pub(crate) cache_ttl: u64,
    pub(crate) liveness_path: String,
    pub(crate) readiness_path: String,
    pub(crate) startup_path: String,
}

impl Default for ConfigValues {
    fn default() -> Self {
        Self {
            probe_timeout: parse_default(attr::DEFAULT_TIMEOUT),
            cache_ttl: parse_default(attr::DEFAULT_CACHE),
            liveness_path: attr::DEFAULT_LIVENESS.to_owned(),
            readiness_path: attr::DEFAULT_READINESS.to_owned(),
            startup_path: attr::DEFAULT_STARTUP.to_owned(),
        }
    }
}

fn parse_default(duration: &str) -> u64 {
    crate::duration::parse(duration).expect("default durations are valid")
}

fn impl_health_checks(input: &Input<'_>) -> TokenStream {
    let krate = input.krate();
    let defaults = ConfigValues::default();
    let path_or = |path: Option<&attr::ProbePath>, default: String| {
        path.map_or(default, |path| path.literal.value())
    };
    let values = ConfigValues {
        probe_timeout: input.probe_timeout().unwrap_or(defaults.probe_timeout),
        cache_ttl: input.cache_ttl().unwrap_or(defaults.cache_ttl),
        liveness_path: path_or(input.attrs.liveness.as_ref(), defaults.liveness_path),
        readiness_path: path_or(input.attrs.readiness.as_ref(), defaults.readiness_path),
        startup_path: path_or(input.attrs.startup.as_ref(), defaults.startup_path),
    };
    let check_configs: Vec<TokenStream> = input
        .checks
        .iter()
        .map(|check| check_config(&krate, check, values.probe_timeout))
        .collect();
    let config = config(&krate, &values, &check_configs);
    let runs = input.checks.iter().map(|check| run_check(&krate, check));
    let dispatch = if input.checks.is_empty() {
        Dispatch::NoChecks
    } else {
        let indices = (0..input.checks.len()).map(Literal::usize_unsuffixed);
        Dispatch::Match(quote! {
            match index {
                #(#indices => #runs,)*
                _ => #krate::__private::no_such_check(),
            }
        })
    };
    let generics = bounded_generics(input, &krate);
    impl_block(input.ident, &generics, &krate, &config, dispatch)
}

fn check_config(krate: &Path, check: &Check<'_>, probe_timeout: u64) -> TokenStream {
    // Only a valid model reaches code generation, so every check has a name.
    let name = check
        .name
        .as_ref()
        .map(|name| name.value.as_str())
        .unwrap_or_default();
    let timeout = duration(
        check
            .attrs
            .timeout
            .as_ref()
            .map_or(probe_timeout, |timeout| timeout.nanos),
    );
    let critical = check.attrs.critical.unwrap_or(true);
    quote! {
        #krate::__private::CheckConfig {
            name: #name,
            timeout: #timeout,
            critical: #critical,
        }
    }
}

/// The future of one check, spanned on the user's tokens so that a type
/// that is not `Check` is reported on the field's type, and a `with`
/// function of the wrong shape on its path.
///
/// Stable proc macros cannot join spans, so the reference expression gets
/// the span of the first token of the type (or path) at its start and the
/// span of the last at its end: rustc then underlines all of it.
fn run_check(krate: &Path, check: &Check<'_>) -> TokenStream {
    let (callee, user_tokens) = match &check.attrs.with {
        Some(function) => (quote!(run_with), function.to_token_stream()),
        None => (quote!(run), check.ty.to_token_stream()),
    };
    let (first, last) = first_and_last_span(user_tokens);
    let callee = respan(quote!(#krate::__private::#callee), first);
    let reference = respan(quote!(&self.), first);
    let member = respan(check.member.to_token_stream(), last);
    match &check.attrs.with {
        Some(function) => quote_spanned!(last=> #callee(#function, #reference #member)),
        None => quote_spanned!(last=> #callee(#reference #member)),
    }
}

fn first_and_last_span(tokens: TokenStream) -> (Span, Span) {
    let mut tokens = tokens.into_iter();
    let first = tokens
        .next()
        .map_or_else(Span::call_site, |token| token.span());
    let last = tokens.last().map_or(first, |token| token.span());
    (first, last)
}

/// `tokens` with every span, inside groups too, set to `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|token| match token {
            TokenTree::Group(group) => {
                let mut respanned = Group::new(group.delimiter(), respan(group.stream(), span));
                respanned.set_span(span);
                TokenTree::Group(respanned)
            }
            mut other => {
                other.set_span(span);
                other
            }
        })
        .collect()
}

/// The input's generics, plus `FieldType: Check` for every checked field
/// whose type mentions a type parameter, so that `struct S<C> { #[healthz]
/// c: C }` implements `HealthChecks` exactly when `C: Check` (serde infers
/// its bounds the same way).
fn bounded_generics(input: &Input<'_>, krate: &Path) -> Generics {
    let mut generics = input.generics.clone();
    let params: Vec<&Ident> = input
        .generics
        .type_params()
        .map(|param| &param.ident)
        .collect();
    let mut bounded: Vec<String> = Vec::new();
    for check in &input.checks {
        let ty: &Type = check.ty;
        let ty_text = ty.to_token_stream().to_string();
        if check.attrs.with.is_some()
            || !mentions_any(ty.to_token_stream(), &params)
            || bounded.contains(&ty_text)
        {
            continue;
        }
        bounded.push(ty_text);
        let bound: TypeParamBound = parse_quote_spanned!(ty.span()=> #krate::__private::Check);
        add_bound(&mut generics, ty, bound);
    }
    generics
}

/// Adds `ty: bound`, merged into the user's own bounds on `ty` where there
/// are some: a type bounded in two places trips the pedantic
/// `clippy::type_repetition_in_bounds` in the user's crate.
fn add_bound(generics: &mut Generics, ty: &Type, bound: TypeParamBound) {
    let ty_text = ty.to_token_stream().to_string();
    let existing_predicate = generics.where_clause.as_mut().and_then(|where_clause| {
        where_clause
            .predicates
            .iter_mut()
            .find_map(|predicate| match predicate {
                WherePredicate::Type(predicate)
                    if predicate.lifetimes.is_none()
                        && predicate.bounded_ty.to_token_stream().to_string() == ty_text =>
                {
                    Some(predicate)
                }
                _ => None,
            })
    });
    if let Some(predicate) = existing_predicate {
        predicate.bounds.push(bound);
        return;
    }
    let param_ident = match ty {
        Type::Path(path) if path.qself.is_none() => path.path.get_ident(),
        _ => None,
    };
    if let Some(param) = generics
        .type_params_mut()
        .find(|param| Some(&param.ident) == param_ident)
    {
        param.bounds.push(bound);
        return;
    }
    generics
        .make_where_clause()
        .predicates
        .push(parse_quote!(#ty: #bound));
}

fn mentions_any(tokens: TokenStream, params: &[&Ident]) -> bool {
    tokens.into_iter().any(|token| match token {
        TokenTree::Ident(ident) => params.iter().any(|param| **param == ident),
        TokenTree::Group(group) => mentions_any(group.stream(), params),
        TokenTree::Punct(_) | TokenTree::Literal(_) => false,
    })
}

/// The body of `__healthz_check`.
pub(crate) enum Dispatch {
    /// A `match index { .. }` over the checks.
    Match(TokenStream),
    /// No check exists; the index is ignored.
    NoChecks,
}

/// A `Config` expression.
pub(crate) fn config(krate: &Path, values: &ConfigValues, checks: &[TokenStream]) -> TokenStream {
    let probe_timeout = duration(values.probe_timeout);
    let cache_ttl = duration(values.cache_ttl);
    let liveness_path = LitStr::new(&values.liveness_path, Span::call_site());
    let readiness_path = LitStr::new(&values.readiness_path, Span::call_site());
    let startup_path = LitStr::new(&values.startup_path, Span::call_site());
    quote! {
        #krate::__private::Config {
            probe_timeout: #probe_timeout,
            cache_ttl: #cache_ttl,
            liveness_path: #liveness_path,
            readiness_path: #readiness_path,
            startup_path: #startup_path,
            checks: &[#(#checks),*],
        }
    }
}

/// The `HealthChecks` impl around a `Config` expression and a dispatch.
pub(crate) fn impl_block(
    ident: &Ident,
    generics: &Generics,
    krate: &Path,
    config: &TokenStream,
    dispatch: Dispatch,
) -> TokenStream {
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let (index, body) = match dispatch {
        Dispatch::Match(body) => (quote!(index), body),
        // `_` rather than an unused `index`, and no `match` with a lone
        // wildcard arm: both would warn in the user's crate.
        Dispatch::NoChecks => (quote!(_), quote!(#krate::__private::no_such_check())),
    };
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #impl_generics #krate::__private::HealthChecks for #ident #ty_generics #where_clause {
                fn config() -> &'static #krate::__private::Config {
                    const CONFIG: #krate::__private::Config = #config;
                    &CONFIG
                }

                fn __healthz_check(&self, #index: usize) -> #krate::__private::CheckFuture<'_> {
                    #body
                }
            }
        };
    }
}

/// `::core::time::Duration::from_nanos(800_000_000u64)`.
fn duration(nanos: u64) -> TokenStream {
    let literal = LitInt::new(&format!("{}u64", group_digits(nanos)), Span::call_site());
    quote!(::core::time::Duration::from_nanos(#literal))
}

/// `800000000` → `800_000_000`, so that the literal reads well in expanded
/// code and passes `clippy::unreadable_literal`.
fn group_digits(number: u64) -> String {
    let digits = number.to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            grouped.push('_');
        }
        grouped.push(digit);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use syn::{parse_quote, DeriveInput};

    use super::{derive, group_digits};

    fn expand(input: DeriveInput) -> String {
        derive(&input).to_string()
    }

    #[test]
    fn digit_grouping() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1_000), "1_000");
        assert_eq!(group_digits(800_000_000), "800_000_000");
        assert_eq!(group_digits(u64::MAX), "18_446_744_073_709_551_615");
    }

    #[test]
    fn defaults_and_resolved_check_timeouts() {
        let expanded = expand(parse_quote! {
            struct State {
                #[healthz]
                db: Db,
                #[healthz(name = "cache", timeout = "300ms", critical = false)]
                sessions: Cache,
                settings: Settings,
            }
        });
        for expected in [
            "probe_timeout : :: core :: time :: Duration :: from_nanos (800_000_000u64)",
            "cache_ttl : :: core :: time :: Duration :: from_nanos (1_000_000_000u64)",
            "liveness_path : \"/healthz\"",
            "readiness_path : \"/readiness\"",
            "startup_path : \"/startupz\"",
            "name : \"db\" , timeout : :: core :: time :: Duration :: from_nanos (800_000_000u64) , critical : true",
            "name : \"cache\" , timeout : :: core :: time :: Duration :: from_nanos (300_000_000u64) , critical : false",
            "0 => :: healthz :: __private :: run (& self . db) ,",
            "1 => :: healthz :: __private :: run (& self . sessions) ,",
            "_ => :: healthz :: __private :: no_such_check () ,",
        ] {
            assert!(expanded.contains(expected), "missing `{expected}` in:\n{expanded}");
        }
        assert!(!expanded.contains("settings"), "{expanded}");
        assert!(!expanded.contains("compile_error"), "{expanded}");
    }

    #[test]
    fn crate_path_and_with() {
        let expanded = expand(parse_quote! {
            #[healthz(crate = "my::reexport")]
            struct State(#[healthz(name = "search", with = ping)] Search);
        });
        assert!(expanded.contains("impl my :: reexport :: __private :: HealthChecks for State"));
        assert!(
            expanded.contains("0 => my :: reexport :: __private :: run_with (ping , & self . 0) ,")
        );
        assert!(!expanded.contains(":: healthz ::"), "{expanded}");
    }

    #[test]
    fn zero_checks_ignore_the_index() {
        let expanded = expand(parse_quote!(
            struct State;
        ));
        assert!(
            expanded.contains("fn __healthz_check (& self , _ : usize)"),
            "{expanded}"
        );
        assert!(!expanded.contains("match"), "{expanded}");
        assert!(expanded.contains("checks : & []"), "{expanded}");
    }

    #[test]
    fn generic_fields_get_check_bounds() {
        let expanded = expand(parse_quote! {
            struct State<C, D: Clone, E, W> where W: Send, E: Sync {
                #[healthz] c: C,
                #[healthz] also_c: C,
                #[healthz] d: D,
                #[healthz] e: E,
                #[healthz] wrapped: Option<Arc<D>>,
                #[healthz(with = ping)] w: W,
                #[healthz] fixed: Db,
            }
        });
        let check = ":: healthz :: __private :: Check";
        assert!(
            expanded.contains(&format!(
                "impl < C : {check} , D : Clone + {check} , E , W > :: healthz :: __private :: \
                 HealthChecks for State < C , D , E , W > where W : Send , E : Sync + {check} , \
                 Option < Arc < D > > : {check} {{"
            )),
            "{expanded}"
        );
        assert!(!expanded.contains("Db : :: healthz"), "{expanded}");
    }

    #[test]
    fn errors_come_with_a_stub_impl() {
        let expanded = expand(parse_quote! {
            #[healthz(timout = "1s")]
            struct State<T> {
                #[healthz(critical = "yes")]
                db: T,
            }
        });
        assert_eq!(expanded.matches("compile_error").count(), 2, "{expanded}");
        assert!(
            expanded.contains("impl < T > :: healthz :: __private :: HealthChecks for State < T >")
        );
        assert!(expanded.contains("checks : & []"), "{expanded}");
        assert!(!expanded.contains("run"), "{expanded}");
    }
}
