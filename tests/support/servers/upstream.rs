//! This workspace's `healthz-test-upstream`, in either of its modes.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;

use super::{replies, Home, ServerKind};

pub(super) enum Upstream {
    /// `GET /healthz` answers 200.
    Http,
    /// `grpc.health.v1`, with `billing` SERVING.
    Grpc,
}

/// The `healthz-test-upstream` binary cargo builds beside the test that
/// runs (`target/<profile>/`, one level above the test's `deps/`).
fn binary() -> PathBuf {
    let name = "healthz-test-upstream";
    let path = std::env::current_exe()
        .ok()
        .and_then(|test| Some(test.parent()?.parent()?.join(name)))
        .filter(|path| path.is_file());
    path.unwrap_or_else(|| {
        panic!("`{name}` is not built; build it with: cargo build -p healthz-tests --bin {name}")
    })
}

impl ServerKind for Upstream {
    fn command(&self, home: &Home) -> Command {
        let mode = match self {
            Upstream::Http => "http",
            Upstream::Grpc => "grpc",
        };
        let mut command = Command::new(binary());
        command.args([mode, &home.port.to_string()]);
        command
    }

    fn answers(&self, stream: &mut TcpStream, _: &Home) -> bool {
        match self {
            Upstream::Http => replies(stream, b"GET /healthz HTTP/1.0\r\n\r\n", |answer| {
                answer.len() > 12 && &answer[8..13] == b" 200 "
            }),
            // It binds before it serves, and the port was free: a connect
            // that succeeds reached this process. The gRPC checks' own
            // first call is the handshake.
            Upstream::Grpc => true,
        }
    }

    fn url(&self, addr: SocketAddr) -> String {
        format!("http://{addr}")
    }
}
