//! Code generation: the `HealthChecks` impl of a valid input.
//!
//! A little over 400 lines only with its unit tests, which read the
//! generated tokens and belong beside the code that writes them.

use proc_macro2::{Group, Literal, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use syn::{parse_quote, DeriveInput, Generics, LitInt, LitStr, Path};

use crate::ast::{Check, Input};
use crate::attr::{CheckProbe, Threshold};
use crate::ctxt::Ctxt;
use crate::{bound, fallback, valid};

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

fn impl_health_checks(input: &Input<'_>) -> TokenStream {
    let krate = &input.krate;
    let check_configs: Vec<TokenStream> = input
        .checks
        .iter()
        .map(|check| check_config(krate, check))
        .collect();
    let runs = input.checks.iter().map(|check| run_check(krate, check));
    let dispatch = if input.checks.is_empty() {
        Dispatch::NoChecks
    } else {
        let indices = (0..input.checks.len()).map(Literal::usize_unsuffixed);
        Dispatch::Match(quote! {
            match __healthz_index {
                #(#indices => #runs,)*
                _ => #krate::__private::no_such_check(),
            }
        })
    };
    let generics = bound::with_check_bounds(input);
    impl_block(input, &generics, &check_configs, dispatch)
}

/// A `CheckConfig` expression.
fn check_config(krate: &Path, check: &Check<'_>) -> TokenStream {
    let name = &check.name.value;
    let timeout = duration(check.timeout.value);
    let critical = check.critical;
    let busy_limit = duration(check.busy_limit);
    let interval = match &check.interval {
        Some(interval) => {
            let interval = duration(interval.nanos);
            quote!(::core::option::Option::Some(#interval))
        }
        None => quote!(::core::option::Option::None),
    };
    let fail_after = match check.fail_after {
        Threshold::Failures(count) => {
            let count = Literal::u32_unsuffixed(count);
            quote!(#krate::__private::FailAfter::Failures(#count))
        }
        Threshold::Failing(nanos) => {
            let nanos = duration(nanos);
            quote!(#krate::__private::FailAfter::Failing(#nanos))
        }
        Threshold::Patience => quote!(#krate::__private::FailAfter::Patience),
    };
    let recover_after = Literal::u32_unsuffixed(check.recover_after);
    let liveness = check.probe == CheckProbe::Liveness;
    quote! {
        #krate::__private::check_config(#krate::__private::CheckFields {
            name: #name,
            timeout: #timeout,
            critical: #critical,
            busy_limit: #busy_limit,
            interval: #interval,
            fail_after: #fail_after,
            recover_after: #recover_after,
            liveness: #liveness,
        })
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
    let (callee, user_tokens) = match &check.with {
        Some(function) => (quote!(run_with), function.to_token_stream()),
        // A liveness field must be a `LocalCheck`, reported on its type.
        None if check.probe == CheckProbe::Liveness => {
            (quote!(run_local), check.ty.to_token_stream())
        }
        None => (quote!(run), check.ty.to_token_stream()),
    };
    let (first, last) = first_and_last_span(user_tokens);
    let callee = respan(quote!(#krate::__private::#callee), first);
    let reference = respan(quote!(&self.), first);
    let member = respan(check.member.to_token_stream(), last);
    match &check.with {
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

/// The body of `__healthz_check`.
pub(crate) enum Dispatch {
    /// A `match __healthz_index { .. }` over the checks.
    Match(TokenStream),
    /// No check exists; the index is ignored.
    NoChecks,
}

/// A `Config` expression: the input's struct-level settings and the checks
/// in the const `__HEALTHZ_CHECKS`.
fn config(input: &Input<'_>) -> TokenStream {
    let krate = &input.krate;
    let probe_timeout = duration(input.probe_timeout.value);
    let cache_ttl = duration(input.cache_ttl);
    let jitter = input.jitter;
    let [liveness_path, readiness_path, startup_path] = input
        .probes()
        .map(|probe| LitStr::new(&probe.path.value, Span::call_site()));
    quote! {
        #krate::__private::config(#krate::__private::ConfigFields {
            probe_timeout: #probe_timeout,
            cache_ttl: #cache_ttl,
            liveness_path: #liveness_path,
            readiness_path: #readiness_path,
            startup_path: #startup_path,
            jitter: #jitter,
            checks: __HEALTHZ_CHECKS,
        })
    }
}

/// The `HealthChecks` impl: the input's `Config` with the `CheckConfig`
/// expressions `checks`, and a dispatch.
///
/// Every name the impl introduces starts with `__healthz_` (or
/// `__HEALTHZ_`): the `match` arms name the user's `with` paths, which
/// must not resolve to a local of ours (`with = index`).
pub(crate) fn impl_block(
    input: &Input<'_>,
    generics: &Generics,
    checks: &[TokenStream],
    dispatch: Dispatch,
) -> TokenStream {
    let ident = input.ident;
    let krate = &input.krate;
    let config = config(input);
    // `HealthChecks: Send + Sync + 'static`: for a generic state, that is
    // a bound on its parameters, stated once here rather than per field.
    let mut generics = generics.clone();
    if !generics.params.is_empty() {
        generics.make_where_clause().predicates.push(parse_quote!(
            Self: ::core::marker::Send + ::core::marker::Sync + 'static
        ));
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let (index, body) = match dispatch {
        Dispatch::Match(body) => (quote!(__healthz_index), body),
        // `_` rather than an unused index, and no `match` with a lone
        // wildcard arm: both would warn in the user's crate.
        Dispatch::NoChecks => (quote!(_), quote!(#krate::__private::no_such_check())),
    };
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #impl_generics #krate::__private::HealthChecks for #ident #ty_generics #where_clause {
                fn config() -> &'static #krate::__private::Config {
                    // The checks get a const of their own: a borrow that is
                    // a const's whole initializer is `'static` by lifetime
                    // extension, without leaning on the promotion of a
                    // `const fn` call's argument.
                    const __HEALTHZ_CHECKS: &[#krate::__private::CheckConfig] = &[#(#checks),*];
                    const __HEALTHZ_CONFIG: #krate::__private::Config = #config;
                    &__HEALTHZ_CONFIG
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
    use proc_macro2::{TokenStream, TokenTree};
    use syn::{parse_quote, DeriveInput};

    use super::{derive, group_digits};

    fn expand(input: DeriveInput) -> String {
        derive(&input).to_string()
    }

    /// `::core::time::Duration::from_nanos(<literal>u64)`, as tokens print.
    fn nanos(literal: &str) -> String {
        format!(":: core :: time :: Duration :: from_nanos ({literal}u64)")
    }

    /// A `check_config` call with these fields, as tokens print.
    fn check_fields(fields: &[(&str, &str)]) -> String {
        let fields: String = fields
            .iter()
            .map(|(field, value)| format!("{field} : {value} , "))
            .collect();
        format!(
            ":: healthz :: __private :: check_config (:: healthz :: __private :: CheckFields \
             {{ {fields}}})"
        )
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
    fn defaults_and_resolved_check_settings() {
        let expanded = expand(parse_quote! {
            struct State {
                #[healthz]
                db: Db,
                #[healthz(name = "cache", timeout = "300ms", critical = false, busy_limit = "1m")]
                sessions: Cache,
                settings: Settings,
            }
        });
        let none = ":: core :: option :: Option :: None";
        let patience = ":: healthz :: __private :: FailAfter :: Patience";
        for expected in [
            format!(
                "const __HEALTHZ_CONFIG : :: healthz :: __private :: Config = :: healthz :: \
                 __private :: config (:: healthz :: __private :: ConfigFields {{ \
                 probe_timeout : {} , cache_ttl : {} , liveness_path : \"/healthz\" , \
                 readiness_path : \"/readiness\" , startup_path : \"/startupz\" , \
                 jitter : true , checks : __HEALTHZ_CHECKS , }}) ;",
                nanos("800_000_000"),
                nanos("1_000_000_000"),
            ),
            format!(
                "const __HEALTHZ_CHECKS : & [:: healthz :: __private :: CheckConfig] = & [{} , {}] ;",
                check_fields(&[
                    ("name", "\"db\""),
                    ("timeout", &nanos("800_000_000")),
                    ("critical", "true"),
                    ("busy_limit", &nanos("15_000_000_000")),
                    ("interval", none),
                    ("fail_after", patience),
                    ("recover_after", "1"),
                    ("liveness", "false"),
                ]),
                check_fields(&[
                    ("name", "\"cache\""),
                    ("timeout", &nanos("300_000_000")),
                    ("critical", "false"),
                    ("busy_limit", &nanos("60_000_000_000")),
                    ("interval", none),
                    ("fail_after", patience),
                    ("recover_after", "1"),
                    ("liveness", "false"),
                ]),
            ),
            "& __HEALTHZ_CONFIG".to_owned(),
            "fn __healthz_check (& self , __healthz_index : usize)".to_owned(),
            "match __healthz_index {".to_owned(),
            "0 => :: healthz :: __private :: run (& self . db) ,".to_owned(),
            "1 => :: healthz :: __private :: run (& self . sessions) ,".to_owned(),
            "_ => :: healthz :: __private :: no_such_check () ,".to_owned(),
        ] {
            assert!(
                expanded.contains(&expected),
                "missing `{expected}` in:\n{expanded}"
            );
        }
        assert!(!expanded.contains("settings"), "{expanded}");
        assert!(!expanded.contains("compile_error"), "{expanded}");
    }

    #[test]
    fn struct_settings_reach_the_config() {
        let expanded = expand(parse_quote! {
            #[healthz(timeout = "2s", cache = "0s", liveness = "/l", readiness = "/r", startup = "/s")]
            struct State(#[healthz(name = "db")] Db);
        });
        let config = format!(
            "ConfigFields {{ probe_timeout : {} , cache_ttl : {} , liveness_path : \"/l\" , \
             readiness_path : \"/r\" , startup_path : \"/s\" , jitter : true , \
             checks : __HEALTHZ_CHECKS , }}",
            nanos("2_000_000_000"),
            nanos("0"),
        );
        assert!(expanded.contains(&config), "{expanded}");
        // The check timeout defaults to the probe's, as written.
        let timeout = format!(
            "CheckFields {{ name : \"db\" , timeout : {} , critical : true ,",
            nanos("2_000_000_000")
        );
        assert!(expanded.contains(&timeout), "{expanded}");
    }

    /// Every identifier the generated code introduces is ours: a user's
    /// `with = index` or field named `config` cannot be shadowed by it.
    #[test]
    fn introduced_names_are_prefixed() {
        let generated = derive(&parse_quote! {
            struct State {
                #[healthz(with = index)]
                index: Db,
            }
        });
        let expanded = generated.to_string();
        assert!(
            expanded
                .contains("0 => :: healthz :: __private :: run_with (index , & self . index) ,"),
            "{expanded}"
        );
        // Besides the user's tokens, only keywords, absolute paths and
        // prefixed names.
        let user = ["State", "index"];
        let ours = [
            "const",
            "_",
            "impl",
            "for",
            "fn",
            "self",
            "match",
            "usize",
            "static",
            "true",
            "core",
            "time",
            "Duration",
            "from_nanos",
            "healthz",
            "__private",
            "HealthChecks",
            "Config",
            "config",
            "CheckConfig",
            "check_config",
            "ConfigFields",
            "CheckFields",
            // Field names of the two struct literals, which shadow nothing.
            "probe_timeout",
            "cache_ttl",
            "liveness_path",
            "readiness_path",
            "startup_path",
            "jitter",
            "checks",
            "name",
            "timeout",
            "critical",
            "busy_limit",
            "interval",
            "fail_after",
            "recover_after",
            "liveness",
            "option",
            "Option",
            "None",
            "false",
            "FailAfter",
            "Failures",
            "Patience",
            "CheckFuture",
            "run_with",
            "no_such_check",
            "automatically_derived",
        ];
        let mut idents = Vec::new();
        collect_idents(generated, &mut idents);
        for ident in idents {
            assert!(
                ident.starts_with("__healthz_")
                    || ident.starts_with("__HEALTHZ_")
                    || user.contains(&ident.as_str())
                    || ours.contains(&ident.as_str()),
                "unprefixed `{ident}` in:\n{expanded}"
            );
        }
    }

    fn collect_idents(tokens: TokenStream, idents: &mut Vec<String>) {
        for token in tokens {
            match token {
                TokenTree::Ident(ident) => idents.push(ident.to_string()),
                TokenTree::Group(group) => collect_idents(group.stream(), idents),
                TokenTree::Punct(_) | TokenTree::Literal(_) => {}
            }
        }
    }

    #[test]
    fn background_damping_and_liveness_reach_the_check_config() {
        let expanded = expand(parse_quote! {
            #[healthz(interval = "5s", jitter = false)]
            struct State {
                #[healthz(fail_after = "10s", recover_after = 3)]
                db: Db,
                #[healthz(interval = "1m", fail_after = 2)]
                cache: Cache,
                #[healthz(probe = "liveness")]
                runtime: Watchdog,
            }
        });
        let some =
            |literal: &str| format!(":: core :: option :: Option :: Some ({})", nanos(literal));
        for expected in [
            format!(
                "interval : {} , fail_after : :: healthz :: __private :: FailAfter :: Failing \
                 ({}) , recover_after : 3 , liveness : false ,",
                some("5_000_000_000"),
                nanos("10_000_000_000"),
            ),
            format!(
                "interval : {} , fail_after : :: healthz :: __private :: FailAfter :: Failures \
                 (2) , recover_after : 1 , liveness : false ,",
                some("60_000_000_000")
            ),
            // The struct's interval does not make a liveness check run in
            // the background.
            "interval : :: core :: option :: Option :: None , fail_after : :: healthz :: \
             __private :: FailAfter :: Patience , recover_after : 1 , liveness : true ,"
                .to_owned(),
            "startup_path : \"/startupz\" , jitter : false , checks : __HEALTHZ_CHECKS".to_owned(),
            "2 => :: healthz :: __private :: run_local (& self . runtime) ,".to_owned(),
        ] {
            assert!(
                expanded.contains(&expected),
                "missing `{expected}` in:\n{expanded}"
            );
        }
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
        assert!(expanded.contains("CheckConfig] = & [] ;"), "{expanded}");
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
        assert!(expanded.contains("CheckConfig] = & [] ;"), "{expanded}");
        assert!(!expanded.contains("run"), "{expanded}");
    }
}
