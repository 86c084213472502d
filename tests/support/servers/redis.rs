//! Redis: no persistence, its working directory under the server's own.

use std::net::{SocketAddr, TcpStream};
use std::process::Command;

use super::{find, replies, Home, Kind, ServerKind};

pub(super) struct Redis;

impl ServerKind for Redis {
    fn command(&self, home: &Home) -> Command {
        let mut command = Command::new(find("redis-server", Kind::Redis));
        let port = home.port.to_string();
        command
            .args([
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(home.data());
        command
    }

    fn answers(&self, stream: &mut TcpStream, _: &Home) -> bool {
        replies(stream, b"PING\r\n", |answer| answer.starts_with(b"+PONG"))
    }

    fn url(&self, addr: SocketAddr) -> String {
        format!("redis://{addr}/")
    }
}
