//! Real PostgreSQL, MariaDB, memcached, Redis, NATS and RabbitMQ servers
//! (and this workspace's test upstreams) for tests: started
//! from the binaries on PATH (or where Debian installs them), each in its
//! own temporary directory, on a free loopback port, and stopped when
//! dropped. A missing binary is a test failure that names the command that
//! installs it.
//!
//! This file is the lifecycle every server goes through (init, spawn, wait
//! until it answers, stop, kill, pause, restart), with the signals and
//! waits on its processes in `process.rs`; what one kind of server does
//! differently is a `ServerKind` in a file of its own. A new kind is that
//! file, a [`Kind`] variant and its arm in `Kind::flavor`.

use std::any::Any;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use process::{continue_tree, kill_tree, send, signal, stop_tree, wait_bounded};

mod mariadb;
mod memcached;
mod nats;
mod postgres;
mod process;
pub mod rabbitmq;
mod redis;
mod upstream;

/// How long a server may take to accept connections after it is started.
const START_BOUND: Duration = Duration::from_secs(60);

/// The command that installs every server the tests use.
pub const INSTALL: &str = "bash scripts/provision.sh (or: apt-get install -y postgresql mariadb-server memcached redis-server nats-server rabbitmq-server)";

/// The credentials every SQL server is set up with.
pub const USER: &str = "healthz_user";
pub const PASSWORD: &str = "healthz_secret_pw";
pub const DATABASE: &str = "healthz_db";

/// Which server a [`Server`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Postgres,
    MariaDb,
    Memcached,
    Redis,
    Nats,
    /// A private RabbitMQ node, user `guest` (allowed from loopback).
    RabbitMq,
    /// This workspace's `healthz-test-upstream http`: `GET /healthz`.
    HttpUpstream,
    /// This workspace's `healthz-test-upstream grpc`: `grpc.health.v1`,
    /// with `billing` SERVING.
    GrpcUpstream,
}

impl Kind {
    /// What this kind of server does differently, fresh for one server.
    fn flavor(self) -> Box<dyn ServerKind> {
        match self {
            Kind::Postgres => Box::new(postgres::Postgres),
            Kind::MariaDb => Box::new(mariadb::MariaDb),
            Kind::Memcached => Box::new(memcached::Memcached),
            Kind::Redis => Box::new(redis::Redis),
            Kind::Nats => Box::new(nats::Nats),
            Kind::RabbitMq => Box::new(rabbitmq::RabbitMq::default()),
            Kind::HttpUpstream => Box::new(upstream::Upstream::Http),
            Kind::GrpcUpstream => Box::new(upstream::Upstream::Grpc),
        }
    }
}

/// What one kind of server does differently from the others; the
/// lifecycle around it is [`Server`]'s.
trait ServerKind: Any + Send {
    /// Prepares the server's files under `home` before its first start:
    /// by default an empty data directory.
    fn init(&mut self, home: &Home) {
        home.create_data();
    }

    /// The command that runs the server in the foreground, listening on
    /// `home.port()` of 127.0.0.1.
    fn command(&self, home: &Home) -> Command;

    /// Whether the server, connected on `stream`, answers a protocol-level
    /// hello (a bare TCP accept is not enough: PostgreSQL and MariaDB
    /// accept before they serve).
    fn answers(&self, stream: &mut TcpStream, home: &Home) -> bool;

    /// A URL for the server's client, with credentials, at `addr`.
    fn url(&self, addr: SocketAddr) -> String;

    /// The signal that stops the server gracefully.
    fn stop_signal(&self) -> i32 {
        signal::SIGTERM
    }
}

/// A server's temporary directory and port: what its kind's code reads.
struct Home {
    dir: tempdir::TempDir,
    port: u16,
}

impl Home {
    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn data(&self) -> PathBuf {
        self.path().join("data")
    }

    fn create_data(&self) {
        std::fs::create_dir_all(self.data()).expect("create data dir");
    }

    fn log_path(&self) -> PathBuf {
        self.path().join("server.log")
    }

    /// The server's log, opened for appending, as a child's output.
    fn log_file(&self) -> Stdio {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map(Stdio::from)
            .expect("open server log")
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read(self.log_path()).unwrap_or_default();
        let start = log.len().saturating_sub(2000);
        String::from_utf8_lossy(&log[start..]).into_owned()
    }
}

/// A server process on a loopback port, with its data directory.
pub struct Server {
    kind: Kind,
    home: Home,
    /// Extra command-line arguments for the server process.
    extra: Vec<String>,
    child: Option<Child>,
    flavor: Box<dyn ServerKind>,
}

impl Server {
    /// Starts a server of `kind`; panics (failing the test) with the install
    /// command if its binary is missing, or with its log if it does not
    /// come up.
    pub fn start(kind: Kind) -> Server {
        Self::start_with(kind, &[])
    }

    /// Starts a server of `kind` with extra command-line arguments (such as
    /// `-c log_statement=all` for PostgreSQL).
    pub fn start_with(kind: Kind, extra: &[&str]) -> Server {
        let dir = tempdir::TempDir::new(&format!("healthz-{kind:?}").to_lowercase());
        let mut server = Server {
            kind,
            home: Home {
                dir,
                port: free_port(),
            },
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            child: None,
            flavor: kind.flavor(),
        };
        server.init();
        server.spawn();
        server
    }

    /// The loopback address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.home.port))
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.home.port
    }

    /// A URL for the server's client, with credentials, at `addr` (which may
    /// be a fault proxy in front of the server).
    pub fn url_via(&self, addr: SocketAddr) -> String {
        self.flavor.url(addr)
    }

    /// A URL for the server's client, with credentials.
    pub fn url(&self) -> String {
        self.url_via(self.addr())
    }

    /// Stops the server gracefully (its kind's signal) and waits for it to
    /// exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            send(&child, self.flavor.stop_signal());
            wait_bounded(&mut child, self.kind);
        }
    }

    /// Kills the server (SIGKILL): no goodbye to its clients.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_tree(&mut child);
        }
    }

    /// Freezes the server (SIGSTOP): the kernel still accepts connections
    /// and takes requests into its buffers, but nothing answers, as with a
    /// stalled process. [`unpause`](Self::unpause) lets it answer them all.
    /// Returns once every thread of the server has stopped: a signal is
    /// only queued when `kill` returns, and a thread already running would
    /// otherwise still answer what comes in the next moment.
    pub fn pause(&self) {
        if let Some(child) = &self.child {
            stop_tree(child);
        }
    }

    /// Lets a [paused](Self::pause) server run again (SIGCONT).
    pub fn unpause(&self) {
        if let Some(child) = &self.child {
            continue_tree(child);
        }
    }

    /// Starts the server again, on the same port and data directory.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Starts the server again after [`stop`](Self::stop) or
    /// [`kill`](Self::kill).
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "the server is running");
        self.spawn();
    }

    /// Everything the server has logged.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.home.log_path()).unwrap_or_default())
            .into_owned()
    }

    /// Creates the data directory and the credentials, once.
    fn init(&mut self) {
        // One bootstrap at a time: they are CPU-heavy, and MariaDB's
        // bootstrap has been seen to trip over a concurrent one.
        static BOOTSTRAP: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one_at_a_time = BOOTSTRAP
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.flavor.init(&self.home);
    }

    fn spawn(&mut self) {
        let child = self
            .flavor
            .command(&self.home)
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(self.home.log_file())
            .stderr(self.home.log_file())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {:?}: {e}", self.kind));
        self.child = Some(child);
        self.wait_until_ready();
    }

    /// Waits until the server accepts connections and answers its protocol.
    fn wait_until_ready(&mut self) {
        let started = Instant::now();
        loop {
            if let Some(child) = &mut self.child {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "{:?} exited with {status}: {}",
                        self.kind,
                        self.home.log_tail()
                    );
                }
            }
            if self.answers() {
                return;
            }
            assert!(
                started.elapsed() < START_BOUND,
                "{:?} did not come up within {START_BOUND:?}: {}",
                self.kind,
                self.home.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect_timeout(&self.addr(), Duration::from_millis(200))
        else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        self.flavor.answers(&mut stream, &self.home)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Writes `hello` (unless empty) and whether the first answer read back
/// satisfies `expected`: the usual shape of a protocol-level hello.
fn replies(stream: &mut TcpStream, hello: &[u8], expected: impl Fn(&[u8]) -> bool) -> bool {
    use std::io::{Read, Write};
    let mut buffer = [0u8; 256];
    (hello.is_empty() || stream.write_all(hello).is_ok())
        && stream
            .read(&mut buffer)
            .is_ok_and(|n| expected(&buffer[..n]))
}

/// Finds a server binary on PATH or where Debian's packages put it.
fn find(name: &str, kind: Kind) -> PathBuf {
    find_among(name, kind, Vec::new())
}

/// [`find`], trying `more` candidates last.
fn find_among(name: &str, kind: Kind, more: Vec<PathBuf>) -> PathBuf {
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .collect()
        })
        .unwrap_or_default();
    candidates
        .extend(["/usr/sbin", "/usr/bin", "/usr/local/bin"].map(|dir| Path::new(dir).join(name)));
    candidates.extend(more);
    candidates
        .into_iter()
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!("`{name}` ({kind:?}) is not installed; install it with: {INSTALL}")
        })
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

/// A temporary directory removed when dropped.
mod tempdir {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new(prefix: &str) -> TempDir {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::SeqCst);
            let path = std::env::temp_dir().join(format!("{prefix}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).expect("create temp dir");
            TempDir(path)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
