//! The server's processes: signals to the whole tree, waits bounded in
//! time, and running as an unprivileged user where a server refuses root.

use std::os::unix::fs::chown;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::Kind;

/// The user servers that refuse to run as root are started as.
const UNPRIVILEGED: (u32, u32) = (65534, 65534);

/// Runs `command` as an unprivileged user when the tests run as root
/// (PostgreSQL refuses to run as root).
pub(super) fn unprivileged(mut command: Command) -> Command {
    if is_root() {
        command.uid(UNPRIVILEGED.0).gid(UNPRIVILEGED.1);
    }
    command
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

/// Gives `path` to the unprivileged user when the tests run as root.
pub(super) fn own(path: &Path) {
    if is_root() {
        chown(path, Some(UNPRIVILEGED.0), Some(UNPRIVILEGED.1)).expect("chown");
    }
}

pub(super) mod signal {
    pub const SIGINT: i32 = 2;
    pub const SIGTERM: i32 = 15;
    pub const SIGSTOP: i32 = 19;
    pub const SIGCONT: i32 = 18;
    pub const SIGKILL: i32 = 9;
}

/// Sends `signal` to the server's whole process group (each server is
/// spawned as the leader of its own), as a container runtime signals a
/// container: RabbitMQ's Erlang VM is a child of its start script. The
/// signals no process can catch or pass on (stop, continue, kill) also go
/// to every descendant by parent, since some leave the group: PostgreSQL's
/// backends each start a session of their own, and would otherwise keep
/// answering their connections' queries while the postmaster is stopped
/// or dead.
pub(super) fn send(child: &Child, signal: i32) {
    let mut targets = vec![format!("-{}", child.id())];
    if [signal::SIGSTOP, signal::SIGCONT, signal::SIGKILL].contains(&signal) {
        targets.extend(descendants(child.id()).iter().map(u32::to_string));
    }
    // A descendant may be gone by now (a backend whose client left): that
    // one is not news, and the others are signalled all the same.
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .args(targets)
        .stderr(Stdio::null())
        .status();
}

/// Waits (at most 10 s) until every thread of `root` and its descendants
/// is stopped.
pub(super) fn wait_stopped(root: u32) {
    let started = Instant::now();
    let mut processes = descendants(root);
    processes.push(root);
    let stopped = |pid: &u32| {
        let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return true; // gone: nothing of it answers
        };
        threads.flatten().all(|thread| {
            let stat = std::fs::read_to_string(thread.path().join("stat")).unwrap_or_default();
            let state = stat
                .rfind(')')
                .and_then(|end| stat[end + 1..].split_whitespace().next());
            matches!(state, None | Some("T" | "t" | "Z" | "X"))
        })
    };
    while !processes.iter().all(stopped) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the server did not stop within 10s of SIGSTOP"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Every process below `root`, by the parent each one's `/proc` entry names.
fn descendants(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
            let after_comm = &stat[stat.rfind(')')? + 1..];
            let parent = after_comm.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, parent))
        })
        .collect();
    let mut found = vec![root];
    let mut next = 0;
    while next < found.len() {
        let parent = found[next];
        found.extend(
            parents
                .iter()
                .filter(|(_, of)| *of == parent)
                .map(|(pid, _)| *pid),
        );
        next += 1;
    }
    found.split_off(1)
}

pub(super) fn wait_bounded(child: &mut Child, kind: Kind) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("{kind:?} did not stop within 30s of its stop signal; killing it");
    let _ = child.kill();
    let _ = child.wait();
}
