//! Who else used the CPU during a run. The machine is shared (other
//! builds and tests may run beside the benchmark), and on two cores any
//! other work changes a figure by more than the effects measured. A run is
//! measured only once the machine is quiet, and the CPU time the machine
//! spent beyond our own processes (the servers, the runner and the load
//! generators it waited for) is recorded with it; a run disturbed by more
//! than [`DISTURBED`] of a core is measured again.

use std::time::{Duration, Instant};

/// Other work, in cores, beyond which a run is measured again.
pub const DISTURBED: f64 = 0.15;
/// The machine counts as quiet below this share of all its cores.
const QUIET: f64 = 0.10;
/// Waiting for quiet never takes longer than this per run.
const MAX_WAIT: Duration = Duration::from_secs(600);

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as f64 }
}

/// Busy time of the whole machine (every state but idle and iowait), in
/// clock ticks, and the number of CPUs.
fn machine_busy() -> (u64, usize) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let mut cpus = 0;
    let mut busy = 0;
    for line in stat.lines() {
        if line.starts_with("cpu") && line.as_bytes().get(3).is_some_and(u8::is_ascii_digit) {
            cpus += 1;
        } else if let Some(rest) = line.strip_prefix("cpu ") {
            let fields: Vec<u64> = rest
                .split_whitespace()
                .map(|v| v.parse().unwrap_or(0))
                .collect();
            // user nice system idle iowait irq softirq steal
            busy = [0, 1, 2, 5, 6, 7]
                .iter()
                .filter_map(|&i| fields.get(i))
                .sum();
        }
    }
    (busy, cpus.max(1))
}

/// User and system time of process `pid`, in clock ticks.
fn process_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name may hold spaces: the fields follow its ')'.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15, the 12th and 13th after ')'.
    [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum()
}

/// User and system time of process `pid`, in seconds.
pub fn process_seconds(pid: u32) -> f64 {
    process_ticks(pid) as f64 / ticks_per_second()
}

/// This process's time and that of the children it has waited for.
fn own_ticks() -> u64 {
    let rusage = |who| {
        // SAFETY: getrusage writes a `rusage` into the zeroed value.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(who, &mut usage) };
        let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        secs(usage.ru_utime) + secs(usage.ru_stime)
    };
    ((rusage(libc::RUSAGE_SELF) + rusage(libc::RUSAGE_CHILDREN)) * ticks_per_second()) as u64
}

/// CPU accounts at one instant.
pub struct Snapshot {
    at: Instant,
    machine: u64,
    ours: u64,
}

/// Takes a snapshot; `pids` are our long-running children (the servers).
pub fn snapshot(pids: &[u32]) -> Snapshot {
    Snapshot {
        at: Instant::now(),
        machine: machine_busy().0,
        ours: own_ticks() + pids.iter().map(|&pid| process_ticks(pid)).sum::<u64>(),
    }
}

/// The CPU the machine spent between `start` and `end` beyond ours, in
/// cores (1.0 = one core busy the whole time).
pub fn others(start: &Snapshot, end: &Snapshot) -> f64 {
    let elapsed = (end.at - start.at).as_secs_f64().max(1e-3);
    let machine = end.machine.saturating_sub(start.machine) as f64;
    let ours = end.ours.saturating_sub(start.ours) as f64;
    ((machine - ours) / ticks_per_second() / elapsed).max(0.0)
}

/// Waits until the machine is quiet (nothing of ours runs meanwhile);
/// returns how long it waited.
pub async fn wait_quiet() -> Duration {
    let started = Instant::now();
    while started.elapsed() < MAX_WAIT {
        let (before, cpus) = machine_busy();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let busy = machine_busy().0.saturating_sub(before) as f64 / ticks_per_second() / 0.3;
        if busy / (cpus as f64) < QUIET {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    started.elapsed()
}
