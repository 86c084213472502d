//! Real PostgreSQL, MariaDB, memcached, Redis, NATS and RabbitMQ servers
//! (and this workspace's test upstreams) for tests: started
//! from the binaries on PATH (or where Debian installs them), each in its
//! own temporary directory, on a free loopback port, and stopped when
//! dropped. A missing binary is a test failure that names the command that
//! installs it.
//!
//! One file over the usual size, on purpose: every kind of server goes
//! through the same lifecycle (init, spawn, answers, stop, kill, pause),
//! each step a `match` on [`Kind`], and reading one step for every kind in
//! one place is what keeps them alike. What a kind needs beyond an arm
//! lives beside it (`rabbitmq.rs`).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::chown;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to accept connections after it is started.
const START_BOUND: Duration = Duration::from_secs(60);

/// The command that installs every server the tests use.
pub const INSTALL: &str = "bash scripts/provision.sh (or: apt-get install -y postgresql mariadb-server memcached redis-server nats-server rabbitmq-server)";

/// The user servers that refuse to run as root are started as.
const UNPRIVILEGED: (u32, u32) = (65534, 65534);

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

/// A server process on a loopback port, with its data directory.
pub struct Server {
    kind: Kind,
    port: u16,
    /// Extra command-line arguments for the server process.
    extra: Vec<String>,
    dir: tempdir::TempDir,
    child: Option<Child>,
    /// A RabbitMQ node's own epmd and ports.
    rabbit: Option<crate::rabbitmq::Node>,
}

/// The credentials every SQL server is set up with.
pub const USER: &str = "healthz_user";
pub const PASSWORD: &str = "healthz_secret_pw";
pub const DATABASE: &str = "healthz_db";

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
        let port = free_port();
        let mut server = Server {
            kind,
            port,
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            dir,
            child: None,
            rabbit: None,
        };
        server.init();
        server.spawn();
        server
    }

    /// The loopback address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for the server's client, with credentials, at `addr` (which may
    /// be a fault proxy in front of the server).
    pub fn url_via(&self, addr: SocketAddr) -> String {
        match self.kind {
            Kind::Postgres => {
                format!("postgres://{USER}:{PASSWORD}@{addr}/{DATABASE}?sslmode=disable")
            }
            Kind::MariaDb => {
                format!("mysql://{USER}:{PASSWORD}@{addr}/{DATABASE}?ssl-mode=disabled")
            }
            Kind::Memcached => format!("memcache://{addr}"),
            Kind::Redis => format!("redis://{addr}/"),
            Kind::Nats => format!("nats://{addr}"),
            Kind::RabbitMq => format!("amqp://guest:guest@{addr}/%2f"),
            Kind::HttpUpstream | Kind::GrpcUpstream => format!("http://{addr}"),
        }
    }

    /// A URL for the server's client, with credentials.
    pub fn url(&self) -> String {
        self.url_via(self.addr())
    }

    /// Stops the server gracefully and waits for it to exit: SIGINT for
    /// PostgreSQL (its "fast" shutdown: SIGTERM would wait for every client
    /// to leave), SIGTERM for the others.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let signal_number = match self.kind {
                Kind::Postgres => libc_signal::SIGINT,
                _ => libc_signal::SIGTERM,
            };
            signal(&child, signal_number);
            wait_bounded(&mut child, self.kind);
        }
    }

    /// Kills the server (SIGKILL): no goodbye to its clients.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(&child, libc_signal::SIGKILL);
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): the kernel still accepts connections
    /// and takes requests into its buffers, but nothing answers, as with a
    /// stalled process. [`unpause`](Self::unpause) lets it answer them all.
    pub fn pause(&self) {
        if let Some(child) = &self.child {
            signal(child, libc_signal::SIGSTOP);
        }
    }

    /// Lets a [paused](Self::pause) server run again (SIGCONT).
    pub fn unpause(&self) {
        if let Some(child) = &self.child {
            signal(child, libc_signal::SIGCONT);
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

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// Creates the data directory and the credentials, once.
    fn init(&mut self) {
        // One bootstrap at a time: they are CPU-heavy, and MariaDB's
        // bootstrap has been seen to trip over a concurrent one.
        static BOOTSTRAP: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one_at_a_time = BOOTSTRAP
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let data = self.data();
        match self.kind {
            Kind::Postgres => {
                let initdb = find("initdb", Kind::Postgres);
                let password_file = self.dir.path().join("password");
                std::fs::write(&password_file, PASSWORD).expect("write password file");
                own(self.dir.path());
                own(&password_file);
                let status = unprivileged(Command::new(initdb))
                    .args(["--auth=scram-sha-256", "--username", USER, "--pwfile"])
                    .arg(&password_file)
                    .arg("-D")
                    .arg(&data)
                    .stdout(Stdio::null())
                    .stderr(log_file(&self.log_path()))
                    .status()
                    .expect("run initdb");
                assert!(status.success(), "initdb failed: {}", self.log_tail());
                // Create the database in single-user mode: no server, no
                // port, no race.
                let mut single = unprivileged(Command::new(find("postgres", Kind::Postgres)))
                    .args(["--single", "-D"])
                    .arg(&data)
                    .arg("postgres")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .stderr(log_file(&self.log_path()))
                    .spawn()
                    .expect("run postgres --single");
                {
                    use std::io::Write;
                    let mut stdin = single.stdin.take().expect("stdin");
                    writeln!(stdin, "CREATE DATABASE {DATABASE};")
                        .expect("write to postgres --single");
                }
                let status = single.wait().expect("wait for postgres --single");
                assert!(
                    status.success(),
                    "CREATE DATABASE failed: {}",
                    self.log_tail()
                );
            }
            Kind::MariaDb => {
                let install = find("mariadb-install-db", Kind::MariaDb);
                std::fs::create_dir_all(&data).expect("create data dir");
                let tmp = self.dir.path().join("tmp");
                std::fs::create_dir_all(&tmp).expect("create tmp dir");
                let status = Command::new(install)
                    .arg(format!("--datadir={}", data.display()))
                    .arg(format!("--tmpdir={}", tmp.display()))
                    .args([
                        "--user=root",
                        "--auth-root-authentication-method=socket",
                        "--skip-test-db",
                    ])
                    .stdout(Stdio::null())
                    .stderr(log_file(&self.log_path()))
                    .status()
                    .expect("run mariadb-install-db");
                assert!(
                    status.success(),
                    "mariadb-install-db failed: {}",
                    self.log_tail()
                );
                let init = format!(
                    "CREATE DATABASE IF NOT EXISTS {DATABASE};\n\
                     CREATE USER IF NOT EXISTS '{USER}'@'%' IDENTIFIED BY '{PASSWORD}';\n\
                     GRANT ALL ON *.* TO '{USER}'@'%';\n"
                );
                std::fs::write(self.dir.path().join("init.sql"), init).expect("write init.sql");
            }
            Kind::RabbitMq => {
                std::fs::create_dir_all(&data).expect("create data dir");
                self.rabbit = Some(crate::rabbitmq::Node::init(self.dir.path(), self.port));
            }
            Kind::Memcached
            | Kind::Redis
            | Kind::Nats
            | Kind::HttpUpstream
            | Kind::GrpcUpstream => {
                std::fs::create_dir_all(&data).expect("create data dir");
            }
        }
    }

    fn spawn(&mut self) {
        let port = self.port.to_string();
        let dir = self.dir.path();
        let data = self.data();
        let mut command = match self.kind {
            Kind::Postgres => {
                let mut command = unprivileged(Command::new(find("postgres", Kind::Postgres)));
                command
                    .arg("-D")
                    .arg(&data)
                    .args(["-p", &port, "-h", "127.0.0.1", "-k"])
                    .arg(dir)
                    .args(["-c", "fsync=off", "-c", "max_connections=50"]);
                command
            }
            Kind::MariaDb => {
                let mut command = Command::new(find("mariadbd", Kind::MariaDb));
                command
                    .arg("--no-defaults")
                    .arg(format!("--datadir={}", data.display()))
                    .arg(format!("--socket={}", dir.join("mysqld.sock").display()))
                    .arg(format!("--pid-file={}", dir.join("mysqld.pid").display()))
                    .arg(format!("--init-file={}", dir.join("init.sql").display()))
                    .arg(format!("--tmpdir={}", dir.join("tmp").display()))
                    .args([
                        "--user=root",
                        "--bind-address=127.0.0.1",
                        "--skip-name-resolve",
                    ])
                    .arg(format!("--port={port}"))
                    .args([
                        "--innodb-buffer-pool-size=16M",
                        "--skip-log-bin",
                        "--max-connections=50",
                    ]);
                command
            }
            Kind::Memcached => {
                let mut command = Command::new(find("memcached", Kind::Memcached));
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
            Kind::Redis => {
                let mut command = Command::new(find("redis-server", Kind::Redis));
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
                    .arg(&data);
                command
            }
            Kind::Nats => {
                let mut command = Command::new(find("nats-server", Kind::Nats));
                command.args(["-a", "127.0.0.1", "-p", &port]);
                command
            }
            Kind::RabbitMq => self.rabbit().server(self.port),
            Kind::HttpUpstream | Kind::GrpcUpstream => {
                let mut command = Command::new(test_upstream());
                let mode = if self.kind == Kind::HttpUpstream {
                    "http"
                } else {
                    "grpc"
                };
                command.args([mode, &port]);
                command
            }
        };
        let child = command
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(log_file(&self.log_path()))
            .stderr(log_file(&self.log_path()))
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
                    panic!("{:?} exited with {status}: {}", self.kind, self.log_tail());
                }
            }
            if self.answers() {
                return;
            }
            assert!(
                started.elapsed() < START_BOUND,
                "{:?} did not come up within {START_BOUND:?}: {}",
                self.kind,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the server answers a protocol-level hello (a bare TCP accept
    /// is not enough: PostgreSQL and MariaDB accept before they serve).
    fn answers(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut stream) = TcpStream::connect_timeout(&self.addr(), Duration::from_millis(200))
        else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let mut buffer = [0u8; 256];
        match self.kind {
            Kind::Memcached => {
                stream.write_all(b"version\r\n").is_ok()
                    && stream
                        .read(&mut buffer)
                        .is_ok_and(|n| buffer[..n].starts_with(b"VERSION"))
            }
            Kind::Redis => {
                stream.write_all(b"PING\r\n").is_ok()
                    && stream
                        .read(&mut buffer)
                        .is_ok_and(|n| buffer[..n].starts_with(b"+PONG"))
            }
            // NATS greets every connection with its INFO line.
            Kind::Nats => stream
                .read(&mut buffer)
                .is_ok_and(|n| buffer[..n].starts_with(b"INFO ")),
            Kind::HttpUpstream => {
                stream.write_all(b"GET /healthz HTTP/1.0\r\n\r\n").is_ok()
                    && stream
                        .read(&mut buffer)
                        .is_ok_and(|n| n > 12 && &buffer[8..13] == b" 200 ")
            }
            // It binds before it serves, and the port was free: a connect
            // that succeeds reached this process. The gRPC checks' own
            // first call is the handshake.
            Kind::GrpcUpstream => true,
            Kind::RabbitMq => crate::rabbitmq::answers(&mut stream),
            // MariaDB greets first; a greeting arrives only once it serves,
            // and an init-file has run by then.
            Kind::MariaDb => stream
                .read(&mut buffer)
                .is_ok_and(|n| n > 4 && buffer[4] == 10),
            // PostgreSQL: an SSLRequest is answered with one byte, N or S,
            // only by a postmaster that accepts connections.
            Kind::Postgres => {
                stream.write_all(&[0, 0, 0, 8, 4, 210, 22, 47]).is_ok()
                    && stream.read(&mut buffer).is_ok_and(|n| n == 1)
                    && self.log_tail().contains("ready to accept connections")
            }
        }
    }

    /// The RabbitMQ node, for `rabbitmqctl`.
    pub fn rabbit(&self) -> &crate::rabbitmq::Node {
        self.rabbit.as_ref().expect("a RabbitMQ server")
    }

    /// Everything the server has logged.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.log_path()).unwrap_or_default()).into_owned()
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read(self.log_path()).unwrap_or_default();
        let start = log.len().saturating_sub(2000);
        String::from_utf8_lossy(&log[start..]).into_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Finds a server binary on PATH or where Debian's packages put it.
pub(crate) fn find(name: &str, kind: Kind) -> PathBuf {
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .collect()
        })
        .unwrap_or_default();
    candidates
        .extend(["/usr/sbin", "/usr/bin", "/usr/local/bin"].map(|dir| Path::new(dir).join(name)));
    if kind == Kind::Postgres {
        if let Ok(versions) = std::fs::read_dir("/usr/lib/postgresql") {
            let mut versions: Vec<PathBuf> = versions.flatten().map(|e| e.path()).collect();
            versions.sort();
            candidates.extend(versions.into_iter().rev().map(|v| v.join("bin").join(name)));
        }
    }
    candidates
        .into_iter()
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!("`{name}` ({kind:?}) is not installed; install it with: {INSTALL}")
        })
}

/// The `healthz-test-upstream` binary cargo builds beside the test that
/// runs (`target/<profile>/`, one level above the test's `deps/`).
fn test_upstream() -> PathBuf {
    let name = "healthz-test-upstream";
    let path = std::env::current_exe()
        .ok()
        .and_then(|test| Some(test.parent()?.parent()?.join(name)))
        .filter(|path| path.is_file());
    path.unwrap_or_else(|| panic!("`{name}` is not built; build it with: cargo build --bin {name}"))
}

/// Runs `command` as an unprivileged user when the tests run as root
/// (PostgreSQL refuses to run as root).
fn unprivileged(mut command: Command) -> Command {
    if is_root() {
        command.uid(UNPRIVILEGED.0).gid(UNPRIVILEGED.1);
    }
    command
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

fn own(path: &Path) {
    if is_root() {
        chown(path, Some(UNPRIVILEGED.0), Some(UNPRIVILEGED.1)).expect("chown");
    }
}

fn log_file(path: &Path) -> Stdio {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(Stdio::from)
        .expect("open server log")
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

mod libc_signal {
    pub const SIGINT: i32 = 2;
    pub const SIGTERM: i32 = 15;
    pub const SIGSTOP: i32 = 19;
    pub const SIGCONT: i32 = 18;
    pub const SIGKILL: i32 = 9;
}

/// Sends `signal` to the server's whole process group (each server is
/// spawned as the leader of its own), as a container runtime signals a
/// container: PostgreSQL's backends would otherwise outlive a killed
/// postmaster for a moment and still answer their connections' queries,
/// and RabbitMQ's Erlang VM is a child of its start script.
fn signal(child: &Child, signal: i32) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{}", child.id()))
        .status();
}

fn wait_bounded(child: &mut Child, kind: Kind) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("{kind:?} did not stop within 30s of SIGTERM; killing it");
    let _ = child.kill();
    let _ = child.wait();
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
