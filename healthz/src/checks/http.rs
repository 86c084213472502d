//! An HTTP upstream your service depends on: a `GET` on the hyper-util
//! client you already have, under the deadline, passing when the status is
//! in the expected range (2xx unless set).
//!
//! ```
//! use healthz::checks::http::Upstream;
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//!
//! # fn build() -> Upstream<hyper_util::client::legacy::connect::HttpConnector> {
//! let client = Client::builder(TokioExecutor::new()).build_http();
//! Upstream::new(client, "http://billing.internal:8080/healthz".parse().unwrap())
//! # }
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

use bytes::Bytes;
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::Connect;
use hyper_util::client::legacy::Client;
use tokio::time::timeout_at;

use crate::check::{deadline_or_default, CheckError};

/// The most of a response body the check reads.
const MAX_BODY: usize = 4 * 1024;

/// Public message of an upstream check that failed.
const UNREACHABLE: &str = "cannot reach upstream.";

/// An HTTP upstream to check with `client`; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct Upstream<C> {
    client: Client<C, Empty<Bytes>>,
    uri: Uri,
    expected: RangeInclusive<u16>,
}

impl<C> Upstream<C> {
    /// `GET uri` on `client`, expecting a 2xx status.
    pub fn new(client: Client<C, Empty<Bytes>>, uri: Uri) -> Self {
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
}

#[diagnostic::do_not_recommend]
impl<C> crate::Check for Upstream<C>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    async fn check(&self) -> Result<(), CheckError> {
        let deadline = deadline_or_default();
        let request = Request::get(self.uri.clone())
            .body(Empty::new())
            .map_err(|error| CheckError::unavailable(UNREACHABLE).with_detail(error))?;
        let response = match timeout_at(deadline, self.client.request(request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => {
                return Err(CheckError::unavailable(UNREACHABLE)
                    .with_detail(format!("GET {}: {error}", self.uri_for_log())))
            }
            Err(_elapsed) => {
                return Err(CheckError::timed_out(UNREACHABLE).with_detail(format!(
                    "GET {} did not answer before the deadline",
                    self.uri_for_log()
                )))
            }
        };
        let status = response.status();
        // Read a little of the body so that the connection can be reused;
        // a huge or slow body ends this read, not the check.
        let mut body = response.into_body();
        let mut read = 0;
        while read <= MAX_BODY {
            match timeout_at(deadline, body.frame()).await {
                Ok(Some(Ok(frame))) => read += frame.data_ref().map_or(0, Bytes::len),
                _ => break,
            }
        }
        drop(body);
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
