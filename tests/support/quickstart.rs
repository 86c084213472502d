//! The quickstart example as a real process on a free loopback port.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::example_binary;

/// A running quickstart, killed when dropped.
pub struct Quickstart {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Drop for Quickstart {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Quickstart {
    /// Starts the quickstart on `127.0.0.1:0` with `DATABASE_URL` and the
    /// extra `env`, and waits (at most 60s) for it to print its address.
    pub fn start(database_url: &str, env: &[(&str, &str)]) -> Quickstart {
        let mut command = Command::new(example_binary("quickstart"));
        command
            .env("BIND", "127.0.0.1:0")
            .env("DATABASE_URL", database_url)
            .env_remove("MEMCACHE_URL")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start the quickstart example");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("listening on http://") {
                    let _ = sender.send(addr.trim().parse::<SocketAddr>().expect("address"));
                }
            }
        });
        let addr = receiver
            .recv_timeout(Duration::from_secs(60))
            .expect("the quickstart did not print its address within 60s");
        Quickstart { child, addr }
    }

    /// The process id, for signals.
    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }
}
