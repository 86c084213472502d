//! A gRPC upstream your service depends on: the standard
//! `grpc.health.v1.Health/Check` call for one service name, on the tonic
//! `Channel` you already have, under the deadline. `SERVING` passes;
//! anything else fails with a public message that names no host.
//!
//! ```no_run
//! use healthz::checks::grpc::Upstream;
//!
//! # fn build() -> Result<Upstream, Box<dyn std::error::Error>> {
//! let channel = tonic::transport::Channel::from_static("http://billing.internal:50051")
//!     .connect_timeout(std::time::Duration::from_millis(250))
//!     .connect_lazy(); // the app starts while billing is down
//! Ok(Upstream::new(channel, "billing.v1.Billing"))
//! # }
//! ```
//!
//! The call carries the remaining deadline as its `grpc-timeout`, so a
//! well-behaved server gives up when the check does.

use std::borrow::Cow;

use tokio::time::{timeout_at, Instant};
use tonic::transport::Channel;
use tonic::{Code, Request};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::check::{deadline_or_default, CheckError};

/// Public message of a gRPC upstream that could not be asked.
const UNREACHABLE: &str = "cannot reach upstream.";

/// A `grpc.health.v1` service to check on a channel; see the
/// [module docs](self).
#[derive(Clone, Debug)]
pub struct Upstream {
    channel: Channel,
    service: Cow<'static, str>,
}

impl Upstream {
    /// `Check` for `service` (the empty string asks about the server as a
    /// whole) on `channel`.
    pub fn new(channel: Channel, service: impl Into<Cow<'static, str>>) -> Self {
        Self {
            channel,
            service: service.into(),
        }
    }
}

#[diagnostic::do_not_recommend]
impl crate::Check for Upstream {
    async fn check(&self) -> Result<(), CheckError> {
        let deadline = deadline_or_default();
        let mut request = Request::new(HealthCheckRequest {
            service: self.service.to_string(),
        });
        request.set_timeout(deadline.saturating_duration_since(Instant::now()));
        let mut client = HealthClient::new(self.channel.clone());
        let answer = match timeout_at(deadline, client.check(request)).await {
            Ok(answer) => answer,
            Err(_elapsed) => {
                return Err(CheckError::timed_out(UNREACHABLE)
                    .with_detail("grpc.health.v1 Check did not answer before the deadline"))
            }
        };
        let status = match answer {
            Ok(response) => response.into_inner().status(),
            Err(status) if status.code() == Code::NotFound => ServingStatus::ServiceUnknown,
            Err(status) if status.code() == Code::DeadlineExceeded => {
                return Err(CheckError::timed_out(UNREACHABLE).with_detail(status))
            }
            Err(status) => return Err(CheckError::unavailable(UNREACHABLE).with_detail(status)),
        };
        let service = &self.service;
        match status {
            ServingStatus::Serving => Ok(()),
            ServingStatus::NotServing => Err(CheckError::unavailable("upstream not serving.")
                .with_detail(format!("service {service:?} answered NOT_SERVING"))),
            other => Err(
                CheckError::unavailable("upstream does not know the service.")
                    .with_detail(format!("service {service:?} answered {other:?}")),
            ),
        }
    }
}
