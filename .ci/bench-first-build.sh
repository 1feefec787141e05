#!/usr/bin/env bash
# The first build a newcomer waits for: README's `cargo run --release -- plan` builds the agent
# alone; the same build with the server feature (what it was before the feature was made opt-in)
# for comparison. Each in a fresh target folder, crates already downloaded (registry cache warm),
# nothing else running. Checks its own work: each built binary must run and print its version,
# and the agent-only build must not have compiled any of the server's crates.
# Usage (from the repo root): bash .ci/bench-first-build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo fetch --locked >/dev/null

measure() { # name, cargo args...
  local name=$1
  shift
  local start end
  start=$(date +%s)
  CARGO_TARGET_DIR="$work/$name" cargo build --release --locked --bin ado-cutover "$@" \
    >"$work/$name.log" 2>&1
  end=$(date +%s)
  "$work/$name/release/ado-cutover" --version >/dev/null
  echo "| $name | $((end - start)) s | $(grep -c ' Compiling ' "$work/$name.log") crates |"
}

echo "| build | wall time | crates compiled |"
echo "|---|---|---|"
measure agent
if grep -Eq ' Compiling (axum|sqlx|tokio) ' "$work/agent.log"; then
  echo "error: the agent build compiled server crates" >&2
  exit 1
fi
measure agent-with-server-feature --features server
