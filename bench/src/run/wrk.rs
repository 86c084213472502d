//! Drives a scenario with wrk, a load generator that is not ours: a C
//! program with its own event loop, in its own process, so that a figure
//! does not depend on our client's costs. Bounded in time by `-d` (and a
//! kill a few seconds past it) and in requests by a Lua hook that stops
//! each thread after its share of the bound.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::load::Summary;

/// The command that installs wrk on Debian and Ubuntu.
pub const INSTALL: &str = "apt-get install wrk";

/// Stops a wrk thread after `args[1]` responses: the request bound, split
/// between the threads.
const BOUND_SCRIPT: &str = "\
local answered, bound = 0, math.huge
function init(args) bound = tonumber(args[1]) end
function response(status, headers, body)
  answered = answered + 1
  if answered >= bound then wrk.thread:stop() end
end
";

/// wrk on this machine, with its settings for every run.
pub struct Wrk {
    program: PathBuf,
    pub threads: usize,
    pub connections: usize,
    script: PathBuf,
}

impl Wrk {
    /// wrk from `PATH`, or `None` when it is not installed.
    pub fn find(threads: usize, connections: usize) -> Option<Wrk> {
        let program = std::env::var_os("PATH")
            .into_iter()
            .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
            .map(|dir| dir.join("wrk"))
            .find(|candidate| is_executable(candidate))?;
        let script = std::env::temp_dir().join(format!("healthz-bench-{}.lua", std::process::id()));
        std::fs::write(&script, BOUND_SCRIPT).expect("write the wrk script");
        Some(Wrk {
            program,
            threads,
            connections,
            script,
        })
    }

    /// `wrk -t<threads> -c<connections> -d<seconds>s --latency` against
    /// `http://addr/path`, stopped after `max_requests` responses.
    pub async fn run(
        &self,
        addr: SocketAddr,
        path: &str,
        seconds: u64,
        max_requests: u64,
    ) -> Summary {
        assert!(
            addr.ip().is_loopback(),
            "wrk only targets loopback addresses"
        );
        let per_thread = (max_requests / self.threads as u64).max(1);
        let mut command = Command::new(&self.program);
        command
            .arg(format!("-t{}", self.threads))
            .arg(format!("-c{}", self.connections))
            .arg(format!("-d{seconds}s"))
            .arg("--latency")
            .arg("-s")
            .arg(&self.script)
            .arg(format!("http://{addr}{path}"))
            .arg("--")
            .arg(per_thread.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let bound = Duration::from_secs(seconds + 10);
        let output = tokio::time::timeout(bound, command.output())
            .await
            .unwrap_or_else(|_| panic!("wrk ran past {bound:?}"))
            .expect("run wrk");
        let stdout = String::from_utf8_lossy(&output.stdout);
        parse(&stdout).unwrap_or_else(|| {
            panic!(
                "no result from wrk: {stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
    }
}

impl Drop for Wrk {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.script);
    }
}

fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Reads wrk's report: requests, `Requests/sec`, the 50% and 99% lines of
/// `--latency`, `Non-2xx or 3xx responses` and `Socket errors`.
fn parse(output: &str) -> Option<Summary> {
    let mut requests = None;
    let mut rps = None;
    let (mut p50_us, mut p99_us) = (None, None);
    let (mut non_2xx, mut errors) = (0, 0);
    for line in output.lines().map(str::trim) {
        if let Some(value) = line.strip_prefix("Requests/sec:") {
            rps = value.trim().parse::<f64>().ok();
        } else if let Some(value) = line.strip_prefix("50%") {
            p50_us = micros(value.trim());
        } else if let Some(value) = line.strip_prefix("99%") {
            p99_us = micros(value.trim());
        } else if let Some(value) = line.strip_prefix("Non-2xx or 3xx responses:") {
            non_2xx = value.trim().parse().ok()?;
        } else if let Some(value) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            errors = value
                .split(',')
                .filter_map(|part| part.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum();
        } else if line.contains(" requests in ") {
            requests = line.split_whitespace().next()?.parse::<u64>().ok();
        }
    }
    let (requests, rps) = (requests?, rps?);
    Some(Summary {
        requests,
        non_2xx,
        errors,
        seconds: if rps > 0.0 {
            requests as f64 / rps
        } else {
            0.0
        },
        rps,
        p50_us: p50_us?,
        p99_us: p99_us?,
    })
}

/// `123.45us`, `1.20ms`, `2.00s` in microseconds.
fn micros(value: &str) -> Option<u64> {
    let split = value.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        _ => return None,
    };
    Some((number * scale).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_wrk_report() {
        let report = "\
Running 2s test @ http://127.0.0.1:40000/healthz
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   810.46us  300.12us  12.34ms   90.00%
    Req/Sec    39.12k     2.01k   42.00k    70.00%
  Latency Distribution
     50%  760.00us
     75%    0.90ms
     90%    1.10ms
     99%    2.05ms
  155662 requests in 2.00s, 12.34MB read
  Non-2xx or 3xx responses: 7
  Socket errors: connect 0, read 2, write 0, timeout 1
Requests/sec:  77831.00
Transfer/sec:      6.17MB
";
        let summary = parse(report).unwrap();
        assert_eq!(summary.requests, 155_662);
        assert_eq!(summary.rps, 77_831.0);
        assert_eq!(summary.p50_us, 760);
        assert_eq!(summary.p99_us, 2_050);
        assert_eq!(summary.non_2xx, 7);
        assert_eq!(summary.errors, 3);
    }
}
