//! Logs and metrics: one event per state change, never one per probe, with
//! the private error detail in the log only; metrics per check run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use healthz::{Check, CheckError, HealthChecks};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::{CompositeKey, MetricKind};
use support::{get, serve};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

#[derive(Clone)]
struct Switch(Arc<AtomicBool>);

impl Check for Switch {
    async fn check(&self) -> Result<(), CheckError> {
        if self.0.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(CheckError::unavailable(CheckError::DATABASE)
                .with_detail("password authentication failed for user \"app\" at db.internal:5432"))
        }
    }
}

#[derive(Clone, HealthChecks)]
#[healthz(cache = "0s")]
struct State {
    #[healthz]
    db: Switch,
}

/// Every event logged by healthz: level and rendered fields.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<(tracing::Level, String)>>>);

impl<S: tracing::Subscriber> Layer<S> for Events {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if !event.metadata().target().starts_with("healthz") {
            return;
        }
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={value:?} ", field.name()));
            }
        }
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        self.0
            .lock()
            .unwrap()
            .push((*event.metadata().level(), fields.0));
    }
}

impl Events {
    fn at(&self, level: tracing::Level) -> Vec<String> {
        let events = self.0.lock().unwrap();
        events
            .iter()
            .filter(|(l, _)| *l == level)
            .map(|(_, f)| f.clone())
            .collect()
    }
}

type Metrics = Vec<(
    CompositeKey,
    Option<metrics::Unit>,
    Option<metrics::SharedString>,
    DebugValue,
)>;

fn metric<'a>(
    metrics: &'a Metrics,
    kind: MetricKind,
    name: &str,
    labels: &[(&str, &str)],
) -> Option<&'a DebugValue> {
    metrics.iter().find_map(|(key, _, _, value)| {
        let matches = key.kind() == kind
            && key.key().name() == name
            && labels
                .iter()
                .all(|(k, v)| key.key().labels().any(|l| l.key() == *k && l.value() == *v));
        matches.then_some(value)
    })
}

fn counter(metrics: &Metrics, to: &str) -> u64 {
    match metric(
        metrics,
        MetricKind::Counter,
        "healthz_check_transitions_total",
        &[("check", "db"), ("to", to)],
    ) {
        Some(DebugValue::Counter(n)) => *n,
        None => 0,
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_log_event_and_one_transition_per_state_change_not_per_probe() {
    let events = Events::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(events.clone()))
        .expect("install the test subscriber");
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().expect("install the test recorder");

    let up = Arc::new(AtomicBool::new(true));
    let addr = serve(
        axum::Router::new().layer(
            State {
                db: Switch(up.clone()),
            }
            .probes()
            .with_details(healthz::details::Details::always()),
        ),
    )
    .await;
    let probe_ten_times = || async {
        for _ in 0..10 {
            get(addr, "/readiness").await;
        }
    };

    probe_ten_times().await;
    up.store(false, Ordering::SeqCst);
    probe_ten_times().await;
    up.store(true, Ordering::SeqCst);
    probe_ten_times().await;

    let warnings = events.at(tracing::Level::WARN);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("db.internal:5432"),
        "the log has the private detail: {warnings:?}"
    );
    assert!(warnings[0].contains("check=\"db\""), "{warnings:?}");
    let infos: Vec<_> = events
        .at(tracing::Level::INFO)
        .into_iter()
        .filter(|e| e.contains("recovered"))
        .collect();
    assert_eq!(infos.len(), 1, "{infos:?}");

    // One snapshot: reading one may reset what the next would see.
    let snapshot: Metrics = snapshotter.snapshot().into_vec();
    assert_eq!(counter(&snapshot, "pass"), 2);
    assert_eq!(counter(&snapshot, "fail"), 1);
    match metric(
        &snapshot,
        MetricKind::Gauge,
        "healthz_check_status",
        &[("check", "db")],
    ) {
        Some(DebugValue::Gauge(value)) => assert_eq!(value.into_inner(), 1.0),
        other => panic!("unexpected {other:?}"),
    }
    match metric(
        &snapshot,
        MetricKind::Histogram,
        "healthz_check_duration_seconds",
        &[("check", "db")],
    ) {
        Some(DebugValue::Histogram(runs)) => assert!(!runs.is_empty()),
        other => panic!("unexpected {other:?}"),
    }
}
