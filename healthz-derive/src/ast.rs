//! The derive input as a small typed model: the struct's probe settings and
//! one `Check` per annotated field.

use proc_macro2::Ident;
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::{parse_quote, Data, DeriveInput, Field, Generics, LitStr, Member, Type};

use crate::attr::{self, FieldAttrs, StructAttrs};
use crate::ctxt::Ctxt;

pub(crate) struct Input<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) generics: &'a Generics,
    pub(crate) attrs: StructAttrs,
    /// The annotated fields, in declaration order (the order of
    /// `Config::checks` and of the check indices).
    pub(crate) checks: Vec<Check<'a>>,
}

pub(crate) struct Check<'a> {
    pub(crate) member: Member,
    pub(crate) ty: &'a Type,
    /// `None` when the name is missing or was rejected; already reported.
    pub(crate) name: Option<CheckName>,
    pub(crate) attrs: FieldAttrs,
}

pub(crate) struct CheckName {
    pub(crate) value: String,
    pub(crate) source: NameSource,
}

/// Where a check name came from, which decides where errors about it point
/// and what they suggest.
pub(crate) enum NameSource {
    Explicit(LitStr),
    FieldIdent(Ident),
}

impl<'a> Input<'a> {
    /// Builds the model, reporting every problem found on the way; the
    /// model is still usable (for the fallback impl) when there are some.
    pub(crate) fn from_syn(cx: &Ctxt, input: &'a DeriveInput) -> Self {
        let attrs = StructAttrs::from_attrs(cx, &input.attrs);
        let checks = match &input.data {
            Data::Struct(data) => data
                .fields
                .iter()
                .enumerate()
                .filter_map(|(index, field)| Check::from_syn(cx, index, field))
                .collect(),
            Data::Enum(data) => {
                cx.error_spanned_by(data.enum_token, not_a_struct("an enum"));
                Vec::new()
            }
            Data::Union(data) => {
                cx.error_spanned_by(data.union_token, not_a_struct("a union"));
                Vec::new()
            }
        };
        Self {
            ident: &input.ident,
            generics: &input.generics,
            attrs,
            checks,
        }
    }

    /// The path generated code reaches the runtime crate through.
    pub(crate) fn krate(&self) -> syn::Path {
        self.attrs
            .krate
            .clone()
            .unwrap_or_else(|| parse_quote!(::healthz))
    }

    /// The probe deadline in nanoseconds; `None` if the one written was
    /// rejected.
    pub(crate) fn probe_timeout(&self) -> Option<u64> {
        resolve_duration(
            &self.attrs,
            "timeout",
            self.attrs.timeout.as_ref(),
            attr::DEFAULT_TIMEOUT,
        )
    }

    pub(crate) fn cache_ttl(&self) -> Option<u64> {
        resolve_duration(
            &self.attrs,
            "cache",
            self.attrs.cache.as_ref(),
            attr::DEFAULT_CACHE,
        )
    }
}

fn resolve_duration(
    attrs: &StructAttrs,
    key: &str,
    written: Option<&attr::Duration>,
    default: &str,
) -> Option<u64> {
    match written {
        Some(duration) => Some(duration.nanos),
        None if attrs.wrote(key) => None,
        None => crate::duration::parse(default).ok(),
    }
}

fn not_a_struct(kind: &str) -> String {
    format!(
        "`#[derive(HealthChecks)]` works on structs, not on {kind}: derive it on the state \
         struct whose fields are the checks"
    )
}

impl<'a> Check<'a> {
    /// The check of `field`, or `None` if the field is not annotated.
    fn from_syn(cx: &Ctxt, index: usize, field: &'a Field) -> Option<Self> {
        let attrs = FieldAttrs::from_attrs(cx, &field.attrs);
        let marker = attrs.marker.as_ref()?;
        let name = match (&attrs.name, &field.ident) {
            (Some(literal), _) => Some(CheckName {
                value: literal.value(),
                source: NameSource::Explicit(literal.clone()),
            }),
            (None, _) if attrs.wrote("name") => None,
            (None, Some(ident)) => Some(CheckName {
                value: ident.unraw().to_string(),
                source: NameSource::FieldIdent(ident.clone()),
            }),
            (None, None) => {
                cx.error_spanned_by(
                    marker,
                    "a tuple struct field needs a check name: `#[healthz(name = \"...\")]`",
                );
                None
            }
        };
        let member = match &field.ident {
            Some(ident) => Member::Named(ident.clone()),
            None => Member::Unnamed(index.into()),
        };
        Some(Self {
            member,
            ty: &field.ty,
            name,
            attrs,
        })
    }

    /// How messages refer to the field: `db`, or `0` in a tuple struct.
    pub(crate) fn field_label(&self) -> String {
        match &self.member {
            Member::Named(ident) => ident.unraw().to_string(),
            Member::Unnamed(index) => index.index.to_string(),
        }
    }
}

impl CheckName {
    /// The token that errors about this name point at.
    pub(crate) fn token(&self) -> proc_macro2::TokenStream {
        match &self.source {
            NameSource::Explicit(literal) => literal.to_token_stream(),
            NameSource::FieldIdent(ident) => ident.to_token_stream(),
        }
    }
}
