//! One server process under callgrind: started without address-space
//! randomisation, sent its requests with a wait for it to go idle before
//! each, stopped with SIGTERM (callgrind writes its counts when the process
//! ends), and the instructions it executed read back.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::process::Command;

use super::client::{self, Shape};
use crate::process::Server;

/// The command that installs valgrind where it is missing.
pub const INSTALL: &str = "sudo apt-get install valgrind";

/// Longest a server under callgrind may take to go idle, or to exit once
/// stopped.
const BOUND: Duration = Duration::from_secs(60);

/// Between two looks at the server's threads.
const SAMPLE: Duration = Duration::from_micros(200);

/// Exits with the install command when valgrind cannot be run.
pub fn require_valgrind() {
    let found = std::process::Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !found {
        eprintln!(
            "valgrind is not installed (not on PATH). Install it with `{INSTALL}` \
             (or `bash scripts/provision.sh`)."
        );
        std::process::exit(1);
    }
}

/// What one server process is asked.
pub struct Job<'a> {
    /// The `serve` kind.
    pub kind: &'a str,
    pub workers: usize,
    pub path: &'a str,
    pub shape: Shape,
    /// Requests sent, all counted: warm-up included.
    pub requests: u64,
}

/// Instructions the server process executed, from its start to its stop,
/// serving `job.requests` requests.
pub async fn instructions(job: &Job<'_>) -> u64 {
    let dir = scratch_dir();
    let out = dir.join("callgrind.out");
    let mut command = Command::new("valgrind");
    command
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(format!("--log-file={}", dir.join("valgrind.log").display()))
        .arg(std::env::current_exe().unwrap())
        .args(["serve", job.kind, "--workers", &job.workers.to_string()]);
    // The same addresses in every run: where the heap starts decides how
    // much work glibc's aligned allocations do, by up to 200 instructions
    // per request.
    // SAFETY: `personality` is async-signal-safe and touches no memory.
    unsafe {
        command.pre_exec(|| {
            libc::personality(libc::ADDR_NO_RANDOMIZE as libc::c_ulong);
            Ok(())
        });
    }
    let mut server = Server::spawn(command).await;
    let pid = server.child.id().expect("the server is running");
    let (addr, path, shape, requests) = (server.addr, job.path.to_owned(), job.shape, job.requests);
    let kept = tokio::task::spawn_blocking(move || {
        client::send(addr, &path, shape, requests, &|| wait_idle(pid))
    })
    .await
    .unwrap()
    .unwrap_or_else(|error| panic!("{} {}: {error}", job.kind, job.path));
    // SIGTERM, not the SIGKILL of `Child::kill`: callgrind writes its
    // counts only when the process ends through a signal it can catch.
    let pid = libc::pid_t::try_from(pid).unwrap();
    assert_eq!(
        unsafe { libc::kill(pid, libc::SIGTERM) },
        0,
        "signal the server"
    );
    tokio::time::timeout(BOUND, server.child.wait())
        .await
        .expect("the server under callgrind did not exit within 60s")
        .unwrap();
    drop(kept);
    let total = read_total(&out);
    std::fs::remove_dir_all(&dir).unwrap();
    total
}

/// Returns once process `pid` has parked: every thread asleep, and none run
/// between two looks. A fixed pause instead would be too short whenever the
/// machine is busy, and the counts would differ.
fn wait_idle(pid: u32) {
    let started = Instant::now();
    let mut last = None;
    while started.elapsed() < BOUND {
        let now = threads(pid);
        if now.is_some() && now == last {
            return;
        }
        last = now;
        std::thread::sleep(SAMPLE);
    }
    let states: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|task| {
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            let syscall = std::fs::read_to_string(task.path().join("syscall")).unwrap_or_default();
            format!("{} | {}", stat.trim(), syscall.trim())
        })
        .collect();
    panic!("the server under callgrind did not go idle within 60s: {states:#?}");
}

/// The CPU time of all threads of `pid` (ns) when every one of them is
/// asleep; `None` while one runs or waits for a CPU.
fn threads(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the server is running");
    let mut runtime = 0;
    for task in tasks {
        let task = task.unwrap().path();
        let stat = std::fs::read_to_string(task.join("stat")).ok()?;
        // The state follows the command name, which is in parentheses.
        let state = stat.rsplit_once(") ")?.1.chars().next()?;
        if state != 'S' {
            return None;
        }
        let schedstat = std::fs::read_to_string(task.join("schedstat")).ok()?;
        runtime += schedstat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(runtime)
}

/// A fresh directory for one process's callgrind files.
fn scratch_dir() -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "healthz-bench-callgrind-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The `totals:` (or `summary:`) line of a callgrind output file: the
/// instructions executed, every thread of the process together.
fn read_total(out: &Path) -> u64 {
    let text = std::fs::read_to_string(out)
        .unwrap_or_else(|error| panic!("no callgrind output {}: {error}", out.display()));
    text.lines()
        .find_map(|line| {
            let value = line
                .strip_prefix("totals:")
                .or_else(|| line.strip_prefix("summary:"))?;
            value.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no totals in {}", out.display()))
}
