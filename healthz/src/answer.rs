//! The HTTP answer of a routed probe: its status, headers and body, and
//! [`ProbeRequest`], the one entry point every server adapter (the tower
//! layer, the actix middleware, a hand-written one) goes through.

use std::fmt;

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, Method, Response, StatusCode, Uri};

use crate::probes::{HealthChecks, Probes, Selection};
use crate::report::{self, Report};
use crate::route::{self, Probe, Route};

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
        Some(ProbeRequest {
            probes: self.clone(),
            route,
        })
    }

    /// The answer to a probe that needs no check run (liveness, an unknown
    /// check, an open startup probe), or `None`.
    pub(crate) fn answer_now(&self, route: &Route) -> Option<Response<Bytes>> {
        match route.probe {
            // Liveness without liveness checks touches nothing at all.
            Probe::Liveness if !has_liveness_checks::<T>() => {
                Some(fixed(StatusCode::OK, "OK", route))
            }
            Probe::Startup if self.is_started() => Some(fixed(StatusCode::OK, "OK", route)),
            Probe::UnknownCheck => Some(fixed(StatusCode::NOT_FOUND, "no such check.", route)),
            // Draining answers at once: no dependency is asked, so a dead
            // one cannot delay the 503 that takes the pod out of rotation.
            Probe::Readiness | Probe::Check(_) if self.is_draining() => {
                let report = Report {
                    checks: Vec::new(),
                    excluded: Vec::new(),
                    draining: true,
                };
                let body = body(&report, route, "readiness");
                Some(render(StatusCode::SERVICE_UNAVAILABLE, body, route))
            }
            _ => None,
        }
    }

    /// Answers a routed probe, running the checks it needs.
    pub(crate) async fn respond(&self, route: Route) -> Response<Bytes> {
        if let Some(response) = self.answer_now(&route) {
            return response;
        }
        let config = T::config();
        let (report, probe_name) = match route.probe {
            Probe::Readiness => (
                self.evaluate(Selection::Readiness(&route.excluded)).await,
                "readiness",
            ),
            Probe::Liveness => (self.evaluate(Selection::Liveness).await, "liveness"),
            Probe::Check(index) => {
                let mut report = self.evaluate(Selection::One(index)).await;
                // Asked about one check, the answer is that check's: a
                // failing non-critical check fails its own probe.
                for check in &mut report.checks {
                    check.critical = true;
                }
                (report, config.checks[index].name)
            }
            // Unknown checks were answered above.
            Probe::Startup | Probe::UnknownCheck => {
                return self.respond_startup(&route).await;
            }
        };
        let status = if report.status().is_ready() {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        if status == StatusCode::OK && !route.json && !route.verbose {
            // The body every passing kubelet probe gets: no formatting.
            return text(status, OK, route.head);
        }
        render(status, body(&report, &route, probe_name), &route)
    }

    /// Answers a startup probe that has not opened yet.
    async fn respond_startup(&self, route: &Route) -> Response<Bytes> {
        let mut report = self.evaluate(Selection::Readiness(&[])).await;
        if self.is_started() {
            return text(StatusCode::OK, OK, route.head);
        }
        // Startup is about the process coming up: draining is readiness's
        // business, and a busy pool has not passed yet.
        report.draining = false;
        let body = if !route.json && !route.verbose && report.status().is_ready() {
            "starting".to_owned()
        } else {
            body(&report, route, "startup")
        };
        render(StatusCode::SERVICE_UNAVAILABLE, body, route)
    }
}

fn has_liveness_checks<T: HealthChecks>() -> bool {
    T::config().checks.iter().any(|check| check.liveness)
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
}

impl<T> fmt::Debug for ProbeRequest<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProbeRequest")
            .field("probe", &self.route.probe)
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
        self.probes.answer_now(&self.route)
    }

    /// The answer: status, headers and body, running the checks the probe
    /// needs within its deadline.
    pub async fn answer(self) -> Response<Bytes> {
        self.probes.respond(self.route).await
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
