//! nats-server: no files, no persistence.

use std::net::{SocketAddr, TcpStream};
use std::process::Command;

use super::{find, replies, Home, Kind, ServerKind};

pub(super) struct Nats;

impl ServerKind for Nats {
    fn command(&self, home: &Home) -> Command {
        let mut command = Command::new(find("nats-server", Kind::Nats));
        command.args(["-a", "127.0.0.1", "-p", &home.port.to_string()]);
        command
    }

    /// NATS greets every connection with its INFO line.
    fn answers(&self, stream: &mut TcpStream, _: &Home) -> bool {
        replies(stream, b"", |greeting| greeting.starts_with(b"INFO "))
    }

    fn url(&self, addr: SocketAddr) -> String {
        format!("nats://{addr}")
    }
}
