//! memcached: no files, 16 MiB of memory, TCP only.

use std::net::{SocketAddr, TcpStream};
use std::process::Command;

use super::{find, replies, Home, Kind, ServerKind};

pub(super) struct Memcached;

impl ServerKind for Memcached {
    fn command(&self, home: &Home) -> Command {
        let mut command = Command::new(find("memcached", Kind::Memcached));
        let port = home.port.to_string();
        command.args([
            "-l",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "0",
            "-u",
            "root",
            "-m",
            "16",
        ]);
        command
    }

    fn answers(&self, stream: &mut TcpStream, _: &Home) -> bool {
        replies(stream, b"version\r\n", |answer| {
            answer.starts_with(b"VERSION")
        })
    }

    fn url(&self, addr: SocketAddr) -> String {
        format!("memcache://{addr}")
    }
}
