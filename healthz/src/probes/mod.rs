//! The [`HealthChecks`] trait and the [`Probes`] handle: the startup latch
//! and the drain switch here, the evaluation of checks under the probe
//! deadline in [`evaluate`], background mode and subscribers in
//! [`background`]. Which request is a probe, and what it answers, is
//! decided by [`Probes::probe_request`] and
//! [`ProbeRequest`](crate::ProbeRequest).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::check::CheckFuture;
use crate::config::Config;
use crate::details::Details;
use crate::report::Report;
use crate::runner::{Checks, Slot};

mod background;
mod evaluate;

pub(crate) use evaluate::Selection;

/// A state type whose annotated fields are health checks.
///
/// Derive it with `#[derive(HealthChecks)]` (see the crate documentation for
/// the attributes); implementing it by hand is not supported, since the
/// derive is what checks the configuration at compile time.
///
/// The state is shared by every clone of its [`Probes`] and checked from
/// tasks on any thread, hence `Send + Sync + 'static`.
pub trait HealthChecks: Send + Sync + 'static {
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
        Self: Clone + Sized,
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
    /// Who may read this handle's details: per handle, so that a
    /// probe-only listener and the public layer can differ.
    details: Details,
}

struct Shared<T> {
    state: T,
    slots: Box<[Slot]>,
    started: AtomicBool,
    draining: AtomicBool,
    /// Tells `drained()` waiters that draining has begun.
    drain_signal: tokio::sync::Notify,
    /// Whether the background checks' tasks were started.
    background: AtomicBool,
    /// Never sent on: dropped with the last handle, which stops the
    /// background tasks.
    stop: watch::Sender<()>,
    /// The readiness report subscribers see, updated on each change.
    report: watch::Sender<Report>,
}

impl<T: HealthChecks> Checks for Shared<T> {
    fn slot(&self, index: usize) -> &Slot {
        &self.slots[index]
    }

    fn start(&self, index: usize) -> CheckFuture<'_> {
        self.state.__healthz_check(index)
    }

    fn published(&self, index: usize) {
        if !T::config().checks[index].liveness {
            self.update_subscribers();
        }
    }
}

impl<T> Clone for Probes<T> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            details: self.details.clone(),
        }
    }
}

impl<T> fmt::Debug for Probes<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Probes")
            .field("started", &self.shared.started.load(Ordering::Relaxed))
            .field("draining", &self.shared.draining.load(Ordering::Relaxed))
            .field("details", &self.details)
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

impl<T> Probes<T>
where
    T: HealthChecks,
{
    /// Takes ownership of `state` and builds its probes. Usually called as
    /// `state.probes()`.
    pub fn new(state: T) -> Self {
        let slots = T::config().checks.iter().map(|_| Slot::default()).collect();
        let shared = Shared {
            state,
            slots,
            started: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            drain_signal: tokio::sync::Notify::new(),
            background: AtomicBool::new(false),
            stop: watch::channel(()).0,
            report: watch::channel(Report {
                checks: Vec::new(),
                excluded: Vec::new(),
                draining: false,
            })
            .0,
        };
        shared.report.send_replace(shared.current_report());
        Self {
            shared: Arc::new(shared),
            details: Details::never(),
        }
    }

    /// This handle with `details` as its policy on who may read the
    /// verbose answer, the health+json checks and the per-check paths
    /// ([`Details::never`] unless set). The policy belongs to this handle
    /// and its clones from now on; everything else stays shared.
    #[must_use]
    pub fn with_details(mut self, details: Details) -> Self {
        self.details = details;
        self
    }

    /// This handle's policy on who may read the details.
    pub fn details(&self) -> &Details {
        &self.details
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
            self.shared.update_subscribers();
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
}
