#!/usr/bin/env bash
# Runs the seeded chaos campaign of every backend (the campaign test that
# `backend_suite!` stamps into each backend's test file, which `cargo test`
# runs for a few backends only, and the campaigns over two dependencies in
# tests/tests/chaos.rs) and prints the truthfulness table of BENCHMARKS.md.
#
# Usage: bash scripts/chaos.sh [SECONDS] [SEEDS] [MODES]
#   SECONDS  length of each run (default 40)
#   SEEDS    comma-separated seeds (default 1,2)
#   MODES    comma-separated modes, or all (default all)
# Example: bash scripts/chaos.sh 40 1,2 all
# Set CHAOS_TESTS to a space-separated subset of test files (such as
# "sql redis") to run only those. The servers come from scripts/provision.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${1:-40}"
seeds="${2:-1,2}"
modes="${3:-all}"
tests="${CHAOS_TESTS:-$(grep -l 'backend_suite!\|chaos::campaign' tests/tests/*.rs | xargs -n1 basename | sed 's/\.rs$//' | tr '\n' ' ')}"
report="$(mktemp)"
trap 'rm -f "$report"' EXIT

args=()
for test in $tests; do args+=(--test "$test"); done
# Built once, then run from the target directory: later edits or builds
# cannot change what a long campaign runs.
binaries="$(cargo test -p healthz-tests --all-features "${args[@]}" --no-run --message-format=json \
  | python3 -c 'import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message.get("executable") and message["target"]["kind"] == ["test"]:
        print(message["target"]["name"], message["executable"])')"

started=$(date +%s)
failed=()
while read -r test binary; do
  echo "==> $test" >&2
  # One campaign at a time: a campaign measures time, and a neighbour's
  # load would be scored as the library's lag. A backend whose campaign
  # fails (a false-ready second) does not stop the others: its rows are
  # in the table, and the script fails at the end.
  HEALTHZ_CHAOS_SECONDS="$seconds" HEALTHZ_CHAOS_SEEDS="$seeds" \
    HEALTHZ_CHAOS_MODES="$modes" HEALTHZ_CHAOS_REPORT="$report" \
    "$binary" chaos_campaign --include-ignored --test-threads=1 --nocapture >&2 \
    || failed+=("$test")
done <<< "$binaries"
echo
echo "Seeds $seeds, $seconds s per run, modes $modes: $(( $(date +%s) - started )) s in all."
echo
sed -n 's/^pub const HEADER: &str = "\(.*\)";$/\1/p' tests/support/chaos/mod.rs | sed 's/\\n/\n/g'
sort "$report"
if [ ${#failed[@]} -gt 0 ]; then
  echo
  echo "False-ready beyond the allowance in: ${failed[*]} (their campaigns' output above says where)." >&2
  exit 1
fi
