//! The rule every pooled backend follows when the application's pool gives
//! the check no connection in time: **busy must be proven, not assumed**.
//!
//! A pool with every connection in use is either loaded (its connections
//! come back, just not fast enough) or held by requests stuck on a dead
//! database (they never come back, and new connects hang as well). The
//! pool's own counters cannot tell these apart: they count connections
//! being opened, and connections being pinged on their way back, as in use.
//! So a pooled check also keeps one **dedicated probe connection**, opened
//! outside the pool when first needed, reused, closed and reopened on
//! failure, and runs its ping there under the same deadline:
//!
//! - the pool gave a connection: the ping on it decides, and any busy
//!   streak ends;
//! - no pooled connection in time, and the probe connection failed or did
//!   not answer: the database is down (503);
//! - no pooled connection in time, and the probe connection answered: the
//!   pool is **busy** (degraded, still ready), but only for
//!   [`busy_limit`](crate::CheckConfig::busy_limit) of continuous
//!   saturation; past it, the pool is held by connections stuck on dead
//!   sockets while the server itself answers, and the check fails.
#![allow(
    dead_code,
    reason = "used by the pooled backends, each behind its own feature"
)]

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;

use tokio::time::Instant;

use crate::check::{self, CheckError};
use crate::config::CheckConfig;

/// The ping on one connection, borrowing it.
pub(crate) type Ping<'c, E> = Pin<Box<dyn Future<Output = Result<(), E>> + Send + 'c>>;

/// What a pooled check keeps from one run to the next.
pub(crate) struct PoolProbe<C> {
    /// The dedicated probe connection, outside the application's pool.
    connection: Option<C>,
    /// When the pool was first found saturated with the database answering,
    /// since the last time it handed the check a connection.
    busy_since: Option<Instant>,
}

impl<C> Default for PoolProbe<C> {
    fn default() -> Self {
        Self {
            connection: None,
            busy_since: None,
        }
    }
}

impl<C: Send + 'static> PoolProbe<C> {
    /// The state the current check kept from its last run.
    fn take() -> Self {
        check::take_local()
    }

    /// Keeps this state for the next run.
    fn keep(self) {
        check::put_local(self);
    }

    /// The pool handed out a connection: it is not saturated.
    fn acquired(&mut self) {
        self.busy_since = None;
    }

    /// The verdict on a pool that gave no connection before the deadline,
    /// given what the probe connection found (`proof`) and the pool's
    /// connections in use (for the log).
    fn saturated(
        &mut self,
        started: Instant,
        proof: Result<(), CheckError>,
        in_use: impl Display,
        public: &'static str,
    ) -> CheckError {
        if let Err(error) = proof {
            return error;
        }
        let since = *self.busy_since.get_or_insert(started);
        let limit = check::config().map_or(CheckConfig::DEFAULT_BUSY_LIMIT, |c| c.busy_limit);
        let saturated_for = started.saturating_duration_since(since);
        if saturated_for >= limit {
            return CheckError::unavailable(public).with_detail(format!(
                "every pooled connection ({in_use}) has stayed in use for {saturated_for:?} \
                 (busy_limit {limit:?}) while the server answers on a separate connection: \
                 the pool is held by connections stuck on dead sockets"
            ));
        }
        CheckError::busy(CheckError::BUSY).with_detail(format!(
            "no pooled connection became free before the deadline ({in_use} in use); \
             the server answers on the probe connection"
        ))
    }

    /// Runs `ping` on the probe connection, opening it with `open` first if
    /// there is none, both before `deadline`. A connection whose ping failed
    /// or timed out is dropped (closed), and the next run opens a new one.
    async fn prove<Open, E>(
        &mut self,
        deadline: Instant,
        public: &'static str,
        open: impl FnOnce() -> Open,
        ping: impl FnOnce(&mut C) -> Ping<'_, E>,
    ) -> Result<(), CheckError>
    where
        Open: Future<Output = Result<C, E>>,
        E: Display + Send + Sync + 'static,
    {
        let mut connection = match self.connection.take() {
            Some(connection) => connection,
            None => match tokio::time::timeout_at(deadline, open()).await {
                Ok(Ok(connection)) => connection,
                Ok(Err(error)) => return Err(CheckError::unavailable(public).with_detail(error)),
                Err(_elapsed) => {
                    return Err(CheckError::timed_out(public)
                        .with_detail("the probe connection did not open before the deadline"))
                }
            },
        };
        match tokio::time::timeout_at(deadline, ping(&mut connection)).await {
            Ok(Ok(())) => {
                self.connection = Some(connection);
                Ok(())
            }
            Ok(Err(error)) => Err(CheckError::unavailable(public).with_detail(error)),
            Err(_elapsed) => Err(CheckError::timed_out(public)
                .with_detail("the probe connection did not answer before the deadline")),
        }
    }
}

/// What waiting for the application's pool gave.
pub(crate) enum Acquired<T> {
    /// A pooled connection.
    Connection(T),
    /// No connection before the deadline (or the pool's own timeout).
    NoneInTime,
    /// The pool failed otherwise (it is closed, or a connect failed).
    Failed(CheckError),
}

impl<C: Send + 'static> PoolProbe<C> {
    /// One pooled check: waits for a connection from the application's
    /// pool (`acquire`) and pings on it (`use_pooled`), all before
    /// `deadline`; while waiting, looks for evidence on the probe
    /// connection (`open`, `ping`) and judges a pool that gave nothing as
    /// the module documentation says. `in_use` describes the pool for the
    /// log when it is saturated.
    #[allow(
        clippy::too_many_arguments,
        reason = "one call per backend, named by position"
    )]
    pub(crate) async fn check<T, E, Open, Use>(
        &mut self,
        deadline: Instant,
        public: &'static str,
        looks_saturated: bool,
        acquire: impl Future<Output = Acquired<T>>,
        use_pooled: impl FnOnce(T) -> Use,
        in_use: impl FnOnce() -> String,
        open: impl FnOnce() -> Open,
        ping: impl FnOnce(&mut C) -> Ping<'_, E>,
    ) -> Result<(), CheckError>
    where
        Open: Future<Output = Result<C, E>>,
        Use: Future<Output = Result<(), CheckError>>,
        E: Display + Send + Sync + 'static,
    {
        let started = Instant::now();
        let proof_at = proof_starts(started, deadline, looks_saturated);
        let acquire = tokio::time::timeout_at(deadline, acquire);
        tokio::pin!(acquire);
        let early = tokio::select! {
            biased;
            acquired = &mut acquire => Some(acquired),
            () = tokio::time::sleep_until(proof_at) => None,
        };
        let mut prover = Some((open, ping));
        let (acquired, proof) = match early {
            Some(acquired) => (acquired, None),
            None => {
                let (open, ping) = prover.take().expect("not taken yet");
                let proof = self.prove(deadline, public, open, ping);
                tokio::pin!(proof);
                let mut proven = None;
                let acquired = loop {
                    tokio::select! {
                        biased;
                        acquired = &mut acquire => break acquired,
                        result = &mut proof, if proven.is_none() => proven = Some(result),
                    }
                };
                let connected = matches!(acquired, Ok(Acquired::Connection(_)));
                let proof = match (connected, proven) {
                    // A pooled connection makes the evidence moot: a proof
                    // cut short drops (closes) the probe connection it held,
                    // and the next one opens a new one.
                    (true, proven) => proven,
                    (false, Some(proven)) => Some(proven),
                    (false, None) => Some(proof.await),
                };
                (acquired, proof)
            }
        };
        match acquired.unwrap_or(Acquired::NoneInTime) {
            Acquired::Connection(connection) => {
                self.acquired();
                use_pooled(connection).await
            }
            Acquired::Failed(error) => Err(error),
            Acquired::NoneInTime => {
                let proof = match (proof, prover) {
                    (Some(proof), _) => proof,
                    (None, Some((open, ping))) => self.prove(deadline, public, open, ping).await,
                    (None, None) => unreachable!("the proof ran or its closures are here"),
                };
                Err(self.saturated(started, proof, in_use(), public))
            }
        }
    }
}

impl<C: Send + 'static> PoolProbe<C> {
    /// [`check`](Self::check) with the state the current check kept from
    /// its last run, kept again for the next: what every pooled backend
    /// calls, with the same arguments.
    #[allow(
        clippy::too_many_arguments,
        reason = "one call per backend, named by position"
    )]
    pub(crate) async fn run<T, E, Open, Use>(
        deadline: Instant,
        public: &'static str,
        looks_saturated: bool,
        acquire: impl Future<Output = Acquired<T>>,
        use_pooled: impl FnOnce(T) -> Use,
        in_use: impl FnOnce() -> String,
        open: impl FnOnce() -> Open,
        ping: impl FnOnce(&mut C) -> Ping<'_, E>,
    ) -> Result<(), CheckError>
    where
        Open: Future<Output = Result<C, E>>,
        Use: Future<Output = Result<(), CheckError>>,
        E: Display + Send + Sync + 'static,
    {
        let mut probe = Self::take();
        let result = probe
            .check(
                deadline,
                public,
                looks_saturated,
                acquire,
                use_pooled,
                in_use,
                open,
                ping,
            )
            .await;
        probe.keep();
        result
    }
}

/// When a pooled check starts looking for evidence on its probe connection
/// while it still waits for the pool: at once if the pool already looks
/// saturated, else half-way to the deadline, so that both fit in it.
fn proof_starts(started: Instant, deadline: Instant, looks_saturated: bool) -> Instant {
    if looks_saturated {
        started
    } else {
        started + deadline.saturating_duration_since(started) / 2
    }
}

/// The pooled check on a deadpool pool (deadpool-redis, deadpool-postgres,
/// deadpool-lapin): the pool's own status says whether it looks saturated,
/// its `get` (bounded by the pool's wait timeout and the deadline) is the
/// acquire, and its counters describe it for the log. `use_pooled`, `open`
/// and `ping` are the backend's, as for [`PoolProbe::run`].
#[cfg(any(
    feature = "deadpool-redis",
    feature = "deadpool-postgres",
    feature = "deadpool-lapin"
))]
pub(crate) async fn deadpool<M, W, E, Open, Use>(
    pool: &deadpool::managed::Pool<M, W>,
    public: &'static str,
    use_pooled: impl FnOnce(W) -> Use,
    open: impl FnOnce() -> Open,
    ping: impl FnOnce(&mut M::Type) -> Ping<'_, E>,
) -> Result<(), CheckError>
where
    M: deadpool::managed::Manager,
    M::Type: Send + 'static,
    M::Error: Display + Send + Sync + 'static,
    W: From<deadpool::managed::Object<M>>,
    Open: Future<Output = Result<M::Type, E>>,
    Use: Future<Output = Result<(), CheckError>>,
    E: Display + Send + Sync + 'static,
{
    use deadpool::managed::PoolError;

    let status = pool.status();
    let looks_saturated = status.available == 0 && status.size >= status.max_size;
    let acquire = async {
        match pool.get().await {
            Ok(connection) => Acquired::Connection(connection),
            Err(PoolError::Timeout(_)) => Acquired::NoneInTime,
            Err(error) => Acquired::Failed(CheckError::unavailable(public).with_detail(error)),
        }
    };
    let in_use = || {
        let status = pool.status();
        format!("{} of {}", status.size, status.max_size)
    };
    PoolProbe::run(
        check::deadline_or_default(),
        public,
        looks_saturated,
        acquire,
        use_pooled,
        in_use,
        open,
        ping,
    )
    .await
}
