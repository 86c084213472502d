//! Exec probes for images without a shell or curl: the application's own
//! binary asks the *running* process for its probe answer over loopback.
//!
//! ```no_run
//! # use healthz::HealthChecks;
//! # #[derive(Clone, HealthChecks)] struct AppState {}
//! fn main() {
//!     // `/app/server --probe readiness` answers for the server running in
//!     // the same container, and exits 0 when ready, 1 when not.
//!     healthz::exec::ExecProbe::of::<AppState>(8080).exit_if_requested();
//!     // ... start the server on port 8080 as usual
//! }
//! ```
//!
//! The probe never runs a check itself: a new process has no pools, no
//! cache and no result history, and its answer would say nothing about the
//! server's. It sends one `GET` to the server's probe path on
//! `127.0.0.1:<port>`, prints the body on stdout (where the kubelet and
//! Docker record it) and exits `0` for a 200, `1` for anything else: an
//! unready answer, a refused connection, a server that does not answer in
//! time. It gives up a little after the probe deadline, always before the
//! `timeoutSeconds` that
//! [`KubernetesProbes`](crate::kubernetes::KubernetesProbes) prints, so
//! that a hung server is reported as a failure rather than killed as a
//! timeout. `KubernetesProbes::exec` prints the matching `exec:` probes and
//! a Docker `HEALTHCHECK` line.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::probe::Probe;
use crate::probes::HealthChecks;

/// The argument that asks for a probe: `--probe <liveness|readiness|startup>`.
pub const PROBE_ARG: &str = "--probe";

/// The most of a response an exec probe reads: probe bodies are short.
const MAX_RESPONSE: u64 = 64 * 1024;

/// An exec probe of a running server; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct ExecProbe {
    config: &'static Config,
    addr: SocketAddr,
    budget: Duration,
}

/// What an exec probe found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status, if the server answered.
    pub status: Option<u16>,
    /// The body, or why there is none (`cannot connect to ...`).
    pub output: String,
}

impl Answer {
    /// The process exit code: 0 for a 200, 1 otherwise (Docker's
    /// `HEALTHCHECK` reserves 2).
    pub fn exit_code(&self) -> i32 {
        i32::from(self.status != Some(200))
    }
}

impl ExecProbe {
    /// Probes for state type `T`, served on `127.0.0.1:port`.
    pub fn of<T: HealthChecks>(port: u16) -> Self {
        Self::from_config(T::config(), SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
    }

    /// Probes for a configuration, served at `addr`: where the server
    /// listens, as in its own bind address. An unspecified address
    /// (`0.0.0.0:8080`, `[::]:8080`) is asked on loopback.
    pub fn from_config(config: &'static Config, mut addr: SocketAddr) -> Self {
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        Self {
            config,
            addr,
            budget: budget(config.probe_timeout),
        }
    }

    /// How long a probe waits for the server in all: a little over the
    /// probe deadline, and under the `timeoutSeconds` printed for it.
    pub fn budget(&self) -> Duration {
        self.budget
    }

    /// If the process was started with `--probe <name>`, asks the running
    /// server, prints the answer and exits the process with its
    /// [exit code](Answer::exit_code); otherwise returns, and `main` goes
    /// on to start the server. An unknown probe name exits with 1 and says
    /// which names there are.
    pub fn exit_if_requested(&self) {
        let mut args = std::env::args().skip(1);
        let Some(_) = args.by_ref().find(|arg| arg == PROBE_ARG) else {
            return;
        };
        let name = args.next().unwrap_or_default();
        let Some(probe) = Probe::named(&name) else {
            eprintln!("{PROBE_ARG} takes `liveness`, `readiness` or `startup`, not {name:?}");
            std::process::exit(1);
        };
        let answer = self.ask(probe);
        let mut stdout = io::stdout().lock();
        let _ = writeln!(stdout, "{}", answer.output);
        let _ = stdout.flush();
        std::process::exit(answer.exit_code());
    }

    /// Asks the running server for `probe`, within the [budget](Self::budget).
    pub fn ask(&self, probe: Probe) -> Answer {
        let deadline = Instant::now() + self.budget;
        match self.request(probe.path(self.config), deadline) {
            Ok((status, body)) => Answer {
                status: Some(status),
                output: body,
            },
            Err(error) => Answer {
                status: None,
                output: format!("no answer from {}: {error}", self.addr),
            },
        }
    }

    fn request(&self, path: &str, deadline: Instant) -> io::Result<(u16, String)> {
        let remaining = || {
            deadline
                .checked_duration_since(Instant::now())
                .filter(|left| !left.is_zero())
                .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "timed out"))
        };
        let mut stream = TcpStream::connect_timeout(&self.addr, remaining()?)?;
        stream.set_write_timeout(Some(remaining()?))?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: healthz-exec\r\nConnection: close\r\n\r\n"
        )?;
        let mut response = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            stream.set_read_timeout(Some(remaining()?))?;
            let read = match stream.read(&mut chunk) {
                Ok(read) => read,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"));
                }
                Err(error) => return Err(error),
            };
            if read == 0 {
                break;
            }
            response.extend_from_slice(&chunk[..read]);
            if let Some(parsed) = parse(&response, false)? {
                return Ok(parsed);
            }
            if response.len() as u64 > MAX_RESPONSE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "response too large",
                ));
            }
        }
        parse(&response, true)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed mid-response",
            )
        })
    }
}

/// How long an exec probe waits: the probe deadline plus up to 250ms, but
/// at most half-way from the deadline to the next whole second above it
/// (the `timeoutSeconds` printed for the probe), so that the kubelet sees
/// this process exit before it would kill it.
fn budget(probe_timeout: Duration) -> Duration {
    let timeout_seconds = Duration::from_secs(probe_timeout.as_secs() + 1);
    let gap = timeout_seconds - probe_timeout;
    probe_timeout + (gap / 2).min(Duration::from_millis(250))
}

/// The status and body of a complete response, `None` while more is needed.
fn parse(response: &[u8], eof: bool) -> io::Result<Option<(u16, String)>> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&response[..end]).map_err(|_| invalid("non-UTF-8 head"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| invalid("no HTTP status line"))?;
    let length = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .map(|(_, value)| value.trim().parse::<usize>())
        .transpose()
        .map_err(|_| invalid("bad content-length"))?;
    let body = &response[end + 4..];
    match length {
        Some(length) if body.len() < length => Ok(None),
        Some(length) => Ok(Some((
            status,
            String::from_utf8_lossy(&body[..length]).into_owned(),
        ))),
        // Without a length the body ends with the connection.
        None if eof => Ok(Some((status, String::from_utf8_lossy(body).into_owned()))),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_ends_before_the_kubelet_gives_up() {
        for (deadline, expected) in [(800, 900), (1000, 1250), (1900, 1950), (300, 550)] {
            let budget = budget(Duration::from_millis(deadline));
            assert_eq!(budget, Duration::from_millis(expected), "{deadline}ms");
            assert!(budget < Duration::from_secs(deadline / 1000 + 1));
        }
    }

    #[test]
    fn responses_are_parsed_once_complete() {
        let full = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 5\r\n\r\nno db";
        assert_eq!(parse(full, false).unwrap(), Some((503, "no db".to_owned())));
        assert_eq!(parse(&full[..full.len() - 1], false).unwrap(), None);
        assert_eq!(parse(b"HTTP/1.1 200 OK\r\n", true).unwrap(), None);
        let unsized_body = b"HTTP/1.1 200 OK\r\n\r\nOK";
        assert_eq!(parse(unsized_body, false).unwrap(), None);
        assert_eq!(
            parse(unsized_body, true).unwrap(),
            Some((200, "OK".to_owned()))
        );
        assert!(parse(b"garbage\r\n\r\n", false).is_err());
    }
}
