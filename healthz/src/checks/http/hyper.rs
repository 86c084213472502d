//! The upstream check on a hyper-util legacy client, which never follows a
//! redirect by itself.

use bytes::Bytes;
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::Connect;
use hyper_util::client::legacy::Client;
use tokio::time::{timeout_at, Instant};

use super::private::{Failure, Get};
use super::{Upstream, MAX_BODY};

impl<C> Upstream<Client<C, Empty<Bytes>>> {
    /// `GET uri` on `client`, expecting a 2xx status.
    ///
    /// Give the client a connect timeout
    /// (`HttpConnector::set_connect_timeout`): the deadline bounds the
    /// check either way, but a connect that hangs holds a socket until then.
    pub fn new(client: Client<C, Empty<Bytes>>, uri: Uri) -> Self {
        Self::with_client(client, uri)
    }
}

impl<C> super::Client for Client<C, Empty<Bytes>> where C: Connect + Clone + Send + Sync + 'static {}

impl<C> Get for Client<C, Empty<Bytes>>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    async fn get(&self, uri: &Uri, deadline: Instant) -> Result<StatusCode, Failure> {
        let request = Request::get(uri.clone())
            .body(Empty::new())
            .map_err(|error| Failure::Error(error.to_string()))?;
        let response = match timeout_at(deadline, self.request(request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => return Err(Failure::Error(error.to_string())),
            Err(_elapsed) => return Err(Failure::TimedOut),
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
        Ok(status)
    }
}
