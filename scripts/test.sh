#!/usr/bin/env bash
# Runs everything CI runs: installs the test servers when missing, then
# formatting, clippy, the docs build and every test.
# Usage: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

step "provision test servers"
bash scripts/provision.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, all features, warnings denied)"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "cargo doc (warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps

step "cargo test (all features)"
cargo test --workspace --all-features

# The fuzz target lives outside the workspace (cargo fuzz builds it with
# its own flags); make sure it still compiles. Run it with:
#   cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run route -- -max_total_time=600
step "cargo check (fuzz target)"
cargo check --manifest-path fuzz/Cargo.toml --quiet
