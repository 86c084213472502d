//! The tower [`Layer`] and [`Service`] that answer probes ahead of the
//! application.
//!
//! Mount it outermost (in axum: the last `.layer(...)`), so that no other
//! middleware (auth, sessions, rate limits) runs before a probe is answered.
//! Requests that are not probes reach the inner service untouched: the same
//! request, the same response status, headers and body frames (trailers
//! included), with no allocation and no extra task.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use tower_layer::Layer;
use tower_service::Service;

use crate::details::Caller;
use crate::probes::{HealthChecks, Probes};

impl<S, T> Layer<S> for Probes<T> {
    type Service = ProbeService<S, T>;

    fn layer(&self, inner: S) -> Self::Service {
        ProbeService {
            inner,
            inner_ready: false,
            probes: self.clone(),
        }
    }
}

/// The service made by mounting [`Probes`] as a layer: answers probe
/// requests itself and passes every other request to `S`.
///
/// `poll_ready` is always ready, so a saturated application (a full
/// concurrency limit, say) never queues its probes. When `S` was not ready,
/// a passed-through request waits for it inside its response future, on a
/// clone of `S`.
pub struct ProbeService<S, T> {
    inner: S,
    /// Whether `inner` answered ready to the last `poll_ready`, so `call`
    /// may use it directly.
    inner_ready: bool,
    probes: Probes<T>,
}

impl<S: Clone, T> Clone for ProbeService<S, T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            // Readiness is a property of one instance, not of its clones.
            inner_ready: false,
            probes: self.probes.clone(),
        }
    }
}

impl<S: fmt::Debug, T> fmt::Debug for ProbeService<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProbeService")
            .field("inner", &self.inner)
            .field("probes", &self.probes)
            .finish()
    }
}

impl<S, T, ReqBody, ResBody> Service<Request<ReqBody>> for ProbeService<S, T>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    T: HealthChecks,
    ResBody: Body<Data = Bytes>,
{
    type Response = Response<ProbeBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, Request<ReqBody>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if !self.inner_ready {
            match self.inner.poll_ready(cx) {
                Poll::Ready(Ok(())) => self.inner_ready = true,
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                // Not ready: a request that is not a probe will wait for
                // it in its response future; probes need not wait at all.
                Poll::Pending => {}
            }
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let caller = Caller::new(request.method(), request.uri(), request.headers())
            .with_extensions(request.extensions());
        let probe = self.probes.probe_request_from(&caller);
        let kind = match probe {
            Some(probe) => match probe.answer_now() {
                Some(response) => Kind::Answered {
                    response: Some(response),
                },
                None => Kind::Probe {
                    future: Box::pin(probe.answer()),
                },
            },
            None if self.inner_ready => {
                self.inner_ready = false;
                Kind::Inner {
                    future: self.inner.call(request),
                }
            }
            None => Kind::Waiting {
                service: self.inner.clone(),
                request: Some(request),
            },
        };
        ResponseFuture { kind }
    }
}

type ProbeFuture = Pin<Box<dyn Future<Output = Response<Bytes>> + Send>>;

pin_project_lite::pin_project! {
    /// The response future of [`ProbeService`].
    pub struct ResponseFuture<S, Request>
    where
        S: Service<Request>,
    {
        #[pin]
        kind: Kind<S, Request>,
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<S, Request>
    where
        S: Service<Request>,
    {
        Inner { #[pin] future: S::Future },
        Waiting { service: S, request: Option<Request> },
        Answered { response: Option<Response<Bytes>> },
        Probe { future: ProbeFuture },
    }
}

impl<S, Request, ResBody> Future for ResponseFuture<S, Request>
where
    S: Service<Request, Response = Response<ResBody>>,
{
    type Output = Result<Response<ProbeBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut kind = self.project().kind;
        loop {
            match kind.as_mut().project() {
                KindProj::Inner { future } => {
                    let response = ready!(future.poll(cx))?;
                    return Poll::Ready(Ok(response.map(ProbeBody::inner)));
                }
                KindProj::Waiting { service, request } => {
                    ready!(service.poll_ready(cx))?;
                    let request = request.take().expect("polled after completion");
                    let future = service.call(request);
                    kind.set(Kind::Inner { future });
                }
                KindProj::Answered { response } => {
                    let response = response.take().expect("polled after completion");
                    return Poll::Ready(Ok(response.map(ProbeBody::probe)));
                }
                KindProj::Probe { future } => {
                    let response = ready!(future.as_mut().poll(cx));
                    return Poll::Ready(Ok(response.map(ProbeBody::probe)));
                }
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// The response body of [`ProbeService`]: the application's own body,
    /// frame for frame, or the few bytes of a probe answer.
    pub struct ProbeBody<B> {
        #[pin]
        kind: BodyKind<B>,
    }
}

pin_project_lite::pin_project! {
    #[project = BodyKindProj]
    enum BodyKind<B> {
        Inner { #[pin] body: B },
        Probe { data: Option<Bytes> },
    }
}

impl<B> ProbeBody<B> {
    fn inner(body: B) -> Self {
        Self {
            kind: BodyKind::Inner { body },
        }
    }

    fn probe(data: Bytes) -> Self {
        Self {
            kind: BodyKind::Probe { data: Some(data) },
        }
    }
}

impl<B: fmt::Debug> fmt::Debug for ProbeBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            BodyKind::Inner { body } => f.debug_tuple("Inner").field(body).finish(),
            BodyKind::Probe { data } => f.debug_tuple("Probe").field(data).finish(),
        }
    }
}

impl<B> Body for ProbeBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.project().kind.project() {
            BodyKindProj::Inner { body } => body.poll_frame(cx),
            BodyKindProj::Probe { data } => Poll::Ready(
                data.take()
                    .filter(|d| !d.is_empty())
                    .map(|d| Ok(Frame::data(d))),
            ),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            BodyKind::Inner { body } => body.is_end_stream(),
            BodyKind::Probe { data } => data.as_ref().is_none_or(Bytes::is_empty),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            BodyKind::Inner { body } => body.size_hint(),
            BodyKind::Probe { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}
