//! A dependency whose answer a test sets, and the state most behaviour
//! tests probe: shared by the tower, actix and gRPC tests so that they
//! exercise the same checks.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use healthz::{Check, CheckError, HealthChecks};

/// What a [`Fake`] check does when run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    Pass,
    Fail,
    Busy,
    Hang,
    Panic,
    Slow,
}

/// A dependency whose answer the test sets, and which counts its checks.
#[derive(Clone)]
pub struct Fake(Arc<FakeState>);

struct FakeState {
    mode: AtomicU8,
    calls: AtomicUsize,
}

impl Fake {
    pub fn new(mode: Mode) -> Self {
        Fake(Arc::new(FakeState {
            mode: AtomicU8::new(mode as u8),
            calls: AtomicUsize::new(0),
        }))
    }

    pub fn set(&self, mode: Mode) {
        self.0.mode.store(mode as u8, Ordering::SeqCst);
    }

    pub fn calls(&self) -> usize {
        self.0.calls.load(Ordering::SeqCst)
    }
}

impl Check for Fake {
    async fn check(&self) -> Result<(), CheckError> {
        self.0.calls.fetch_add(1, Ordering::SeqCst);
        let mode = self.0.mode.load(Ordering::SeqCst);
        match mode {
            m if m == Mode::Pass as u8 => Ok(()),
            m if m == Mode::Fail as u8 => Err(CheckError::unavailable(CheckError::DATABASE)
                .with_detail("connection refused by db.internal:5432 for user admin")),
            m if m == Mode::Busy as u8 => {
                Err(CheckError::busy("busy: every connection is in use."))
            }
            m if m == Mode::Hang as u8 => std::future::pending().await,
            m if m == Mode::Slow as u8 => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok(())
            }
            _ => panic!("the check panicked on purpose"),
        }
    }
}

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "300ms", cache = "0s")]
pub struct AppState {
    #[healthz]
    pub db: Fake,
    #[healthz(name = "cache", timeout = "200ms")]
    pub sessions: Fake,
    #[healthz(critical = false)]
    pub replica: Fake,
    #[allow(dead_code)]
    pub settings: String,
}

pub fn state() -> AppState {
    AppState {
        db: Fake::new(Mode::Pass),
        sessions: Fake::new(Mode::Pass),
        replica: Fake::new(Mode::Pass),
        settings: "not checked".to_owned(),
    }
}
