//! A private RabbitMQ node: its own Erlang port mapper (epmd) on loopback,
//! a node name, distribution and AMQP ports, and every file of its own
//! under the server's directory, so that nodes of concurrent tests never
//! meet and nothing of the system's RabbitMQ is touched.

use std::any::Any;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{find, free_port, replies, Home, Kind, Server, ServerKind, INSTALL};

/// Debian's server script (the one in `/usr/sbin` switches to the
/// `rabbitmq` user and its system directories).
const SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";
const CTL: &str = "/usr/lib/rabbitmq/bin/rabbitmqctl";

/// The node's own epmd and its ports; the epmd is stopped when dropped.
pub struct Node {
    name: String,
    dir: PathBuf,
    epmd_port: u16,
    dist_port: u16,
    epmd: Child,
}

impl Node {
    /// Writes the node's files under `dir` and starts its epmd.
    pub fn init(dir: &Path, amqp_port: u16) -> Node {
        for binary in [SERVER, CTL] {
            assert!(
                Path::new(binary).is_file(),
                "`{binary}` (RabbitMq) is not installed; install it with: {}",
                INSTALL
            );
        }
        // No plugins; no configuration file (the defaults, with the
        // environment below).
        std::fs::write(dir.join("enabled_plugins"), "[].\n").expect("write enabled_plugins");
        let epmd_port = free_port();
        let epmd = Command::new(find("epmd", Kind::RabbitMq))
            .args(["-address", "127.0.0.1", "-port", &epmd_port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start epmd");
        Node {
            name: format!("healthz{amqp_port}@localhost"),
            dir: dir.to_owned(),
            epmd_port,
            dist_port: free_port(),
            epmd,
        }
    }

    /// The command that starts the node, AMQP on `127.0.0.1:amqp_port`,
    /// logging to its standard output.
    pub fn server(&self, amqp_port: u16) -> Command {
        let mut command = Command::new(SERVER);
        self.environment(&mut command);
        command
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", amqp_port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_LOGS", "-");
        command
    }

    /// Runs `rabbitmqctl` against the node (such as
    /// `set_vm_memory_high_watermark 0`) and returns what it printed,
    /// panicking with its output if it fails.
    pub fn ctl(&self, args: &[&str]) -> String {
        let mut command = Command::new(CTL);
        self.environment(&mut command);
        let output = command
            .args(["-n", &self.name])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run rabbitmqctl");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "rabbitmqctl {args:?} failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    /// How many channels, or connections (`what`), are open on the node.
    pub fn open(&self, what: &str) -> usize {
        let list = format!("list_{what}");
        self.ctl(&[&list, "--quiet", "--no-table-headers", "pid"])
            .lines()
            .filter(|line| !line.trim().is_empty())
            .count()
    }

    /// What the server and `rabbitmqctl` share: the node, its epmd, its
    /// files.
    fn environment(&self, command: &mut Command) {
        let dir = &self.dir;
        command
            .env("HOME", dir)
            .env("RABBITMQ_NODENAME", &self.name)
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .env("ERL_EPMD_PORT", self.epmd_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", dir.join("data"))
            .env("RABBITMQ_LOG_BASE", dir.join("log"))
            .env("RABBITMQ_PID_FILE", dir.join("rabbitmq.pid"))
            .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", dir.join("advanced.config"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
            .current_dir(dir);
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.epmd.kill();
        let _ = self.epmd.wait();
    }
}

/// The RabbitMQ kind: its node exists from the server's first start.
#[derive(Default)]
pub(super) struct RabbitMq {
    node: Option<Node>,
}

impl RabbitMq {
    fn node(&self) -> &Node {
        self.node.as_ref().expect("a RabbitMQ node, made by init")
    }
}

impl ServerKind for RabbitMq {
    fn init(&mut self, home: &Home) {
        home.create_data();
        self.node = Some(Node::init(home.path(), home.port));
    }

    fn command(&self, home: &Home) -> Command {
        self.node().server(home.port)
    }

    /// The node serves AMQP once it answers the protocol header with the
    /// method frame of `Connection.Start`.
    fn answers(&self, stream: &mut TcpStream, _: &Home) -> bool {
        replies(stream, b"AMQP\x00\x00\x09\x01", |frame| {
            frame.len() >= 11 && frame[0] == 1 && frame[7..11] == [0, 10, 0, 10]
        })
    }

    fn url(&self, addr: SocketAddr) -> String {
        format!("amqp://guest:guest@{addr}/%2f")
    }
}

impl Server {
    /// The RabbitMQ node, for `rabbitmqctl`; panics on another kind of
    /// server.
    pub fn rabbit(&self) -> &Node {
        let flavor: &dyn Any = self.flavor.as_ref();
        flavor
            .downcast_ref::<RabbitMq>()
            .expect("a RabbitMQ server")
            .node()
    }
}
