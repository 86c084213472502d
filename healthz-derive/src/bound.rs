//! The `Check` (or, for liveness fields, `LocalCheck`) bounds a generic
//! state needs: inferred from the checked fields' types, as serde infers
//! `Serialize` bounds.

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{
    parse_quote, parse_quote_spanned, Generics, Ident, Type, TypeParamBound, WherePredicate,
};

use crate::ast::Input;
use crate::attr::CheckProbe;

/// The input's generics, plus `FieldType: Check` for every checked field
/// whose type mentions a type parameter, so that `struct S<C> { #[healthz]
/// c: C }` implements `HealthChecks` exactly when `C: Check` (serde infers
/// its bounds the same way).
pub(crate) fn with_check_bounds(input: &Input<'_>) -> Generics {
    let krate = &input.krate;
    let mut generics = input.generics.clone();
    let params: Vec<&Ident> = input
        .generics
        .type_params()
        .map(|param| &param.ident)
        .collect();
    let mut bounded: Vec<String> = Vec::new();
    for check in &input.checks {
        let ty: &Type = check.ty;
        let ty_text = format!("{} {}", ty.to_token_stream(), check.probe.name());
        if check.with.is_some()
            || !mentions_any(ty.to_token_stream(), &params)
            || bounded.contains(&ty_text)
        {
            continue;
        }
        bounded.push(ty_text);
        let bound: TypeParamBound = if check.probe == CheckProbe::Liveness {
            parse_quote_spanned!(ty.span()=> #krate::__private::LocalCheck)
        } else {
            parse_quote_spanned!(ty.span()=> #krate::__private::Check)
        };
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

#[cfg(test)]
mod tests {
    use syn::parse_quote;

    use crate::expand::derive;

    #[test]
    fn generic_fields_get_check_bounds() {
        let expanded = derive(&parse_quote! {
            struct State<C, D: Clone, E, W> where W: Send, E: Sync {
                #[healthz] c: C,
                #[healthz] also_c: C,
                #[healthz] d: D,
                #[healthz] e: E,
                #[healthz] wrapped: Option<Arc<D>>,
                #[healthz(with = ping)] w: W,
                #[healthz] fixed: Db,
            }
        })
        .to_string();
        let check = ":: healthz :: __private :: Check";
        assert!(
            expanded.contains(&format!(
                "impl < C : {check} , D : Clone + {check} , E , W > :: healthz :: __private :: \
                 HealthChecks for State < C , D , E , W > where W : Send , E : Sync + {check} , \
                 Option < Arc < D > > : {check} , \
                 Self : :: core :: marker :: Send + :: core :: marker :: Sync + 'static {{"
            )),
            "{expanded}"
        );
        assert!(!expanded.contains("Db : :: healthz"), "{expanded}");
    }
}
