//! The Kubernetes manifests: probe settings printed from the state type's
//! configuration, and schema validation, offline.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use healthz::kubernetes::KubernetesProbes;
use healthz::HealthChecks;

const MANIFEST: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../examples/kubernetes/deployment.yaml"
);

/// The validator's command, from PATH or pip's user directory.
fn validator() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("kubernetes-validate"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let user = std::env::var_os("HOME")
        .map(|home| Path::new(&home).join(".local/bin/kubernetes-validate"));
    on_path.into_iter().chain(user).find(|path| path.is_file()).unwrap_or_else(|| {
        panic!("kubernetes-validate is not installed; install it with: bash scripts/provision.sh (or: python3 -m pip install kubernetes-validate)")
    })
}

/// Runs the validator, strict (unknown fields are errors), on `file`.
fn validate(file: &Path) -> (bool, String) {
    let output = Command::new(validator())
        .args(["--strict", "--no-warn"])
        .arg(file)
        .output()
        .expect("run kubernetes-validate");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

fn indent(yaml: &str, spaces: usize) -> String {
    yaml.lines()
        .map(|line| format!("{:spaces$}{line}\n", ""))
        .collect()
}

#[test]
fn the_manifest_holds_the_probes_the_quickstart_prints() {
    let output = Command::new(support::example_binary("quickstart"))
        .arg("--print-probes")
        .output()
        .expect("run the quickstart with --print-probes");
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(printed.contains("readinessProbe:"), "{printed}");
    let manifest = std::fs::read_to_string(MANIFEST).unwrap();
    assert!(
        manifest.contains(&indent(&printed, 10)),
        "examples/kubernetes/deployment.yaml no longer matches the quickstart's probes; \
         paste in the output of `cargo run --example quickstart -- --print-probes`:\n{printed}"
    );
}

#[test]
fn the_manifest_validates_against_the_kubernetes_schemas() {
    let (valid, output) = validate(Path::new(MANIFEST));
    assert!(valid, "{output}");
}

fn deployment_with(probes: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: probe-test\nspec:\n  selector:\n    matchLabels:\n      app: probe-test\n  template:\n    metadata:\n      labels:\n        app: probe-test\n    spec:\n      containers:\n        - name: app\n          image: example/app:1\n          ports:\n            - name: http\n              containerPort: 8080\n{}",
        indent(probes, 10)
    )
}

fn validate_text(name: &str, manifest: &str) -> (bool, String) {
    let path = std::env::temp_dir().join(format!("healthz-{name}-{}.yaml", std::process::id()));
    std::fs::write(&path, manifest).unwrap();
    let result = validate(&path);
    let _ = std::fs::remove_file(path);
    result
}

#[derive(Clone, HealthChecks)]
#[healthz(
    timeout = "2500ms",
    liveness = "/live",
    readiness = "/ready",
    startup = "/started"
)]
struct SlowState {}

#[derive(Clone, HealthChecks)]
struct DefaultState {}

#[test]
fn generated_probes_validate_for_other_configurations() {
    for (name, probes) in [
        (
            "default",
            KubernetesProbes::of::<DefaultState>().to_yaml().unwrap(),
        ),
        (
            "slow",
            KubernetesProbes::of::<SlowState>()
                .named_port("http")
                .startup_budget(Duration::from_secs(300))
                .to_yaml()
                .unwrap(),
        ),
    ] {
        let (valid, output) = validate_text(name, &deployment_with(&probes));
        assert!(valid, "{name}: {output}\n{probes}");
    }
    let slow = KubernetesProbes::of::<SlowState>().to_yaml().unwrap();
    assert!(
        slow.contains("path: /ready\n    port: 8080\n  timeoutSeconds: 3\n"),
        "{slow}"
    );
    assert!(slow.contains("failureThreshold: 30\n"), "{slow}");
}

/// The validator must be able to say no, or the tests above prove nothing.
#[test]
fn the_validator_rejects_a_broken_manifest() {
    let broken = deployment_with("readinessProbe:\n  httpGet:\n    path: /readiness\n    port: 8080\n  timeoutSeconds: one\n");
    let (valid, output) = validate_text("broken", &broken);
    assert!(
        !valid,
        "a string timeoutSeconds passed validation: {output}"
    );
    let unknown = deployment_with(
        "readinessProbe:\n  httpGet:\n    path: /readiness\n    port: 8080\n  timeoutSecs: 1\n",
    );
    let (valid, output) = validate_text("unknown-field", &unknown);
    assert!(
        !valid,
        "an unknown field passed strict validation: {output}"
    );
}
