//! The exec probe as a real process against the running quickstart: it
//! reads the server's answer (never runs a check of its own) and exits 0
//! when ready, 1 when not, within its budget when the server is hung or
//! gone.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use http::StatusCode;
use support::fault::{Fault, FaultProxy};
use support::quickstart::Quickstart;
use support::servers::{Kind, Server};
use support::verdict::{assert_recovers, SLACK};
use support::{example_binary, get};

const RECOVERY: Duration = Duration::from_secs(30);
/// The quickstart's probe deadline (800ms) plus the exec probe's margin.
const BUDGET: Duration = Duration::from_millis(900);

/// Runs `quickstart --probe <probe>` against the server at `app`, with a
/// database URL of its own that leads nowhere: an exec probe that ran the
/// checks itself could only fail.
fn exec(app: &Quickstart, probe: &str) -> (Output, Duration) {
    let started = Instant::now();
    let output = Command::new(example_binary("quickstart"))
        .args(["--probe", probe])
        .env("BIND", app.addr.to_string())
        .env("DATABASE_URL", "postgres://nobody:none@127.0.0.1:9/none")
        .output()
        .expect("run the exec probe");
    (output, started.elapsed())
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn signal(app: &Quickstart, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &app.pid()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exec_probe_reports_the_running_servers_answer() {
    let server = Server::start(Kind::Postgres);
    let proxy = FaultProxy::start(server.addr());
    let app = Quickstart::start(&server.url_via(proxy.addr()), &[]);
    assert_recovers(app.addr, RECOVERY).await;

    for probe in ["liveness", "readiness", "startup"] {
        let (output, _) = exec(&app, probe);
        assert_eq!(output.status.code(), Some(0), "{probe}: {output:?}");
        assert_eq!(stdout(&output), "OK\n", "{probe}");
    }

    // The database becomes unavailable: the server says so, and so does
    // the exec probe, with the server's own body.
    proxy.set(Fault::Refuse);
    let started = Instant::now();
    while get(app.addr, "/readiness").await.status != StatusCode::SERVICE_UNAVAILABLE {
        assert!(started.elapsed() < RECOVERY, "readiness never failed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (output, _) = exec(&app, "readiness");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(stdout(&output), "db: cannot connect to database.\n");
    let (output, _) = exec(&app, "liveness");
    assert_eq!(output.status.code(), Some(0), "liveness: {output:?}");

    proxy.set(Fault::Pass);
    assert_recovers(app.addr, RECOVERY).await;
    assert_eq!(exec(&app, "readiness").0.status.code(), Some(0));

    // A hung server (stopped, its socket still open): the probe gives up
    // at its budget and exits non-zero, before the kubelet's timeout.
    signal(&app, "-STOP");
    let (output, took) = exec(&app, "readiness");
    signal(&app, "-CONT");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(stdout(&output).contains("timed out"), "{output:?}");
    assert!(
        took < BUDGET + SLACK,
        "the exec probe took {took:?} on a hung server"
    );

    // No server at all.
    let addr = app.addr;
    drop(app);
    let output = Command::new(example_binary("quickstart"))
        .args(["--probe", "readiness"])
        .env("BIND", addr.to_string())
        .output()
        .expect("run the exec probe");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        stdout(&output).contains(&format!("no answer from {addr}")),
        "{output:?}"
    );

    // An unknown probe name is an error that says what is accepted.
    let output = Command::new(example_binary("quickstart"))
        .args(["--probe", "ready"])
        .output()
        .expect("run the exec probe");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("`liveness`, `readiness` or `startup`")
    );
}
