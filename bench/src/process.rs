//! A server child process: started from a command, its address read from
//! the `listening` line it prints, its output drained so that it never
//! blocks on a full pipe.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

/// What a server process wrote: how many lines, and the last one.
#[derive(Default)]
pub struct Output {
    pub lines: u64,
    pub last: String,
}

/// A server child process and its address.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub output: Arc<Mutex<Output>>,
}

impl Server {
    /// Starts `command` and waits (at most 30s) for the address it listens
    /// on: `listening ADDR` (the bench) or `listening on http://ADDR ...`
    /// (the examples). The process is killed when the `Server` is dropped.
    pub async fn spawn(mut command: Command) -> Server {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start a server process");
        let output = Arc::new(Mutex::new(Output::default()));
        drain(child.stderr.take().unwrap(), output.clone());
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = loop {
            let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .expect("the server did not start within 30s")
                .unwrap()
                .expect("the server exited");
            if let Some(rest) = line.strip_prefix("listening ") {
                let rest = rest.trim_start_matches("on http://");
                let addr = rest.split_whitespace().next().unwrap_or_default();
                break addr.parse().expect("a listening address");
            }
        };
        drain(lines.into_inner(), output.clone());
        Server {
            child,
            addr,
            output,
        }
    }

    /// Resident memory of the process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.child.id().unwrap())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

/// Reads `from` to its end in the background, counting lines.
fn drain(from: impl AsyncRead + Unpin + Send + 'static, into: Arc<Mutex<Output>>) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(from).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut output = into.lock().unwrap();
            output.lines += 1;
            output.last = line;
        }
    });
}
