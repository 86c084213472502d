#!/usr/bin/env bash
# Packages healthz-derive and healthz as `cargo publish` would upload them,
# builds each from its `.crate` file, and checks that each package holds
# only what a user of the crate needs.
# Usage: bash scripts/package.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Named in one command, the two are packaged together: healthz's
# verification build gets healthz-derive from the freshly packaged
# `.crate` (a local registry under target/package), everything else from
# crates.io, so nothing has to be published first. `--allow-dirty`
# packages the working tree as it is, so this runs before a commit too.
# The warnings that healthz's tests and benchmark are ignored are
# expected: `include` leaves them out (see healthz/Cargo.toml).
cargo package -p healthz-derive -p healthz --locked --allow-dirty

# Cargo's own files, the README, the changelog, the licence texts and the
# library's source: nothing else belongs in a package.
allowed='^(Cargo\.toml|Cargo\.toml\.orig|Cargo\.lock|\.cargo_vcs_info\.json|README\.md|CHANGELOG\.md|LICENSE-APACHE|LICENSE-MIT|src/.+\.rs)$'
for package in healthz-derive healthz; do
  files=$(cargo package -p "$package" --list --locked --allow-dirty --quiet)
  unexpected=$(grep -Ev "$allowed" <<<"$files" || true)
  if [[ -n $unexpected ]]; then
    printf '%s: files that do not belong in the package:\n%s\n' "$package" "$unexpected" >&2
    exit 1
  fi
  for required in README.md CHANGELOG.md LICENSE-APACHE LICENSE-MIT src/lib.rs; do
    if ! grep -qx "$required" <<<"$files"; then
      printf '%s: %s is missing from the package\n' "$package" "$required" >&2
      exit 1
    fi
  done
  printf '%s: %d files, as expected\n' "$package" "$(wc -l <<<"$files")"
done
