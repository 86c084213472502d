//! The rule every pooled backend follows when the application's pool gives
//! the check no connection in time: **busy must be proven, not assumed**.
//!
//! A pool with every connection in use is either loaded (its connections
//! come back, just not fast enough) or held by requests stuck on a dead
//! database (they never come back, and new connects hang as well). The
//! pool's own counters cannot tell these apart: they count connections
//! being opened, and connections being pinged on their way back, as in use.
//! So a pooled check also keeps one **spare connection** of its own, opened
//! outside the pool when first needed, reused, closed and reopened on
//! failure, and runs its ping there under the same deadline:
//!
//! - the pool gave a connection: the ping on it decides, and any busy
//!   streak ends;
//! - no pooled connection in time, and the spare connection failed or did
//!   not answer: the database is down (503);
//! - no pooled connection in time, and the spare connection answered: the
//!   pool is **busy** (degraded, still ready), but only for
//!   [`busy_limit`](crate::CheckConfig::busy_limit) of continuous
//!   saturation; past it, the pool is held by connections stuck on dead
//!   sockets while the server itself answers, and the check fails.
//!
//! A pooled backend says what it can do by implementing [`PooledBackend`]
//! (take, ping, detach, open a spare, describe its use), in the manner of
//! deadpool's `Manager`; [`check`] runs the rule on it. A deadpool pool
//! needs less: its manager implements [`DeadpoolBackend`] (ping, detach)
//! and the pool side comes from deadpool itself.
#![allow(
    dead_code,
    reason = "used by the pooled backends, each behind its own feature"
)]

use std::fmt::Display;
use std::future::Future;
use std::ops::DerefMut;

use tokio::time::{timeout_at, Instant};

use crate::check::{self, CheckError};
use crate::config::CheckConfig;

/// What a pooled backend provides to the pooled rule.
pub(crate) trait PooledBackend: Sync {
    /// One connection, as [`open`](Self::open) gives it and as a lent one
    /// dereferences to.
    type Connection: Send + 'static;
    /// A connection lent by the application's pool; dropping it hands it
    /// back.
    type Lent: DerefMut<Target = Self::Connection> + Send;
    /// What opening the spare needs that the pool itself does not tell,
    /// learned from a connection it lent ([`recipe`](Self::recipe)):
    /// mysql_async's pool keeps its options to itself, but each of its
    /// connections shows them. `()` for a pool that tells.
    type Recipe: Clone + Send + 'static;

    /// The public message of a failure (`cannot connect to database.`).
    const PUBLIC: &'static str;
    /// The round trip [`ping`](Self::ping) makes, as the log names it.
    const PING: &'static str;

    /// Whether the pool's own counters say every connection is in use: a
    /// hint that the spare connection should be asked at once, never a
    /// verdict.
    fn looks_saturated(&self) -> bool;

    /// Waits for a connection from the application's pool (the rule bounds
    /// the wait by the check's deadline; the pool's own timeout may end it
    /// sooner).
    fn take(&self) -> impl Future<Output = Acquired<Self::Lent>> + Send;

    /// The [`Recipe`](Self::Recipe), from a connection the pool lent;
    /// `None` (the default) for a pool that tells.
    fn recipe(_lent: &Self::Lent) -> Option<Self::Recipe> {
        None
    }

    /// Opens a connection outside the pool: the spare; `recipe` is the one
    /// learned from the last connection the pool lent, if any.
    fn open(
        &self,
        recipe: Option<Self::Recipe>,
    ) -> impl Future<Output = Result<Self::Connection, CheckError>> + Send;

    /// One round trip on a connection, lent or spare (the rule bounds it by
    /// the deadline).
    fn ping(
        connection: &mut Self::Connection,
    ) -> impl Future<Output = Result<(), CheckError>> + Send + '_;

    /// Takes a lent connection whose round trip failed or did not answer
    /// out of the pool for good and closes it, so that it never goes back
    /// to the application's requests (a dead socket must not strand a pool
    /// permit).
    fn detach(lent: Self::Lent);

    /// The pool's connections in use, for the log (`10 of 10`).
    fn in_use(&self) -> String;
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

/// Runs the pooled rule on `pool`, with the state the current check kept
/// from its last run, kept again for the next: what every pooled backend's
/// `Check` impl calls.
pub(crate) async fn check<B: PooledBackend>(pool: &B) -> Result<(), CheckError> {
    let mut state: PoolState<B::Connection, B::Recipe> = check::take_local();
    let result = state.check(pool).await;
    check::put_local(state);
    result
}

/// What a pooled check keeps from one run to the next.
struct PoolState<C, R> {
    /// The spare connection, outside the application's pool.
    spare: Option<C>,
    /// How to open it, when the pool does not tell.
    recipe: Option<R>,
    /// When the pool was first found saturated with the database answering,
    /// since the last time it handed the check a connection.
    busy_since: Option<Instant>,
}

impl<C, R> Default for PoolState<C, R> {
    fn default() -> Self {
        Self {
            spare: None,
            recipe: None,
            busy_since: None,
        }
    }
}

impl<C: Send + 'static, R: Clone + Send + 'static> PoolState<C, R> {
    /// One pooled check: waits for a connection from the application's
    /// pool and pings on it, all before the deadline; while waiting, looks
    /// for evidence on the spare connection, and judges a pool that gave
    /// nothing as the module documentation says.
    async fn check<B>(&mut self, pool: &B) -> Result<(), CheckError>
    where
        B: PooledBackend<Connection = C, Recipe = R>,
    {
        let deadline = check::deadline_or_default();
        let started = Instant::now();
        let proof_at = proof_starts(started, deadline, pool.looks_saturated());
        let acquire = timeout_at(deadline, pool.take());
        tokio::pin!(acquire);
        let early = tokio::select! {
            biased;
            acquired = &mut acquire => Some(acquired),
            () = tokio::time::sleep_until(proof_at) => None,
        };
        let (acquired, proof) = match early {
            Some(acquired) => (acquired, None),
            None => {
                let proof = self.prove(deadline, pool);
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
                    // cut short drops (closes) the spare connection it held,
                    // and the next one opens a new one.
                    (true, proven) => proven,
                    (false, Some(proven)) => Some(proven),
                    (false, None) => Some(proof.await),
                };
                (acquired, proof)
            }
        };
        match acquired.unwrap_or(Acquired::NoneInTime) {
            Acquired::Connection(lent) => {
                self.busy_since = None;
                if self.recipe.is_none() {
                    self.recipe = B::recipe(&lent);
                }
                ping_lent::<B>(lent, deadline).await
            }
            Acquired::Failed(error) => Err(error),
            Acquired::NoneInTime => {
                let proof = match proof {
                    Some(proof) => proof,
                    None => self.prove(deadline, pool).await,
                };
                Err(self.saturated(started, proof, pool.in_use(), B::PUBLIC))
            }
        }
    }

    /// The verdict on a pool that gave no connection before the deadline,
    /// given what the spare connection found (`proof`) and the pool's
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
             the server answers on the spare connection"
        ))
    }

    /// Pings on the spare connection, opening it first if there is none,
    /// both before `deadline`. A spare whose ping failed or timed out is
    /// dropped (closed), and the next run opens a new one.
    async fn prove<B>(&mut self, deadline: Instant, pool: &B) -> Result<(), CheckError>
    where
        B: PooledBackend<Connection = C, Recipe = R>,
    {
        let late = |what: &str| {
            CheckError::timed_out(B::PUBLIC).with_detail(format!(
                "the spare connection did not {what} before the deadline"
            ))
        };
        let mut spare = match self.spare.take() {
            Some(spare) => spare,
            None => timeout_at(deadline, pool.open(self.recipe.clone()))
                .await
                .map_err(|_elapsed| late("open"))??,
        };
        timeout_at(deadline, B::ping(&mut spare))
            .await
            .map_err(|_elapsed| late("answer"))??;
        self.spare = Some(spare);
        Ok(())
    }
}

/// The round trip on a lent connection, before `deadline`. A connection
/// that failed or did not answer is detached, never handed back.
async fn ping_lent<B: PooledBackend>(
    mut lent: B::Lent,
    deadline: Instant,
) -> Result<(), CheckError> {
    match timeout_at(deadline, B::ping(&mut lent)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => {
            B::detach(lent);
            Err(error)
        }
        Err(_elapsed) => {
            B::detach(lent);
            Err(CheckError::timed_out(B::PUBLIC)
                .with_detail(format!("{} did not answer before the deadline", B::PING)))
        }
    }
}

/// When a pooled check starts looking for evidence on its spare connection
/// while it still waits for the pool: at once if the pool already looks
/// saturated, else half-way to the deadline, so that both fit in it.
fn proof_starts(started: Instant, deadline: Instant, looks_saturated: bool) -> Instant {
    if looks_saturated {
        started
    } else {
        started + deadline.saturating_duration_since(started) / 2
    }
}

/// What a deadpool manager provides for its pool to follow the pooled rule
/// (deadpool-redis, deadpool-postgres, deadpool-lapin): the pool's own
/// status says whether it looks saturated, its `get` is the take, the
/// manager's `create` opens the spare, and its counters describe it.
#[cfg(any(
    feature = "deadpool-redis",
    feature = "deadpool-postgres",
    feature = "deadpool-lapin",
    feature = "diesel-async-postgres",
    feature = "diesel-async-mysql"
))]
pub(crate) trait DeadpoolBackend:
    deadpool::managed::Manager<Type: Send, Error: Display + Send + Sync + 'static> + Sized
{
    /// The connection the pool lends (`Object<Self>` or a wrapper of it).
    type Lent: From<deadpool::managed::Object<Self>> + DerefMut<Target = Self::Type> + Send;
    /// As [`PooledBackend::PUBLIC`].
    const PUBLIC: &'static str;
    /// As [`PooledBackend::PING`].
    const PING: &'static str;
    /// As [`PooledBackend::ping`].
    fn ping(
        connection: &mut Self::Type,
    ) -> impl Future<Output = Result<(), CheckError>> + Send + '_;
    /// As [`PooledBackend::detach`].
    fn detach(lent: Self::Lent);
}

#[cfg(any(
    feature = "deadpool-redis",
    feature = "deadpool-postgres",
    feature = "deadpool-lapin",
    feature = "diesel-async-postgres",
    feature = "diesel-async-mysql"
))]
impl<M> PooledBackend for deadpool::managed::Pool<M, M::Lent>
where
    M: DeadpoolBackend,
    M::Type: 'static,
{
    type Connection = M::Type;
    type Lent = M::Lent;
    type Recipe = ();
    const PUBLIC: &'static str = M::PUBLIC;
    const PING: &'static str = M::PING;

    fn looks_saturated(&self) -> bool {
        let status = self.status();
        status.available == 0 && status.size >= status.max_size
    }

    async fn take(&self) -> Acquired<M::Lent> {
        match self.get().await {
            Ok(connection) => Acquired::Connection(connection),
            Err(deadpool::managed::PoolError::Timeout(_)) => Acquired::NoneInTime,
            Err(error) => Acquired::Failed(CheckError::unavailable(M::PUBLIC).with_detail(error)),
        }
    }

    async fn open(&self, _recipe: Option<()>) -> Result<M::Type, CheckError> {
        self.manager()
            .create()
            .await
            .map_err(|error| CheckError::unavailable(M::PUBLIC).with_detail(error))
    }

    fn ping(connection: &mut M::Type) -> impl Future<Output = Result<(), CheckError>> + Send + '_ {
        <M as DeadpoolBackend>::ping(connection)
    }

    fn detach(lent: M::Lent) {
        <M as DeadpoolBackend>::detach(lent);
    }

    fn in_use(&self) -> String {
        let status = self.status();
        format!("{} of {}", status.size, status.max_size)
    }
}
