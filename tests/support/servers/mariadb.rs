//! MariaDB: a data directory made by `mariadb-install-db`, and the SQL
//! credentials created by an init file on every start.

use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};

use super::{find, replies, Home, Kind, ServerKind};
use super::{DATABASE, PASSWORD, USER};

pub(super) struct MariaDb;

impl ServerKind for MariaDb {
    fn init(&mut self, home: &Home) {
        home.create_data();
        let tmp = home.path().join("tmp");
        std::fs::create_dir_all(&tmp).expect("create tmp dir");
        let status = Command::new(find("mariadb-install-db", Kind::MariaDb))
            .arg(format!("--datadir={}", home.data().display()))
            .arg(format!("--tmpdir={}", tmp.display()))
            .args([
                "--user=root",
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
            ])
            .stdout(Stdio::null())
            .stderr(home.log_file())
            .status()
            .expect("run mariadb-install-db");
        assert!(
            status.success(),
            "mariadb-install-db failed: {}",
            home.log_tail()
        );
        let init = format!(
            "CREATE DATABASE IF NOT EXISTS {DATABASE};\n\
             CREATE USER IF NOT EXISTS '{USER}'@'%' IDENTIFIED BY '{PASSWORD}';\n\
             GRANT ALL ON *.* TO '{USER}'@'%';\n"
        );
        std::fs::write(home.path().join("init.sql"), init).expect("write init.sql");
    }

    fn command(&self, home: &Home) -> Command {
        let dir = home.path();
        let mut command = Command::new(find("mariadbd", Kind::MariaDb));
        command
            .arg("--no-defaults")
            .arg(format!("--datadir={}", home.data().display()))
            .arg(format!("--socket={}", dir.join("mysqld.sock").display()))
            .arg(format!("--pid-file={}", dir.join("mysqld.pid").display()))
            .arg(format!("--init-file={}", dir.join("init.sql").display()))
            .arg(format!("--tmpdir={}", dir.join("tmp").display()))
            .args([
                "--user=root",
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
            ])
            .arg(format!("--port={}", home.port))
            .args([
                "--innodb-buffer-pool-size=16M",
                "--skip-log-bin",
                "--max-connections=50",
            ]);
        command
    }

    /// MariaDB greets first; a greeting (protocol version 10) arrives only
    /// once it serves, and the init file has run by then.
    fn answers(&self, stream: &mut TcpStream, _: &Home) -> bool {
        replies(stream, b"", |greeting| {
            greeting.len() > 4 && greeting[4] == 10
        })
    }

    fn url(&self, addr: SocketAddr) -> String {
        format!("mysql://{USER}:{PASSWORD}@{addr}/{DATABASE}?ssl-mode=disabled")
    }
}
