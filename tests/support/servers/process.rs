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
/// server's own shutdown takes care of its other processes.
pub(super) fn send(child: &Child, signal: i32) {
    send_to(&[format!("-{}", child.id())], signal);
}

/// Stops (SIGSTOP) the server's every process, and returns them once each
/// thread of each has stopped. Not only its process group: PostgreSQL's
/// backends each start a session of their own, and would otherwise keep
/// answering their connections' queries. A process forked before its
/// parent stopped is found and stopped on the next round; once all are
/// stopped, none can fork. Bounded: panics after 10 s.
pub(super) fn stop_tree(child: &Child) {
    let (_, all_stopped) = try_stop_tree(child);
    assert!(all_stopped, "the server did not stop within 10s of SIGSTOP");
}

/// [`stop_tree`] without the panic: every process found, and whether all
/// stopped within the bound.
fn try_stop_tree(child: &Child) -> (Vec<u32>, bool) {
    let root = child.id();
    send(child, signal::SIGSTOP);
    let started = Instant::now();
    loop {
        let mut tree = descendants(root);
        tree.push(root);
        let running: Vec<String> = tree
            .iter()
            .filter(|pid| !stopped(**pid))
            .map(u32::to_string)
            .collect();
        if running.is_empty() || started.elapsed() > Duration::from_secs(10) {
            return (tree, running.is_empty());
        }
        send_to(&running, signal::SIGSTOP);
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Lets every process of a [stopped](stop_tree) server run again.
pub(super) fn continue_tree(child: &Child) {
    let mut targets = vec![format!("-{}", child.id())];
    targets.extend(descendants(child.id()).iter().map(u32::to_string));
    send_to(&targets, signal::SIGCONT);
}

/// Kills (SIGKILL) every process of the server and reaps it; returns once
/// none of them is left: a PostgreSQL backend that outlived its postmaster
/// would keep the old shared memory, and the next start would refuse to
/// run beside it. Never panics (it runs on drop); bounded all the same.
pub(super) fn kill_tree(child: &mut Child) {
    let (tree, _) = try_stop_tree(child);
    let targets: Vec<String> = tree.iter().map(u32::to_string).collect();
    send_to(&targets, signal::SIGKILL);
    let _ = child.kill();
    let _ = child.wait();
    let started = Instant::now();
    while !tree.iter().all(|pid| gone(*pid)) {
        if started.elapsed() > Duration::from_secs(10) {
            eprintln!("the server's processes outlived SIGKILL by 10s");
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// `kill -signal -- targets…` (pids, or `-pgid` for a group).
fn send_to(targets: &[String], signal: i32) {
    // A process may be gone by now (a backend whose client left): that
    // one is not news, and the others are signalled all the same.
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .args(targets)
        .stderr(Stdio::null())
        .status();
}

/// The state letters of every thread of `pid` (none when it is gone).
fn thread_states(pid: u32) -> Vec<String> {
    let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    threads
        .flatten()
        .filter_map(|thread| {
            let stat = std::fs::read_to_string(thread.path().join("stat")).ok()?;
            let after_comm = &stat[stat.rfind(')')? + 1..];
            Some(after_comm.split_whitespace().next()?.to_owned())
        })
        .collect()
}

/// Whether every thread of `pid` is stopped (or it is gone: nothing of
/// it answers).
fn stopped(pid: u32) -> bool {
    thread_states(pid)
        .iter()
        .all(|state| matches!(state.as_str(), "T" | "t" | "Z" | "X"))
}

/// Whether `pid` has exited (a zombie holds nothing but its entry).
fn gone(pid: u32) -> bool {
    thread_states(pid)
        .iter()
        .all(|state| matches!(state.as_str(), "Z" | "X"))
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
