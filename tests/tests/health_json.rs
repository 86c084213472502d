//! `application/health+json` bodies validate against a JSON Schema of the
//! IETF draft's shape, kept in `tests/tests/schemas/`, in every state a probe can
//! be in.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use healthz::{Check, CheckError, HealthChecks};
use support::{get, serve};

const SCHEMA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/schemas/health-json.schema.json"
);

const PASS: u8 = 0;
const FAIL: u8 = 1;
const BUSY: u8 = 2;

#[derive(Clone)]
struct Dial(Arc<AtomicU8>);

impl Check for Dial {
    async fn check(&self) -> Result<(), CheckError> {
        match self.0.load(Ordering::SeqCst) {
            PASS => Ok(()),
            BUSY => Err(CheckError::busy("busy: every connection is in use.")),
            _ => Err(CheckError::unavailable(CheckError::DATABASE)
                .with_detail("db.internal refused \"app\"")),
        }
    }
}

#[derive(Clone, HealthChecks)]
#[healthz(cache = "0s")]
struct State {
    #[healthz]
    db: Dial,
    #[healthz(name = "search-v2", critical = false)]
    search: Dial,
}

/// Validates each body against the schema with Python's `jsonschema`
/// (installed with kubernetes-validate by `scripts/provision.sh`); returns
/// one verdict per body.
fn validate(bodies: &[String]) -> Vec<Result<(), String>> {
    let script = r#"
import json, sys
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1]))
Draft202012Validator.check_schema(schema)
validator = Draft202012Validator(schema)
for line in sys.stdin:
    try:
        errors = [e.message for e in validator.iter_errors(json.loads(line))]
    except ValueError as e:
        errors = ["not JSON: %s" % e]
    print("ok" if not errors else "invalid: " + "; ".join(errors))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script, SCHEMA])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3 (install it with: apt-get install -y python3)");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        for body in bodies {
            assert!(!body.contains('\n'));
            writeln!(stdin, "{body}").unwrap();
        }
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the validator failed; install it with: bash scripts/provision.sh (or: python3 -m pip install jsonschema)\n{stderr}"
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            if line == "ok" {
                Ok(())
            } else {
                Err(line.to_owned())
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_state_validates_against_the_draft_schema() {
    let (db, search) = (Arc::new(AtomicU8::new(PASS)), Arc::new(AtomicU8::new(PASS)));
    let probes = State {
        db: Dial(db.clone()),
        search: Dial(search.clone()),
    }
    .probes()
    .with_details(healthz::details::Details::always());
    let addr = serve(axum::Router::new().layer(probes.clone())).await;

    let mut bodies = Vec::new();
    let mut take = |expected: &str, body: String| {
        assert!(
            body.starts_with(&format!("{{\"status\":\"{expected}\"")),
            "{body}"
        );
        bodies.push(body);
    };
    take("pass", get(addr, "/readiness?format=json").await.body);
    search.store(FAIL, Ordering::SeqCst);
    take("warn", get(addr, "/readiness?format=json").await.body);
    db.store(BUSY, Ordering::SeqCst);
    take("warn", get(addr, "/readiness?format=json").await.body);
    db.store(FAIL, Ordering::SeqCst);
    take("fail", get(addr, "/readiness?format=json").await.body);
    take("fail", get(addr, "/readiness/db?format=json").await.body);
    // Opened by the first passing probe above, and open for good.
    take("pass", get(addr, "/startupz?format=json").await.body);
    take("pass", get(addr, "/healthz?format=json").await.body);
    let unknown = get(addr, "/readiness/nope?format=json").await;
    assert_eq!(unknown.status, http::StatusCode::NOT_FOUND);
    take("fail", unknown.body);
    take(
        "warn",
        get(addr, "/readiness?format=json&exclude=db").await.body,
    );
    probes.drain();
    take("fail", get(addr, "/readiness?format=json").await.body);

    for (body, verdict) in bodies.iter().zip(validate(&bodies)) {
        assert!(verdict.is_ok(), "{verdict:?}\n{body}");
        assert!(
            !body.contains("db.internal"),
            "a private detail leaked: {body}"
        );
    }
}

/// The schema and the validator can say no, or the test above proves
/// nothing.
#[test]
fn the_schema_rejects_bodies_off_the_draft() {
    let bad = [
        r#"{"status":"ok"}"#,
        r#"{"status":"pass","output":"all good"}"#,
        r#"{"status":"fail","checks":{"db:responseTime":{"status":"fail"}}}"#,
        r#"{"status":"pass","checks":{"db:responseTime":[{"status":"pass","time":"yesterday"}]}}"#,
        r#"{"status":"pass","extra":1}"#,
    ];
    let verdicts = validate(&bad.map(str::to_owned));
    assert_eq!(verdicts.len(), bad.len());
    for (body, verdict) in bad.iter().zip(verdicts) {
        assert!(verdict.is_err(), "accepted: {body}");
    }
}
