#!/usr/bin/env bash
# Checks packaging/: the shell scripts with shellcheck, the WiX source, task and plists as XML,
# and the Linux packages end to end: build both .deb files (debug binaries from the test build,
# so no second optimized build), install them with dpkg, verify the systemd units, run the
# installed agent's --version and `plan --json` in a sandboxed home, and remove them cleanly;
# then build both RPMs (cargo-generate-rpm), read them with `rpm -qp` (files, modes, config
# files, scriptlets) and install, run and remove them in a throwaway rpm root.
# PowerShell scripts cannot run here; docs/deploying.md describes their manual test.
# Needs root (dpkg), shellcheck, libxml2-utils, systemd, rpm, cargo-deb and cargo-generate-rpm.
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

# The enrollment token IT writes next to the managed configuration: a remove keeps it (as it
# keeps changed configuration), a purge takes it and the folder.
printf '%s\n' test-enrollment-token > /etc/ado-cutover/enrollment-token
dpkg -r ado-cutover ado-cutover-server
trap 'dpkg -P ado-cutover ado-cutover-server >/dev/null 2>&1 || true' EXIT
for gone in /usr/bin/ado-cutover /usr/bin/ado-cutover-server /usr/lib/systemd/user/ado-cutover.service \
  /usr/lib/systemd/system/ado-cutover-server.service /usr/share/man/man1/ado-cutover.1.gz; do
  if [ -e "$gone" ]; then echo "still there after removal: $gone" >&2; exit 1; fi
done
test -f /etc/ado-cutover/enrollment-token
dpkg -P ado-cutover ado-cutover-server
trap - EXIT
if [ -e /etc/ado-cutover ]; then echo "still there after purge: /etc/ado-cutover" >&2; exit 1; fi

# RPMs, from the same debug binaries.
rm -rf target/generate-rpm
mkdir -p target/generate-rpm
cargo generate-rpm --profile dev -o target/generate-rpm/
cargo generate-rpm --profile dev --variant server -o target/generate-rpm/
agent_rpm=$(ls target/generate-rpm/ado-cutover-0*.rpm)
server_rpm=$(ls target/generate-rpm/ado-cutover-server-0*.rpm)
expect_files() { # expect_files RPM "mode path" ...: exactly these files, with these modes
  local rpm=$1; shift
  local got want
  got=$(rpm -qp --qf '[%{FILEMODES:perms} %{FILENAMES}\n]' "$rpm" | sort)
  want=$(printf '%s\n' "$@" | sort)
  if [ "$got" != "$want" ]; then
    echo "$(basename "$rpm") holds other files than expected:" >&2
    diff <(echo "$want") <(echo "$got") >&2 || true
    exit 1
  fi
}
expect_files "$agent_rpm" \
  "-rwxr-xr-x /usr/bin/ado-cutover" \
  "-rw-r--r-- /etc/ado-cutover/config.toml" \
  "-rw-r--r-- /usr/lib/systemd/user/ado-cutover.service" \
  "-rw-r--r-- /usr/share/applications/ado-cutover.desktop" \
  "-rw-r--r-- /usr/share/man/man1/ado-cutover.1" \
  "-rw-r--r-- /usr/share/bash-completion/completions/ado-cutover"
expect_files "$server_rpm" \
  "-rwxr-xr-x /usr/bin/ado-cutover-server" \
  "-rw-r----- /etc/ado-cutover-server/server.env" \
  "-rw-r--r-- /usr/lib/systemd/system/ado-cutover-server.service" \
  "-rw-r--r-- /usr/share/man/man1/ado-cutover-server.1" \
  "-rw-r--r-- /usr/share/bash-completion/completions/ado-cutover-server"
[ "$(rpm -qcp "$agent_rpm")" = /etc/ado-cutover/config.toml ]
[ "$(rpm -qcp "$server_rpm")" = /etc/ado-cutover-server/server.env ]
for rpm in "$agent_rpm" "$server_rpm"; do
  for tag in POSTIN PREUN; do
    rpm -qp --qf "%{$tag}\n" "$rpm" | sh -n
  done
done
rpm -qp --qf "%{POSTUN}\n" "$agent_rpm" | sh -n
# The agent's erase scriptlet, on a copy of /etc/ado-cutover: an upgrade ($1 = 1) keeps the
# token, an erase ($1 = 0) removes it and nothing IT put there besides.
etc=$(mktemp -d)
postun=$(rpm -qp --qf "%{POSTUN}\n" "$agent_rpm" | sed "s#/etc/ado-cutover#$etc#g")
echo token > "$etc/enrollment-token"
echo notes > "$etc/site-notes.txt"
sh -c "$postun" postun 1
[ -f "$etc/enrollment-token" ] || { echo "the RPM's upgrade removed the enrollment token" >&2; exit 1; }
sh -c "$postun" postun 0
[ ! -e "$etc/enrollment-token" ] || { echo "rpm -e left the enrollment token" >&2; exit 1; }
[ -f "$etc/site-notes.txt" ] || { echo "rpm -e removed a file it did not write" >&2; exit 1; }
rm -rf "$etc"
# Installed into a throwaway root (no scriptlets: that root has no shell or systemd to run them).
rpm_root=$(mktemp -d)
rpm --root "$rpm_root" --initdb
rpm --root "$rpm_root" -i --nodeps --noscripts "$agent_rpm" "$server_rpm"
[ "$(rpm --root "$rpm_root" -qa | sort | tr '\n' ' ')" = "ado-cutover-0.1.0-1.x86_64 ado-cutover-server-0.1.0-1.x86_64 " ]
"$rpm_root/usr/bin/ado-cutover" --version
"$rpm_root/usr/bin/ado-cutover-server" --version
sandbox=$(mktemp -d)
set +e
ADO_CUTOVER_SANDBOX="$sandbox" ADO_CUTOVER_AZURE_DEVOPS_URL=http://127.0.0.1:9 \
  "$rpm_root/usr/bin/ado-cutover" plan --json >"$sandbox/plan.json"
code=$?
set -e
case "$code" in 0|10) ;; *) echo "plan from the RPM exited $code" >&2; exit 1 ;; esac
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["schema_version"] == 1, r' "$sandbox/plan.json"
rm -rf "$sandbox"
rpm --root "$rpm_root" -e --noscripts ado-cutover ado-cutover-server
for gone in usr/bin/ado-cutover usr/bin/ado-cutover-server usr/lib/systemd/user/ado-cutover.service; do
  if [ -e "$rpm_root/$gone" ]; then echo "still there after rpm -e: /$gone" >&2; exit 1; fi
done
rm -rf "$rpm_root"

echo "packaging checks passed: $(basename "$agent_deb"), $(basename "$server_deb"), $(basename "$agent_rpm"), $(basename "$server_rpm")"
