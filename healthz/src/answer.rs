//! The HTTP rendering of a probe's [`Verdict`]: its status, headers and
//! body, and [`ProbeRequest`], the one entry point every HTTP server
//! adapter (the tower layer, the actix middleware, a hand-written one)
//! goes through.

use std::fmt;

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, Method, Response, StatusCode, Uri};

use crate::config::Config;

use crate::probe::{Probe, Target};
use crate::probes::{HealthChecks, Probes};
use crate::report::{self, Report};
use crate::route::{self, Route};
use crate::verdict::Verdict;

impl<T> Probes<T>
where
    T: HealthChecks,
{
    /// The probe a request asks for, or `None` if it is not a probe (then
    /// nothing was allocated): the entry point for every server adapter.
    /// Only `GET` and `HEAD` on the probe paths are probes.
    pub fn probe_request(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Option<ProbeRequest<T>> {
        let route = route::route(T::config(), method, uri, headers)?;
        let settled = self.settled(route.target);
        Some(ProbeRequest {
            probes: self.clone(),
            route,
            settled,
        })
    }
}

/// The HTTP answer to `verdict` in the format `route` asks for.
fn render_verdict(verdict: &Verdict, route: &Route, config: &Config) -> Response<Bytes> {
    match verdict {
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
        Verdict::Checked { ready: true, .. } if !route.json && !route.verbose => {
            // The body every passing kubelet probe gets: no formatting.
            text(StatusCode::OK, OK, route.head)
        }
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
    if route.json {
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
    text(status, Bytes::from_static(text_body.as_bytes()), route.head)
}

fn render(status: StatusCode, body: String, route: &Route) -> Response<Bytes> {
    let mut response = text(status, body.into(), route.head);
    if route.json {
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/health+json"),
        );
    }
    response
}

const OK: Bytes = Bytes::from_static(b"OK");

/// A request that asks for a probe, from
/// [`Probes::probe_request`]: answer it with [`ProbeRequest::answer`].
pub struct ProbeRequest<T> {
    probes: Probes<T>,
    route: Route,
    /// The verdict, when it needed no check run: decided once, when the
    /// request was routed.
    settled: Option<Verdict>,
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
    /// The answer, if it needs no check run (liveness, an open startup
    /// probe, an unknown check name).
    pub fn answer_now(&self) -> Option<Response<Bytes>> {
        let verdict = self.settled.as_ref()?;
        Some(render_verdict(verdict, &self.route, T::config()))
    }

    /// The answer: status, headers and body, running the checks the probe
    /// needs within its deadline.
    pub async fn answer(self) -> Response<Bytes> {
        let verdict = match self.settled {
            Some(verdict) => verdict,
            None => {
                let excluded = &self.route.excluded;
                self.probes.checked(self.route.target, excluded).await
            }
        };
        render_verdict(&verdict, &self.route, T::config())
    }
}

/// A probe response: `Cache-Control: no-store`, plain text, and for HEAD
/// the same status and headers without the body.
fn text(status: StatusCode, body: Bytes, head: bool) -> Response<Bytes> {
    let length = HeaderValue::from(body.len());
    let mut response = Response::new(if head { Bytes::new() } else { body });
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CONTENT_LENGTH, length);
    response
}
