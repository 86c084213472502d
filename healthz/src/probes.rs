//! The [`HealthChecks`] trait and the [`Probes`] handle: which request is a
//! probe, and what it answers.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, ACCEPT, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, Method, Response, StatusCode, Uri};
use tokio::time::Instant;

use crate::__private::CheckFuture;
use crate::config::Config;
use crate::report::{CheckReport, Report};
use crate::runner::{self, Lookup, Slot};

/// A state type whose annotated fields are health checks.
///
/// Derive it with `#[derive(HealthChecks)]` (see the crate documentation for
/// the attributes); implementing it by hand is not supported, since the
/// derive is what checks the configuration at compile time.
pub trait HealthChecks {
    /// The probe configuration fixed by the derive's attributes.
    fn config() -> &'static Config
    where
        Self: Sized;

    /// Runs the check at `index` in [`Config::checks`] once.
    #[doc(hidden)]
    fn __healthz_check(&self, index: usize) -> CheckFuture<'_>;

    /// Builds the [`Probes`] of a clone of this state: the tower layer to
    /// mount outermost, and the drain switch.
    fn probes(&self) -> Probes<Self>
    where
        Self: Clone + Send + Sync + Sized + 'static,
    {
        Probes::new(self.clone())
    }
}

/// The probes of one state value: a tower [`Layer`](tower_layer::Layer)
/// (and, with the `actix` feature, an actix-web `Transform`) that answers
/// the kubelet ahead of every other middleware, and the switch that drains
/// the service at shutdown. With the `grpc` feature the same probes also
/// back a `grpc.health.v1.Health` service.
///
/// Clones are cheap and share everything: the result cache, the in-flight
/// runs, the startup latch and the drain state. Mount one clone as the
/// outermost layer and keep another to call [`drain`](Probes::drain).
pub struct Probes<T> {
    shared: Arc<Shared<T>>,
}

pub(crate) struct Shared<T> {
    pub(crate) state: T,
    pub(crate) slots: Box<[Slot]>,
    started: AtomicBool,
    draining: AtomicBool,
    /// Tells `drained()` waiters that draining has begun.
    drain_signal: tokio::sync::Notify,
}

impl<T> Clone for Probes<T> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> fmt::Debug for Probes<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Probes")
            .field("started", &self.shared.started.load(Ordering::Relaxed))
            .field("draining", &self.shared.draining.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Resolves on SIGTERM or Ctrl-C; never, if neither can be listened for.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// Which probe a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    Liveness,
    Readiness,
    /// `<readiness>/<name>`: one check.
    Check(usize),
    /// `<readiness>/<name>` where no check has that name.
    UnknownCheck,
    Startup,
}

/// A request routed to a probe, with what its query string asks for.
#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) probe: Probe,
    pub(crate) head: bool,
    verbose: bool,
    json: bool,
    excluded: Vec<usize>,
}

impl<T> Probes<T>
where
    T: HealthChecks + Send + Sync + 'static,
{
    /// Takes ownership of `state` and builds its probes. Usually called as
    /// `state.probes()`.
    pub fn new(state: T) -> Self {
        let slots = T::config().checks.iter().map(|_| Slot::default()).collect();
        Self {
            shared: Arc::new(Shared {
                state,
                slots,
                started: AtomicBool::new(false),
                draining: AtomicBool::new(false),
                drain_signal: tokio::sync::Notify::new(),
            }),
        }
    }

    /// The state the checks run against.
    pub fn state(&self) -> &T {
        &self.shared.state
    }

    /// The compile-time configuration of `T`.
    pub fn config(&self) -> &'static Config {
        T::config()
    }

    /// Starts draining: from now on readiness answers 503 `shutting down`,
    /// so the endpoints controller stops routing new traffic here, while
    /// liveness stays 200 and the application keeps serving. There is no
    /// way back: call it when shutdown has begun.
    pub fn drain(&self) {
        if !self.shared.draining.swap(true, Ordering::SeqCst) {
            tracing::info!("draining: readiness now answers 503");
            self.shared.drain_signal.notify_waiters();
        }
    }

    /// Resolves once [`drain`](Probes::drain) has been called (at once if
    /// it already was).
    pub async fn drained(&self) {
        let notified = self.shared.drain_signal.notified();
        if self.is_draining() {
            return;
        }
        notified.await;
    }

    /// Waits for SIGTERM (what the kubelet sends to stop a pod) or Ctrl-C,
    /// then [drains](Probes::drain), keeps serving for `delay` so that the
    /// endpoints controller and the load balancers stop routing here, and
    /// resolves: pass it to `with_graceful_shutdown`, and the server stops
    /// accepting only after the delay. This replaces a `sleep` in a
    /// `preStop` hook. Liveness stays 200 throughout.
    ///
    /// ```no_run
    /// # use healthz::HealthChecks;
    /// # #[derive(Clone, HealthChecks)] struct State {}
    /// # async fn serve(state: State) -> std::io::Result<()> {
    /// let probes = state.probes();
    /// let app = axum::Router::new().with_state(state).layer(probes.clone());
    /// let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
    /// axum::serve(listener, app)
    ///     .with_graceful_shutdown(probes.drain_on_signal(std::time::Duration::from_secs(5)))
    ///     .await
    /// # }
    /// ```
    ///
    /// If no signal handler can be installed, it logs the error and waits
    /// for a call to [`drain`](Probes::drain) instead.
    pub async fn drain_on_signal(self, delay: Duration) {
        tokio::select! {
            () = shutdown_signal() => {}
            () = self.drained() => {}
        }
        self.drain();
        tracing::info!(
            ?delay,
            "shutdown requested: draining before the server stops"
        );
        tokio::time::sleep(delay).await;
    }

    /// Whether [`drain`](Probes::drain) was called.
    pub fn is_draining(&self) -> bool {
        self.shared.draining.load(Ordering::SeqCst)
    }

    /// Whether every critical check has passed at least once, which opens
    /// the startup probe for good.
    pub fn is_started(&self) -> bool {
        self.shared.started.load(Ordering::Acquire)
    }

    /// Runs every check, concurrently, under the probe deadline (results
    /// younger than the cache TTL are reused), and reports.
    pub async fn readiness(&self) -> Report {
        self.evaluate(None, &[]).await
    }

    /// Runs the check called `name` alone, or returns `None` if there is
    /// no such check.
    pub async fn check(&self, name: &str) -> Option<CheckReport> {
        let index = T::config().checks.iter().position(|c| c.name == name)?;
        self.evaluate(Some(index), &[]).await.checks.pop()
    }

    async fn evaluate(&self, only: Option<usize>, excluded: &[usize]) -> Report {
        let config = T::config();
        let probe_start = Instant::now();
        let probe_deadline = probe_start + config.probe_timeout;
        let selected =
            |index: &usize| only.is_none_or(|only| only == *index) && !excluded.contains(index);
        let lookups: Vec<(usize, Lookup)> = (0..config.checks.len())
            .filter(selected)
            .map(|index| {
                let lookup = runner::lookup(&self.shared, index, probe_start);
                (index, lookup)
            })
            .collect();
        let all_ready = lookups.iter().all(|(_, l)| matches!(l, Lookup::Ready(_)));
        let checks = if all_ready {
            // Every result came from the cache: the common case under a
            // probe storm, so no future is built or boxed for it.
            lookups
                .into_iter()
                .filter_map(|(_, lookup)| match lookup {
                    Lookup::Ready(report) => Some(report),
                    Lookup::Wait(_) => None,
                })
                .collect()
        } else {
            join_all(lookups.into_iter().map(|(index, lookup)| async move {
                match lookup {
                    Lookup::Ready(report) => report,
                    Lookup::Wait(receiver) => {
                        let check = &config.checks[index];
                        runner::wait(check, receiver, probe_start, probe_deadline).await
                    }
                }
            }))
            .await
        };
        let report = Report {
            checks,
            excluded: excluded.iter().map(|&i| config.checks[i].name).collect(),
            draining: self.is_draining(),
        };
        if only.is_none() && excluded.is_empty() && !self.is_started() {
            let critical_pass = report
                .checks
                .iter()
                .all(|check| !check.critical || check.outcome.is_pass());
            if critical_pass {
                self.shared.started.store(true, Ordering::Release);
                tracing::info!("startup complete: every critical check has passed");
            }
        }
        report
    }

    /// The probe a request asks for, or `None` if it is not a probe (then
    /// nothing was allocated): the entry point for frameworks other than
    /// tower. Only `GET` and `HEAD` on the probe paths are probes.
    pub fn probe_request(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Option<ProbeRequest<T>> {
        let route = self.route(method, uri, headers)?;
        Some(ProbeRequest {
            probes: self.clone(),
            route,
        })
    }

    /// Decides whether a request is a probe. Anything but `GET` or `HEAD`
    /// on a probe path is not, and is left to the application.
    pub(crate) fn route(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Option<Route> {
        let head = if method == Method::GET {
            false
        } else if method == Method::HEAD {
            true
        } else {
            return None;
        };
        let config = T::config();
        let path = uri.path();
        if !config.is_probe_path(path) {
            return None;
        }
        let probe = if path == config.liveness_path {
            Probe::Liveness
        } else if path == config.readiness_path {
            Probe::Readiness
        } else if path == config.startup_path {
            Probe::Startup
        } else {
            let name = path
                .strip_prefix(config.readiness_path)?
                .strip_prefix('/')?;
            match config.checks.iter().position(|c| c.name == name) {
                Some(index) => Probe::Check(index),
                None => Probe::UnknownCheck,
            }
        };
        let mut route = Route {
            probe,
            head,
            verbose: false,
            json: accepts_json(headers),
            excluded: Vec::new(),
        };
        for (key, value) in uri.query().unwrap_or("").split('&').map(split_pair) {
            match key {
                "verbose" => route.verbose = !matches!(value, "0" | "false"),
                "format" => route.json = value == "json",
                "exclude" => {
                    let value = percent_decode(value);
                    if let Some(index) = config.checks.iter().position(|c| c.name == value) {
                        if !route.excluded.contains(&index) {
                            route.excluded.push(index);
                        }
                    }
                }
                _ => {}
            }
        }
        Some(route)
    }

    /// The answer to a probe that needs no check run (liveness, an unknown
    /// check, an open startup probe), or `None`.
    pub(crate) fn answer_now(&self, route: &Route) -> Option<Response<Bytes>> {
        match route.probe {
            Probe::Liveness => Some(fixed(StatusCode::OK, "OK", route)),
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
            Probe::Readiness => (self.evaluate(None, &route.excluded).await, "readiness"),
            Probe::Check(index) => (
                self.evaluate(Some(index), &[]).await,
                config.checks[index].name,
            ),
            // Liveness and unknown checks were answered above.
            Probe::Startup | Probe::Liveness | Probe::UnknownCheck => {
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
}

impl<T> Probes<T>
where
    T: HealthChecks + Send + Sync + 'static,
{
    /// Answers a startup probe that has not opened yet.
    async fn respond_startup(&self, route: &Route) -> Response<Bytes> {
        let mut report = self.evaluate(None, &[]).await;
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
        let body = if status == StatusCode::OK {
            r#"{"status":"pass"}"#.to_owned()
        } else {
            format!(r#"{{"status":"fail","output":"{text_body}"}}"#)
        };
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
    T: HealthChecks + Send + Sync + 'static,
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

/// Whether the `Accept` header names `application/health+json` or
/// `application/json`.
fn accepts_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|range| range.split(';').next().unwrap_or("").trim())
        .any(|range| {
            range.eq_ignore_ascii_case("application/health+json")
                || range.eq_ignore_ascii_case("application/json")
        })
}

fn split_pair(pair: &str) -> (&str, &str) {
    pair.split_once('=').unwrap_or((pair, ""))
}

/// Decodes `%XX` escapes and `+`; anything malformed is kept as it is, so
/// it simply matches no check name.
fn percent_decode(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.contains(['%', '+']) {
        return value.into();
    }
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned().into()
}

/// Polls every future to completion, concurrently, keeping their order.
async fn join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.map(|f| Some(Box::pin(f))).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => {
                        *output = Some(value);
                        *slot = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
