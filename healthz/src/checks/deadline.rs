//! The one round trip most backends make: a call under the check's
//! deadline, its error or its lateness turned into a `CheckError` with the
//! backend's public message.
#![allow(
    dead_code,
    reason = "used by the backends, each behind its own feature"
)]

use std::fmt::Display;
use std::future::Future;

use tokio::time::timeout_at;

use crate::check::{deadline_or_default, CheckError};

/// `call` before the deadline. Its error, or `"{what} did not answer before
/// the deadline"`, goes to the log detail; probes see `public` only.
pub(crate) async fn in_time<T, E>(
    public: &'static str,
    what: &'static str,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, CheckError>
where
    E: Display + Send + Sync + 'static,
{
    match timeout_at(deadline_or_default(), call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(CheckError::unavailable(public).with_detail(error)),
        Err(_elapsed) => Err(CheckError::timed_out(public)
            .with_detail(format!("{what} did not answer before the deadline"))),
    }
}
