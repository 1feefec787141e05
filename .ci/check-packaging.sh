#!/usr/bin/env bash
# Checks packaging/: the shell scripts with shellcheck, the WiX source, task and plists as XML,
# and the Linux packages end to end: build both .deb files (debug binaries from the test build,
# so no second optimized build), install them with dpkg, verify the systemd units, run the
# installed agent's --version and `plan --json` in a sandboxed home, and remove them cleanly.
# PowerShell scripts cannot run here; docs/deploying.md describes their manual test.
# Needs root (dpkg), shellcheck, libxml2-utils, systemd, and cargo-deb.
set -euo pipefail
cd "$(dirname "$0")/.."

shellcheck packaging/linux/debian/* packaging/server/debian/* packaging/macos/*.command \
  packaging/macos/*.sh packaging/macos/scripts/* .ci/*.sh
xmllint --noout packaging/windows/*.wxs packaging/windows/*.xml packaging/macos/*.plist \
  packaging/macos/*.mobileconfig

cargo build --locked --features server --bins
cargo run --locked --quiet --features server --example gen-assets -- target/assets
rm -rf target/debian
cargo deb --locked --no-build --profile dev --fast
cargo deb --locked --no-build --profile dev --fast --variant server
agent_deb=$(ls target/debian/ado-cutover_*.deb)
server_deb=$(ls target/debian/ado-cutover-server_*.deb)

dpkg -i "$agent_deb" "$server_deb"
trap 'dpkg -r ado-cutover ado-cutover-server >/dev/null 2>&1 || true' EXIT
systemd-analyze verify /usr/lib/systemd/user/ado-cutover.service \
  /usr/lib/systemd/system/ado-cutover-server.service
/usr/bin/ado-cutover --version
/usr/bin/ado-cutover-server --version
test -f /etc/ado-cutover/config.toml
man -w ado-cutover >/dev/null

sandbox=$(mktemp -d)
set +e
ADO_CUTOVER_SANDBOX="$sandbox" ADO_CUTOVER_AZURE_DEVOPS_URL=http://127.0.0.1:9 \
  /usr/bin/ado-cutover plan --json >"$sandbox/plan.json"
code=$?
set -e
case "$code" in 0|10) ;; *) echo "plan exited $code" >&2; exit 1 ;; esac
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["schema_version"] == 1, r' "$sandbox/plan.json"
rm -rf "$sandbox"

dpkg -r ado-cutover ado-cutover-server
trap - EXIT
for gone in /usr/bin/ado-cutover /usr/bin/ado-cutover-server /usr/lib/systemd/user/ado-cutover.service \
  /usr/lib/systemd/system/ado-cutover-server.service /usr/share/man/man1/ado-cutover.1.gz; do
  if [ -e "$gone" ]; then echo "still there after removal: $gone" >&2; exit 1; fi
done
echo "packaging checks passed: $(basename "$agent_deb"), $(basename "$server_deb")"
