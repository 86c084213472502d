//! The configurations a campaign scores a backend in: its state's checks
//! run on demand or in the background, each with and without damping.
//!
//! A backend's test file derives one state type; [`Moded`] wraps it and
//! answers [`HealthChecks::config`] with that type's configuration changed
//! to the mode's, so that one state type yields all four. The checks
//! themselves (and every rule of the runtime) are the state's own.

use std::any::TypeId;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use healthz::HealthChecks;
use healthz::{CheckConfig, Config, FailAfter};

/// How the checks run, and whether flaps are damped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Run when a probe asks; a result reused for the default TTL (1s).
    OnDemand,
    /// The same, failing only after 3 failed runs in a row and passing
    /// again after 2 passes.
    OnDemandDamped,
    /// Run every second on a timer; probes answer from the latest result.
    Background,
    /// The same, damped as [`OnDemandDamped`](Mode::OnDemandDamped).
    BackgroundDamped,
}

impl Mode {
    /// Every mode, in the order of the report.
    pub const ALL: [Mode; 4] = [
        Mode::OnDemand,
        Mode::OnDemandDamped,
        Mode::Background,
        Mode::BackgroundDamped,
    ];

    /// The mode's name in reports and in `HEALTHZ_CHAOS_MODES`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::OnDemand => "on-demand",
            Mode::OnDemandDamped => "on-demand+damping",
            Mode::Background => "background",
            Mode::BackgroundDamped => "background+damping",
        }
    }

    /// The mode called `name`.
    pub fn named(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|mode| mode.name() == name)
    }

    const PERIOD: Duration = Duration::from_secs(1);

    fn damped(self) -> bool {
        matches!(self, Mode::OnDemandDamped | Mode::BackgroundDamped)
    }

    fn background(self) -> bool {
        matches!(self, Mode::Background | Mode::BackgroundDamped)
    }

    /// `config` as this mode runs it.
    fn apply(self, config: &Config) -> Config {
        let mut moded = *config;
        moded.cache_ttl = Config::DEFAULT_CACHE_TTL;
        let checks: Vec<CheckConfig> = config
            .checks
            .iter()
            .map(|check| {
                let mut check = *check;
                if !check.liveness {
                    check.interval = self.background().then_some(Mode::PERIOD);
                    if self.damped() {
                        check.fail_after = FailAfter::Failures(3);
                        check.recover_after = 2;
                    }
                }
                check
            })
            .collect();
        moded.checks = Box::leak(checks.into_boxed_slice());
        moded
    }
}

/// The state `S` with its checks run as mode `M` (an index into
/// [`Mode::ALL`]) says.
pub struct Moded<S, const M: usize> {
    state: S,
    _mode: PhantomData<fn() -> S>,
}

impl<S: Clone, const M: usize> Clone for Moded<S, M> {
    fn clone(&self) -> Self {
        Moded::new(self.state.clone())
    }
}

impl<S, const M: usize> Moded<S, M> {
    /// Wraps `state`.
    pub fn new(state: S) -> Self {
        Moded {
            state,
            _mode: PhantomData,
        }
    }

    /// The mode.
    pub const MODE: Mode = Mode::ALL[M];
}

impl<S, const M: usize> From<S> for Moded<S, M> {
    fn from(state: S) -> Self {
        Moded::new(state)
    }
}

impl<S: HealthChecks, const M: usize> HealthChecks for Moded<S, M> {
    fn config() -> &'static Config {
        // One leaked configuration per (state, mode): a handful per test
        // binary.
        static CONFIGS: Mutex<Option<HashMap<TypeId, &'static Config>>> = Mutex::new(None);
        let mut configs = CONFIGS.lock().unwrap_or_else(PoisonError::into_inner);
        configs
            .get_or_insert_with(HashMap::new)
            .entry(TypeId::of::<Self>())
            .or_insert_with(|| Box::leak(Box::new(Self::MODE.apply(S::config()))))
    }

    fn __healthz_check(&self, index: usize) -> healthz::__private::CheckFuture<'_> {
        self.state.__healthz_check(index)
    }
}
