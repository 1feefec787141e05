#!/usr/bin/env bash
# Makes target/test-node: the npm packages of tests/oidc/package-lock.json (panva's certified
# oidc-provider, the real OpenID Connect provider the sign-in tests run). Run once before
# `cargo test`; .ci/run runs it. Needs Node.js and npm, and the npm registry.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "error: $tool is not installed" >&2
    echo "hint: install Node.js 18 or newer with npm (Debian: apt-get install nodejs npm)" >&2
    exit 1
  fi
done
dir=target/test-node
mkdir -p "$dir"
cp tests/oidc/package.json tests/oidc/package-lock.json "$dir/"
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
(cd "$dir" && node --input-type=module -e 'await import("oidc-provider")')
echo "test Node.js packages ready: $dir"
