//! The HTTP rendering of a probe's [`Verdict`]: its status, headers and
//! body, and [`ProbeRequest`], the one entry point every HTTP server
//! adapter (the tower layer, the actix middleware, a hand-written one)
//! goes through.

use std::fmt;
use std::sync::OnceLock;

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, Method, Response, StatusCode, Uri};

use crate::config::Config;
use crate::details::Caller;

use crate::probe::{Probe, Target};
use crate::probes::{HealthChecks, Probes};
use crate::report::{self, Report};
use crate::route::{self, Route};
use crate::verdict::{Decision, Verdict};

impl<T> Probes<T>
where
    T: HealthChecks,
{
    /// The probe a request asks for, or `None` if it is not a probe (then
    /// nothing was allocated): the entry point for every server adapter.
    /// Only `GET` and `HEAD` on the probe paths are probes.
    ///
    /// A probe's verdict is decided here, once, when it can be given at
    /// once: it needs no check run, or every result it needs is cached
    /// (then [`ProbeRequest::answer_now`] has the answer). Otherwise
    /// [`ProbeRequest::answer`] runs the checks. Nothing is started or
    /// spawned here: it needs no runtime.
    pub fn probe_request(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Option<ProbeRequest<T>> {
        self.probe_request_from(&Caller::new(method, uri, headers))
    }

    /// [`probe_request`](Self::probe_request) for a caller whose peer
    /// address or request extensions the adapter knows, for the
    /// [`Details`](crate::details::Details) policy to judge. The policy is
    /// asked only when the request asks for details (verbose, health+json,
    /// a per-check path): never for the kubelet's plain probes.
    pub fn probe_request_from(&self, caller: &Caller<'_>) -> Option<ProbeRequest<T>> {
        let mut route = route::route(T::config(), caller.method, caller.uri, caller.headers)?;
        if route.asks_for_details() && !self.details().allows(caller) {
            route.withhold_details();
        }
        let decision = self.decide(route.target, &route.excluded);
        Some(ProbeRequest {
            probes: self.clone(),
            route,
            decision,
        })
    }

    /// [`probe_request_from`](Self::probe_request_from) for an adapter whose
    /// framework has request types of its own (rocket, actix).
    ///
    /// `get_or_head` and `path` decide whether the request is a probe
    /// before anything is allocated; only then are its target (`uri`) and
    /// headers (`headers`, filled with [`append_header`]) built as `http`
    /// 1's. A target `http` does not accept is the app's to answer.
    ///
    /// HEAD is asked as GET: both frameworks write `Content-Length` from
    /// the body and drop the body of a HEAD response themselves, so the GET
    /// body is what gives HEAD the GET's headers.
    #[cfg(any(feature = "rocket", feature = "actix"))]
    pub(crate) fn probe_request_foreign(
        &self,
        get_or_head: bool,
        path: &str,
        uri: impl FnOnce() -> Option<Uri>,
        headers: impl FnOnce() -> HeaderMap,
        peer: Option<std::net::SocketAddr>,
    ) -> Option<ProbeRequest<T>> {
        if !get_or_head || !self.config().is_probe_path(path) {
            return None;
        }
        let uri = uri()?;
        let headers = headers();
        let mut caller = Caller::new(&Method::GET, &uri, &headers);
        caller.peer = peer;
        self.probe_request_from(&caller)
    }
}

/// Copies one header of a framework's own request into `headers`, for
/// `Accept` and for the details policy to judge the caller by; a name or
/// value `http` 1 does not accept is left out.
#[cfg(any(feature = "rocket", feature = "actix"))]
pub(crate) fn append_header(headers: &mut HeaderMap, name: &[u8], value: &[u8]) {
    let name = http::HeaderName::from_bytes(name);
    let value = HeaderValue::from_bytes(value);
    if let (Ok(name), Ok(value)) = (name, value) {
        headers.append(name, value);
    }
}

/// The HTTP answer to `verdict` in the format `route` asks for.
fn render_verdict(verdict: &Verdict, route: &Route, config: &Config) -> Response<Bytes> {
    match verdict {
        Verdict::Up if !route.json => ok(route.head),
        Verdict::Up => fixed(StatusCode::OK, "OK", route),
        Verdict::NoSuchCheck => fixed(StatusCode::NOT_FOUND, "no such check.", route),
        Verdict::Draining => {
            let report = Report {
                checks: Vec::new(),
                excluded: Vec::new(),
                draining: true,
            };
            let body = body(&report, route, Probe::Readiness.as_str());
            render(StatusCode::SERVICE_UNAVAILABLE, body, route)
        }
        Verdict::Checked { ready: true, .. } if !route.json && !route.verbose => ok(route.head),
        Verdict::Checked { report, .. } => {
            let status = if verdict.is_ready() {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            let name = match route.target {
                Target::Probe(probe) => probe.as_str(),
                Target::Check(index) => config.checks[index].name,
                Target::UnknownCheck => "",
            };
            let plain = !route.json && !route.verbose;
            let body = if route.target == Target::Probe(Probe::Startup)
                && plain
                && report.status().is_ready()
            {
                // Every critical check passes now, but the latch has not
                // opened: a busy pool has not passed yet.
                "starting".to_owned()
            } else {
                body(report, route, name)
            };
            render(status, body, route)
        }
    }
}

/// The body of `report` in the format `route` asks for; `probe` names the
/// probe in the verbose summary line.
fn body(report: &Report, route: &Route, probe: &str) -> String {
    if route.json && !route.details {
        // The status alone: the caller may not read the checks.
        report::json_without_checks(report.status().is_ready(), &report.to_text())
    } else if route.json {
        report.to_json()
    } else if route.verbose {
        report.to_verbose_text(probe)
    } else {
        report.to_text()
    }
}

/// An answer that needs no report: `text` as the plain body, or the
/// matching health+json status (with `text` as its output when failing).
fn fixed(status: StatusCode, text_body: &'static str, route: &Route) -> Response<Bytes> {
    if route.json {
        let body = report::json_without_checks(status == StatusCode::OK, text_body);
        return render(status, body, route);
    }
    let body = Bytes::from_static(text_body.as_bytes());
    respond(
        status,
        body,
        route.head,
        with_length(base_headers(false), text_body.len()),
    )
}

/// `body` in the format `route` asked for (plain text or health+json).
fn render(status: StatusCode, body: String, route: &Route) -> Response<Bytes> {
    let headers = with_length(base_headers(route.json), body.len());
    respond(status, body.into(), route.head, headers)
}

/// `200 OK`, plain: the answer every passing kubelet probe gets, with its
/// headers built once and nothing formatted.
fn ok(head: bool) -> Response<Bytes> {
    static HEADERS: OnceLock<HeaderMap> = OnceLock::new();
    const OK: &str = "OK";
    let headers = HEADERS.get_or_init(|| with_length(base_headers(false), OK.len()));
    respond(
        StatusCode::OK,
        Bytes::from_static(OK.as_bytes()),
        head,
        headers.clone(),
    )
}

/// A request that asks for a probe, from
/// [`Probes::probe_request`]: answer it with [`ProbeRequest::answer`].
pub struct ProbeRequest<T> {
    probes: Probes<T>,
    route: Route,
    /// The verdict, decided once when the request was routed, or the runs
    /// it waits for.
    decision: Decision,
}

impl<T> fmt::Debug for ProbeRequest<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProbeRequest")
            .field("target", &self.route.target)
            .field("head", &self.route.head)
            .finish_non_exhaustive()
    }
}

impl<T> ProbeRequest<T>
where
    T: HealthChecks,
{
    /// The answer, if it needed no waiting: liveness, an open startup
    /// probe, an unknown check name, draining, or checks whose results
    /// were all cached (the common case under a probe storm). An adapter
    /// that gets `None` awaits [`answer`](Self::answer).
    pub fn answer_now(&self) -> Option<Response<Bytes>> {
        match &self.decision {
            Decision::Now(verdict) => Some(render_verdict(verdict, &self.route, T::config())),
            Decision::Later(..) => None,
        }
    }

    /// The answer: status, headers and body, running the checks the probe
    /// needs within its deadline.
    pub async fn answer(self) -> Response<Bytes> {
        let verdict = self
            .probes
            .decided(self.decision, &self.route.excluded)
            .await;
        render_verdict(&verdict, &self.route, T::config())
    }
}

/// A probe response: `status`, `headers` and `body`, or for HEAD the same
/// status and headers without the body.
fn respond(status: StatusCode, body: Bytes, head: bool, headers: HeaderMap) -> Response<Bytes> {
    let mut response = Response::new(if head { Bytes::new() } else { body });
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// The headers every probe answer has, built once: `Cache-Control:
/// no-store`, and `Content-Type: text/plain; charset=utf-8`, or
/// `application/health+json` for `json`.
fn base_headers(json: bool) -> &'static HeaderMap {
    static TEXT: OnceLock<HeaderMap> = OnceLock::new();
    static JSON: OnceLock<HeaderMap> = OnceLock::new();
    let (headers, content_type) = if json {
        (&JSON, "application/health+json")
    } else {
        (&TEXT, "text/plain; charset=utf-8")
    };
    headers.get_or_init(|| {
        let mut headers = HeaderMap::with_capacity(3);
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers
    })
}

/// `headers` with the `Content-Length` of a body of `length` bytes (which
/// a HEAD answer keeps, without the body).
fn with_length(headers: &HeaderMap, length: usize) -> HeaderMap {
    let mut headers = headers.clone();
    headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    headers
}
