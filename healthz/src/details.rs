//! Who may read the details of the probes: the verbose answer, the
//! health+json checks and the per-check paths.
//!
//! The plain answers (`OK`, `shutting down`, the one-line public message of
//! each failing critical check, and the status codes) are for everyone: the
//! kubelet cannot authenticate, and they are what it acts on. The details
//! name every check, its state and its latency, which is a map of the
//! service for whoever can reach the port; a [`Probes`](crate::Probes)
//! handle shows them only to callers its [`Details`] policy trusts, and by
//! default to nobody. An untrusted caller that asks for them gets the plain
//! answer (`?verbose`), the status alone in health+json, and `404 no such
//! check.` for a per-check path, exactly as for a name no check has, so
//! that check names cannot be probed for. Nothing an untrusted caller sends
//! runs a check that a kubelet probe would not run.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::{Extensions, HeaderMap, Method, Uri};

/// What a probe request says about its caller, for a [`Details`] policy to
/// judge.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Caller<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The request target.
    pub uri: &'a Uri,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The peer's address, when the server adapter knows it (the probe
    /// listener and the actix middleware do; behind the tower layer, read
    /// your server's connection info from [`extensions`](Self::extensions)).
    pub peer: Option<SocketAddr>,
    /// The request's extensions, when the adapter has `http` ones (the
    /// tower layer): axum's `ConnectInfo`, your auth layer's claims, ...
    pub extensions: Option<&'a Extensions>,
}

impl<'a> Caller<'a> {
    /// A caller known by its request line and headers alone.
    pub fn new(method: &'a Method, uri: &'a Uri, headers: &'a HeaderMap) -> Self {
        Self {
            method,
            uri,
            headers,
            peer: None,
            extensions: None,
        }
    }

    /// With the peer's address.
    #[must_use]
    pub fn with_peer(mut self, peer: SocketAddr) -> Self {
        self.peer = Some(peer);
        self
    }

    /// With the request's extensions.
    #[must_use]
    pub fn with_extensions(mut self, extensions: &'a Extensions) -> Self {
        self.extensions = Some(extensions);
        self
    }
}

/// Which callers may read the probes' details: the policy of a
/// [`Probes`](crate::Probes) handle, set with
/// [`Probes::with_details`](crate::Probes::with_details). The default is
/// [`never`](Self::never).
///
/// ```
/// use healthz::{details::Details, HealthChecks};
///
/// #[derive(Clone, HealthChecks)]
/// struct AppState {}
///
/// let token = "read-from-your-secret-store";
/// let probes = AppState {}.probes().with_details(Details::bearer(token));
/// ```
#[derive(Clone, Default)]
pub struct Details(Rule);

#[derive(Clone, Default)]
enum Rule {
    #[default]
    Never,
    Always,
    When(Arc<dyn Fn(&Caller<'_>) -> bool + Send + Sync>),
}

impl Details {
    /// Nobody reads the details (the default): every caller gets the plain
    /// answers.
    pub fn never() -> Self {
        Self(Rule::Never)
    }

    /// Everybody reads the details: for a probe-only listener on a private
    /// port, or a service whose port only trusted callers reach.
    pub fn always() -> Self {
        Self(Rule::Always)
    }

    /// Callers for which `trusted` returns true read the details.
    pub fn when(trusted: impl Fn(&Caller<'_>) -> bool + Send + Sync + 'static) -> Self {
        Self(Rule::When(Arc::new(trusted)))
    }

    /// Callers that send `Authorization: Bearer <token>` read the details
    /// (compared in constant time).
    pub fn bearer(token: impl Into<String>) -> Self {
        let expected = format!("Bearer {}", token.into());
        Self::when(move |caller| {
            caller
                .headers
                .get_all(AUTHORIZATION)
                .iter()
                .any(|value| constant_time_eq(value.as_bytes(), expected.as_bytes()))
        })
    }

    /// Callers on a loopback address (`127.0.0.0/8`, `::1`) read the
    /// details: a sidecar or an operator's `kubectl port-forward`. Needs
    /// the peer's address, which the probe listener and the actix
    /// middleware know; behind the tower layer no caller has one, so use
    /// [`when`](Self::when) with your server's connection info instead.
    pub fn loopback() -> Self {
        Self::when(|caller| caller.peer.is_some_and(|peer| peer.ip().is_loopback()))
    }

    /// Whether `caller` may read the details.
    pub fn allows(&self, caller: &Caller<'_>) -> bool {
        match &self.0 {
            Rule::Never => false,
            Rule::Always => true,
            Rule::When(trusted) => trusted(caller),
        }
    }
}

impl fmt::Debug for Details {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Rule::Never => "Details::never()",
            Rule::Always => "Details::always()",
            Rule::When(_) => "Details::when(..)",
        })
    }
}

/// Byte equality whose time does not depend on where the inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_judge_callers() {
        let (method, uri) = (Method::GET, Uri::from_static("/readiness?verbose"));
        let mut headers = HeaderMap::new();
        let anonymous = HeaderMap::new();
        headers.insert(AUTHORIZATION, "Bearer s3cret".parse().unwrap());
        let with_token = Caller::new(&method, &uri, &headers);
        let without = Caller::new(&method, &uri, &anonymous);
        let bearer = Details::bearer("s3cret");
        assert!(bearer.allows(&with_token));
        assert!(!bearer.allows(&without));
        assert!(!Details::bearer("s3cre").allows(&with_token));
        assert!(!Details::default().allows(&with_token));
        assert!(Details::always().allows(&without));
        let loopback = Details::loopback();
        assert!(!loopback.allows(&without));
        assert!(loopback.allows(&without.with_peer("127.0.0.1:5000".parse().unwrap())));
        assert!(!loopback.allows(&without.with_peer("10.0.0.7:5000".parse().unwrap())));
    }
}
