//! PostgreSQL: a cluster made by `initdb` with the SQL credentials, run as
//! an unprivileged user when the tests run as root (it refuses root).

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::process::{own, signal, unprivileged};
use super::{find_among, replies, Home, Kind, ServerKind};
use super::{DATABASE, PASSWORD, USER};

pub(super) struct Postgres;

/// A PostgreSQL binary: on PATH, or in Debian's versioned directories,
/// newest first.
fn binary(name: &str) -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|versions| versions.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    versions.sort();
    let more = versions.into_iter().rev().map(|v| v.join("bin").join(name));
    find_among(name, Kind::Postgres, more.collect())
}

impl ServerKind for Postgres {
    fn init(&mut self, home: &Home) {
        let password_file = home.path().join("password");
        std::fs::write(&password_file, PASSWORD).expect("write password file");
        own(home.path());
        own(&password_file);
        let status = unprivileged(Command::new(binary("initdb")))
            .args(["--auth=scram-sha-256", "--username", USER, "--pwfile"])
            .arg(&password_file)
            .arg("-D")
            .arg(home.data())
            .stdout(Stdio::null())
            .stderr(home.log_file())
            .status()
            .expect("run initdb");
        assert!(status.success(), "initdb failed: {}", home.log_tail());
        // Create the database in single-user mode: no server, no port, no
        // race.
        let mut single = unprivileged(Command::new(binary("postgres")))
            .args(["--single", "-D"])
            .arg(home.data())
            .arg("postgres")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(home.log_file())
            .spawn()
            .expect("run postgres --single");
        {
            use std::io::Write;
            let mut stdin = single.stdin.take().expect("stdin");
            writeln!(stdin, "CREATE DATABASE {DATABASE};").expect("write to postgres --single");
        }
        let status = single.wait().expect("wait for postgres --single");
        assert!(
            status.success(),
            "CREATE DATABASE failed: {}",
            home.log_tail()
        );
    }

    fn command(&self, home: &Home) -> Command {
        let mut command = unprivileged(Command::new(binary("postgres")));
        command
            .arg("-D")
            .arg(home.data())
            .args(["-p", &home.port.to_string(), "-h", "127.0.0.1", "-k"])
            .arg(home.path())
            .args(["-c", "fsync=off", "-c", "max_connections=50"]);
        command
    }

    /// An SSLRequest is answered with one byte, N or S, only by a
    /// postmaster that accepts connections.
    fn answers(&self, stream: &mut TcpStream, home: &Home) -> bool {
        replies(stream, &[0, 0, 0, 8, 4, 210, 22, 47], |answer| {
            answer.len() == 1
        }) && home.log_tail().contains("ready to accept connections")
    }

    fn url(&self, addr: SocketAddr) -> String {
        format!("postgres://{USER}:{PASSWORD}@{addr}/{DATABASE}?sslmode=disable")
    }

    /// SIGINT, PostgreSQL's "fast" shutdown: SIGTERM would wait for every
    /// client to leave.
    fn stop_signal(&self) -> i32 {
        signal::SIGINT
    }
}
