//! The derive input as a small typed model: the struct's probe settings and
//! one `Check` per annotated field, every default applied here and nowhere
//! else.

use proc_macro2::{Ident, TokenStream};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::{Data, DeriveInput, ExprPath, Field, Generics, LitStr, Member, Type};

use crate::attr::keys::{self, Key};
use crate::attr::{self, CheckProbe, FieldAttrs, StructAttrs, Threshold};
use crate::ctxt::Ctxt;

pub(crate) struct Input<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) generics: &'a Generics,
    /// The path generated code reaches the runtime crate through.
    pub(crate) krate: syn::Path,
    /// The probe deadline, in nanoseconds.
    pub(crate) probe_timeout: Setting<u64>,
    /// The result cache lifetime, in nanoseconds.
    pub(crate) cache_ttl: u64,
    pub(crate) liveness: Probe,
    pub(crate) readiness: Probe,
    pub(crate) startup: Probe,
    /// The struct's `interval`: every readiness check runs on its own
    /// timer; `None` (the default) runs checks when a probe asks.
    pub(crate) interval: Option<Interval>,
    /// Whether background runs are spread with a random phase.
    pub(crate) jitter: bool,
    /// The annotated fields, in declaration order (the order of
    /// `Config::checks` and of the check indices).
    pub(crate) checks: Vec<Check<'a>>,
}

/// One probe's path.
pub(crate) struct Probe {
    pub(crate) key: &'static Key,
    pub(crate) path: Setting<String>,
    /// Position among the struct's keys (0 for a default), so that a clash
    /// between two paths is reported on the one written second.
    pub(crate) position: usize,
}

pub(crate) struct Check<'a> {
    pub(crate) member: Member,
    pub(crate) ty: &'a Type,
    pub(crate) name: Setting<String>,
    /// The check's deadline in nanoseconds; the probe's by default.
    pub(crate) timeout: Setting<u64>,
    pub(crate) critical: bool,
    /// In nanoseconds.
    pub(crate) busy_limit: u64,
    /// The check function; `None` runs the field type's `Check` impl.
    pub(crate) with: Option<ExprPath>,
    /// The field's `interval`, else the struct's; `None` runs the check
    /// when a probe asks, and always for a liveness check.
    pub(crate) interval: Option<Interval>,
    pub(crate) fail_after: Threshold,
    pub(crate) recover_after: u32,
    /// The probe the check runs in (`probe`).
    pub(crate) probe: CheckProbe,
}

/// A background interval and the literal it was written as.
#[derive(Clone)]
pub(crate) struct Interval {
    pub(crate) nanos: u64,
    pub(crate) literal: LitStr,
    /// Written on the field rather than inherited from the struct.
    pub(crate) on_field: bool,
}

impl Interval {
    fn of(duration: &attr::Duration, on_field: bool) -> Self {
        Self {
            nanos: duration.nanos,
            literal: duration.literal.clone(),
            on_field,
        }
    }
}

/// A value with its default applied, and where it came from: validation
/// points its errors at what was written, and skips what was rejected.
pub(crate) struct Setting<T> {
    pub(crate) value: T,
    pub(crate) origin: Origin,
}

pub(crate) enum Origin {
    /// Written as this literal.
    Written(LitStr),
    /// A check name taken from the field's name.
    FieldName(Ident),
    /// Not written: the key's default.
    Default,
    /// Written but rejected, or missing where there is no default (a
    /// tuple field's name); already reported. The value is a stand-in that
    /// validation must skip, so that one mistake is reported once.
    Rejected,
}

impl<T> Setting<T> {
    /// The setting of a key: `written` if it was accepted, else `default`,
    /// marked rejected when the key was written anyway.
    fn resolve(written: Option<(T, LitStr)>, was_written: bool, default: T) -> Self {
        let (value, origin) = match written {
            Some((value, literal)) => (value, Origin::Written(literal)),
            None if was_written => (default, Origin::Rejected),
            None => (default, Origin::Default),
        };
        Self { value, origin }
    }

    /// The literal the value was written as, if it was.
    pub(crate) fn literal(&self) -> Option<&LitStr> {
        match &self.origin {
            Origin::Written(literal) => Some(literal),
            Origin::FieldName(_) | Origin::Default | Origin::Rejected => None,
        }
    }

    pub(crate) fn is_rejected(&self) -> bool {
        matches!(self.origin, Origin::Rejected)
    }

    /// The token errors about the value point at: the literal, or the field
    /// name it came from; `None` for a default or a rejected value.
    pub(crate) fn token(&self) -> Option<TokenStream> {
        match &self.origin {
            Origin::Written(literal) => Some(literal.to_token_stream()),
            Origin::FieldName(ident) => Some(ident.to_token_stream()),
            Origin::Default | Origin::Rejected => None,
        }
    }
}

fn duration_setting(
    written: Option<&attr::Duration>,
    was_written: bool,
    default: u64,
) -> Setting<u64> {
    let written = written.map(|duration| (duration.nanos, duration.literal.clone()));
    Setting::resolve(written, was_written, default)
}

impl Probe {
    fn resolve(attrs: &StructAttrs, key: &'static Key, written: Option<&attr::ProbePath>) -> Self {
        let position = written.map_or(0, |path| path.position);
        let written = written.map(|path| (path.literal.value(), path.literal.clone()));
        let default = key.default_text().to_owned();
        Self {
            key,
            path: Setting::resolve(written, attrs.wrote(key), default),
            position,
        }
    }
}

impl<'a> Input<'a> {
    /// Builds the model, reporting every problem found on the way; the
    /// model is still usable (for the fallback impl) when there are some.
    pub(crate) fn from_syn(cx: &Ctxt, input: &'a DeriveInput) -> Self {
        let attrs = StructAttrs::from_attrs(cx, &input.attrs);
        let probe_timeout = duration_setting(
            attrs.timeout.as_ref(),
            attrs.wrote(&keys::PROBE_TIMEOUT),
            keys::PROBE_TIMEOUT.default_nanos(),
        );
        let interval = attrs
            .interval
            .as_ref()
            .map(|interval| Interval::of(interval, false));
        let checks = match &input.data {
            Data::Struct(data) => data
                .fields
                .iter()
                .enumerate()
                .filter_map(|(index, field)| {
                    Check::from_syn(cx, index, field, probe_timeout.value, interval.as_ref())
                })
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
            krate: attrs
                .krate
                .clone()
                .unwrap_or_else(|| keys::CRATE.default_path()),
            probe_timeout,
            cache_ttl: attrs
                .cache
                .as_ref()
                .map_or_else(|| keys::CACHE.default_nanos(), |cache| cache.nanos),
            liveness: Probe::resolve(&attrs, &keys::LIVENESS, attrs.liveness.as_ref()),
            readiness: Probe::resolve(&attrs, &keys::READINESS, attrs.readiness.as_ref()),
            startup: Probe::resolve(&attrs, &keys::STARTUP, attrs.startup.as_ref()),
            interval,
            jitter: attrs.jitter.unwrap_or_else(|| keys::JITTER.default_bool()),
            checks,
        }
    }

    /// The three probes, in the order `Config` lists their paths.
    pub(crate) fn probes(&self) -> [&Probe; 3] {
        [&self.liveness, &self.readiness, &self.startup]
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
    fn from_syn(
        cx: &Ctxt,
        index: usize,
        field: &'a Field,
        probe_timeout: u64,
        struct_interval: Option<&Interval>,
    ) -> Option<Self> {
        let attrs = FieldAttrs::from_attrs(cx, &field.attrs);
        let marker = attrs.marker.as_ref()?;
        let rejected = || Setting {
            value: String::new(),
            origin: Origin::Rejected,
        };
        let name = match (&attrs.name, &field.ident) {
            (Some(literal), _) => Setting {
                value: literal.value(),
                origin: Origin::Written(literal.clone()),
            },
            (None, _) if attrs.wrote(&keys::NAME) => rejected(),
            (None, Some(ident)) => Setting {
                value: ident.unraw().to_string(),
                origin: Origin::FieldName(ident.clone()),
            },
            (None, None) => {
                cx.error_spanned_by(
                    marker,
                    "a tuple struct field needs a check name: `#[healthz(name = \"...\")]`",
                );
                rejected()
            }
        };
        let member = match &field.ident {
            Some(ident) => Member::Named(ident.clone()),
            None => Member::Unnamed(index.into()),
        };
        let probe = attrs.probe.unwrap_or_else(|| {
            CheckProbe::from_name(keys::PROBE.default_text()).expect("the default probe is valid")
        });
        let interval = match probe {
            CheckProbe::Readiness => attrs
                .interval
                .as_ref()
                .map(|interval| Interval::of(interval, true))
                .or_else(|| struct_interval.cloned()),
            // The kubelet decides when liveness runs: the struct's interval
            // does not apply, and one written on the field is a mistake.
            CheckProbe::Liveness => {
                if let Some(interval) = &attrs.interval {
                    cx.error_spanned_by(
                        &interval.literal,
                        "a liveness check runs when the kubelet asks: `interval` applies to \
                         readiness checks only",
                    );
                }
                None
            }
        };
        Some(Self {
            member,
            ty: &field.ty,
            name,
            timeout: duration_setting(
                attrs.timeout.as_ref(),
                attrs.wrote(&keys::CHECK_TIMEOUT),
                probe_timeout,
            ),
            critical: attrs
                .critical
                .unwrap_or_else(|| keys::CRITICAL.default_bool()),
            busy_limit: attrs
                .busy_limit
                .as_ref()
                .map_or_else(|| keys::BUSY_LIMIT.default_nanos(), |limit| limit.nanos),
            with: attrs.with.clone(),
            interval,
            fail_after: attrs.fail_after.unwrap_or(Threshold::Patience),
            recover_after: attrs
                .recover_after
                .as_ref()
                .map_or_else(|| keys::RECOVER_AFTER.default_count(), |count| count.value),
            probe,
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
