//! The upstream check on a reqwest client built from your builder with
//! redirects turned off.

use http::{StatusCode, Uri};
use reqwest::redirect::Policy;
use reqwest::{Client, ClientBuilder};
use tokio::time::{timeout_at, Instant};

use super::private::{Failure, Get};
use super::{Upstream, MAX_BODY};

impl Upstream<Client> {
    /// `GET uri` on a client built from `builder`, expecting a 2xx status.
    ///
    /// The builder keeps everything you set on it (timeouts, proxy, TLS
    /// roots, default headers); the check only turns redirects off, which a
    /// reqwest request cannot do on a client that follows them. Set a
    /// `connect_timeout` on it: the deadline bounds the check either way,
    /// but a connect that hangs holds a socket until then.
    ///
    /// # Errors
    ///
    /// What `ClientBuilder::build` fails with: a TLS backend that cannot
    /// start, or a system proxy configuration it cannot read.
    ///
    /// ```
    /// use healthz::checks::http::Upstream;
    ///
    /// let builder = reqwest::Client::builder().connect_timeout(std::time::Duration::from_secs(1));
    /// let billing = Upstream::from_reqwest(builder, "http://billing.internal:8080/healthz".parse().unwrap())?;
    /// # Ok::<(), reqwest::Error>(())
    /// ```
    pub fn from_reqwest(builder: ClientBuilder, uri: Uri) -> Result<Self, reqwest::Error> {
        Ok(Self::with_client(
            builder.redirect(Policy::none()).build()?,
            uri,
        ))
    }
}

impl super::Client for Client {}

impl Get for Client {
    async fn get(&self, uri: &Uri, deadline: Instant) -> Result<StatusCode, Failure> {
        let mut response =
            match timeout_at(deadline, Client::get(self, uri.to_string()).send()).await {
                Ok(Ok(response)) => response,
                // Without the URL: it may hold credentials.
                Ok(Err(error)) => return Err(Failure::Error(error.without_url().to_string())),
                Err(_elapsed) => return Err(Failure::TimedOut),
            };
        let status = response.status();
        // Read a little of the body so that the connection can be reused;
        // a huge or slow body ends this read, not the check.
        let mut read = 0;
        while read <= MAX_BODY {
            match timeout_at(deadline, response.chunk()).await {
                Ok(Ok(Some(chunk))) => read += chunk.len(),
                _ => break,
            }
        }
        Ok(status)
    }
}
