//! [`Check`](crate::Check) implementations for common clients, one file per
//! dependency, each behind the feature of the same name.

/// The deadline a check uses: its run's, or when it is called outside a
/// probe (in a test, say), the default probe timeout from now.
#[cfg(any(feature = "sqlx", feature = "sqlx-0-9", feature = "redis"))]
pub(crate) fn check_deadline() -> tokio::time::Instant {
    const DEFAULT_PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(800);
    crate::check::deadline().unwrap_or_else(|| tokio::time::Instant::now() + DEFAULT_PROBE_TIMEOUT)
}

/// A pool whose every connection stayed in use until the deadline.
#[cfg(any(feature = "sqlx", feature = "sqlx-0-9", feature = "deadpool-redis"))]
pub(crate) fn pool_busy(in_use: impl std::fmt::Display) -> crate::CheckError {
    crate::CheckError::busy(crate::CheckError::BUSY).with_detail(format!(
        "no pooled connection became free before the deadline ({in_use} in use)"
    ))
}

#[cfg(feature = "memcache")]
pub mod memcache;
#[cfg(feature = "redis")]
mod redis;
#[cfg(any(feature = "sqlx", feature = "sqlx-0-9"))]
mod sqlx;
