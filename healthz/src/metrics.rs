//! Check metrics through the `metrics` facade (feature `metrics`); the
//! crate documentation lists them. Recorded once per check run, not once
//! per probe: with the result cache and single-flight, a probe storm does
//! not inflate them.

use std::time::Duration;

use crate::report::Outcome;

fn state(outcome: &Outcome) -> (&'static str, f64) {
    match outcome {
        Outcome::Pass | Outcome::NotConfigured => ("pass", 1.0),
        Outcome::Busy { .. } => ("busy", 0.5),
        Outcome::Fail { .. } => ("fail", 0.0),
    }
}

/// Records one finished run of `check`.
pub(crate) fn record_run(check: &'static str, outcome: &Outcome, latency: Duration) {
    let (_, value) = state(outcome);
    metrics::gauge!("healthz_check_status", "check" => check).set(value);
    metrics::histogram!("healthz_check_duration_seconds", "check" => check)
        .record(latency.as_secs_f64());
}

/// Records that `check` changed state to `outcome`'s.
pub(crate) fn record_transition(check: &'static str, outcome: &Outcome) {
    let (to, _) = state(outcome);
    metrics::counter!("healthz_check_transitions_total", "check" => check, "to" => to).increment(1);
}
