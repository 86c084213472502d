#!/usr/bin/env bash
# Runs everything CI runs: installs the test servers when missing, then
# formatting, clippy, the docs build, the packages and every test.
# Usage: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

# A CI checkout is built once: incremental caches (about 4 GB here) would
# only take disk. `.cargo/config.toml` keeps the rest of `target/` small.
if [[ -n "${CI:-}" ]]; then
  export CARGO_INCREMENTAL=0
fi

# What the build has left to use, so a run that runs out of disk says so;
# `disk N` also warns under N GB. A whole run from a clean checkout leaves
# about 6 GB in `target/` (CONTRIBUTING.md).
disk() {
  df -h --output=avail,target . | tail -n 1 | awk '{print "disk free: " $1 " on " $2}'
  local free_kb
  free_kb=$(df -k --output=avail . | tail -n 1 | tr -d ' ')
  if [[ -n "${1:-}" ]] && (( free_kb < $1 * 1024 * 1024 )); then
    echo "warning: under $1 GB free; the build may run out of disk" >&2
  fi
}

step "provision test servers"
disk 8
bash scripts/provision.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, all features, warnings denied)"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "cargo doc (warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps

# docs.rs documents the library on nightly with every feature and
# `--cfg docsrs` given to rustdoc (`[package.metadata.docs.rs]` of each
# crate's Cargo.toml asks it for both); RUSTC_BOOTSTRAP=1 lets this stable
# toolchain accept the nightly-only attributes that cfg turns on.
step "cargo doc as docs.rs builds it (--cfg docsrs)"
RUSTC_BOOTSTRAP=1 RUSTDOCFLAGS="--cfg docsrs -D warnings" \
  cargo doc -p healthz -p healthz-derive --all-features --no-deps

# What crates.io would get: both crates packaged, built from their
# `.crate` files, and holding only the library's files.
step "cargo package (healthz-derive, healthz)"
bash scripts/package.sh

# Every integration is behind a feature: each must build alone, and with
# no feature at all. Clippy checks the declared rust-version
# (`incompatible_msrv`) for the library's own code.
step "cargo hack check --each-feature (every feature alone)"
cargo hack check -p healthz --each-feature --no-dev-deps

step "cargo test (all features)"
disk
cargo test --workspace --all-features

# The fuzz target lives outside the workspace (cargo fuzz builds it with
# its own flags); make sure it still compiles. Run it with:
#   cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run route -- -max_total_time=600
step "cargo check (fuzz target)"
cargo check --manifest-path fuzz/Cargo.toml --quiet

step "done"
disk
du -sh target
