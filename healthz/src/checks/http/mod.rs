//! An HTTP upstream your service depends on: a `GET` on a client you
//! already have, under the deadline, passing when the status is in the
//! expected range (2xx unless set).
//!
//! Two clients are supported, each behind its feature:
//!
//! - **hyper-util** (`hyper-util`): [`Upstream::new`] on your
//!   `hyper_util::client::legacy::Client`; hyper's client never follows a
//!   redirect by itself;
//! - **reqwest** (`reqwest`): [`Upstream::from_reqwest`] on your
//!   `reqwest::ClientBuilder`. A reqwest `Client` carries its redirect
//!   policy and a request cannot override it, so the check builds its own
//!   client from your builder (your timeouts, proxy, TLS roots, default
//!   headers) with redirects turned off.
//!
#![cfg_attr(feature = "hyper-util", doc = "```")]
#![cfg_attr(not(feature = "hyper-util"), doc = "```ignore")]
//! use healthz::checks::http::Upstream;
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//!
//! let client = Client::builder(TokioExecutor::new()).build_http();
//! let billing = Upstream::new(client, "http://billing.internal:8080/healthz".parse().unwrap());
//! ```
//!
//! What it never does, whatever the upstream sends:
//!
//! - **follow a redirect**: a 3xx outside the expected range fails the
//!   check (`upstream redirected.`), so a redirect can never lead the check
//!   off the configured host; configure the final URL;
//! - **read on past 4 KiB of the body**: the status decides; the body is
//!   read only until 4 KiB have arrived (or the deadline, or its end), so
//!   that a short one leaves the connection reusable, then dropped;
//! - **echo anything**: the upstream's body and headers, and the URL with
//!   any credentials in it, stay out of probe responses (the status code
//!   and the URL without its credentials go to the log detail only).

use std::ops::RangeInclusive;

use http::{StatusCode, Uri};

use crate::check::{deadline_or_default, CheckError};

#[cfg(feature = "hyper-util")]
mod hyper;
#[cfg(feature = "reqwest")]
mod reqwest;

/// The most of a response body the check reads.
const MAX_BODY: usize = 4 * 1024;

/// Public message of an upstream check that failed.
const UNREACHABLE: &str = "cannot reach upstream.";

/// An HTTP upstream to check with the client `T`; see the
/// [module docs](self).
#[derive(Clone, Debug)]
pub struct Upstream<T> {
    client: T,
    uri: Uri,
    expected: RangeInclusive<u16>,
}

impl<T> Upstream<T> {
    /// `GET uri` on `client`, expecting a 2xx status.
    fn with_client(client: T, uri: Uri) -> Self {
        Self {
            client,
            uri,
            expected: 200..=299,
        }
    }

    /// The statuses that pass (for an upstream whose health endpoint
    /// answers 204 only, `204..=204`; one that answers 401 to anonymous
    /// callers, `200..=401`).
    #[must_use]
    pub fn expect_status(mut self, expected: RangeInclusive<u16>) -> Self {
        self.expected = expected;
        self
    }

    /// The URI without credentials, for the log.
    fn uri_for_log(&self) -> String {
        let uri = &self.uri;
        let host = uri.host().unwrap_or("");
        let port = uri
            .port()
            .map(|port| format!(":{port}"))
            .unwrap_or_default();
        let scheme = uri.scheme_str().unwrap_or("http");
        format!("{scheme}://{host}{port}{}", uri.path())
    }

    /// The verdict on what the client's `GET` found.
    fn judge(&self, got: Result<StatusCode, Failure>) -> Result<(), CheckError> {
        let status = match got {
            Ok(status) => status,
            Err(Failure::Error(error)) => {
                return Err(CheckError::unavailable(UNREACHABLE)
                    .with_detail(format!("GET {}: {error}", self.uri_for_log())))
            }
            Err(Failure::TimedOut) => {
                return Err(CheckError::timed_out(UNREACHABLE).with_detail(format!(
                    "GET {} did not answer before the deadline",
                    self.uri_for_log()
                )))
            }
        };
        if self.expected.contains(&status.as_u16()) {
            return Ok(());
        }
        let public = if status.is_redirection() {
            "upstream redirected."
        } else {
            status_message(status)
        };
        Err(CheckError::unavailable(public).with_detail(format!(
            "GET {} answered {status}, expected {}..={}",
            self.uri_for_log(),
            self.expected.start(),
            self.expected.end()
        )))
    }
}

/// An HTTP client the upstream check can `GET` with: implemented for the
/// clients this module names, and sealed.
pub trait Client: private::Get {}

mod private {
    use std::future::Future;

    use http::{StatusCode, Uri};
    use tokio::time::Instant;

    /// Why a `GET` found no status.
    pub enum Failure {
        /// The client's error, for the log detail only.
        Error(String),
        /// No status before the deadline.
        TimedOut,
    }

    /// The `GET` each supported client makes; unnameable outside the
    /// crate, which keeps [`Client`](super::Client) sealed.
    pub trait Get: Send + Sync + 'static {
        /// `GET uri` before `deadline`, reading at most
        /// [`MAX_BODY`](super::MAX_BODY) of the body, without following
        /// redirects; the status it answered.
        fn get(
            &self,
            uri: &Uri,
            deadline: Instant,
        ) -> impl Future<Output = Result<StatusCode, Failure>> + Send;
    }
}

use private::Failure;

#[diagnostic::do_not_recommend]
impl<T: Client> crate::Check for Upstream<T> {
    async fn check(&self) -> Result<(), CheckError> {
        let deadline = deadline_or_default();
        self.judge(self.client.get(&self.uri, deadline).await)
    }
}

/// `upstream answered 503.`, for the status codes an upstream usually
/// fails with; the code is no secret, and says where to look.
fn status_message(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "upstream answered 400.",
        401 => "upstream answered 401.",
        403 => "upstream answered 403.",
        404 => "upstream answered 404.",
        429 => "upstream answered 429.",
        500 => "upstream answered 500.",
        502 => "upstream answered 502.",
        503 => "upstream answered 503.",
        504 => "upstream answered 504.",
        _ => "upstream answered an unexpected status.",
    }
}
