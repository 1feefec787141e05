#!/usr/bin/env bash
# Fuzzes the parsers that read what is on a person's machine or comes over the network
# (src/fuzz/mod.rs; each target is a `fuzz_*` unit test beside its parser): N mutated inputs per
# target (default 1,000,000), built with optimizations, and prints per target the inputs tried,
# panics and hangs (a failure stops the run with the input and ADO_CUTOVER_FUZZ_SEED to replay
# it) and the slowest input. `cargo test` runs 3,000 per target; this is the long run.
#
#   bash .ci/fuzz.sh [N] [seed]
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-1000000}
export ADO_CUTOVER_FUZZ_CASES=$cases
if [ -n "${2:-}" ]; then export ADO_CUTOVER_FUZZ_SEED=$2; fi
start=$(date +%s)
# The test profile with optimizations (debug assertions and overflow checks stay on: they are
# part of what a fuzzer looks for).
CARGO_PROFILE_TEST_OPT_LEVEL=3 cargo test --features server --lib fuzz_ -- --nocapture --test-threads=2 2>&1 |
  grep -E '^fuzz |^test result|panicked|replay|input'
echo "fuzzed $cases inputs per target in $(( $(date +%s) - start )) s"
