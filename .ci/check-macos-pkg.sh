#!/usr/bin/env bash
# The macOS pkg as far as Linux tools allow (lipo, pkgbuild and the Apple targets need a Mac):
# packaging/macos/payload.sh lays the payload out as build-pkg.sh does, with the Linux agent
# standing in for the universal one, and this checks every file and mode, the launcher, and the
# LaunchAgent; runs the postinstall script as Installer would ($3 the target volume), with
# stand-ins for the macOS commands it calls (stat -f, id, launchctl) and the agent's paths in a
# sandbox, and checks the managed configuration it wrote and the LaunchAgent it started; then
# makes the parts pkgbuild makes but its Bom (Payload and Scripts as gzip'd cpio, PackageInfo) into
# target/packages/macos/ and reads them back.
#   bash .ci/check-macos-pkg.sh [AGENT]    (default: target/debug/ado-cutover)
# Needs: python3, bsdtar (libarchive-tools), gzip, xmllint.
set -euo pipefail
cd "$(dirname "$0")/.."
agent=${1:-target/debug/ado-cutover}
[ -x "$agent" ] || { echo "check-macos-pkg: no agent at $agent (cargo build first)" >&2; exit 1; }
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
work=$(mktemp -d "${TMPDIR:-/tmp}/macos-pkg.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "check-macos-pkg: $*" >&2; exit 1; }

root=$work/root
sh packaging/macos/payload.sh "$root" "$agent"
listing=$(cd "$root" && find . -type f -printf '%m %p\n' | sort)
expected="644 ./Library/LaunchAgents/com.ado-cutover.agent.plist
755 ./Applications/Utilities/Azure DevOps sign-in cleanup.command
755 ./usr/local/bin/ado-cutover"
[ "$listing" = "$(sort <<<"$expected")" ] || fail "the payload holds:"$'\n'"$listing"
launcher="$root/Applications/Utilities/Azure DevOps sign-in cleanup.command"
grep -qx 'exec /usr/local/bin/ado-cutover "$@"' "$launcher" || fail "the launcher does not run the installed agent"
xmllint --noout "$root/Library/LaunchAgents/com.ado-cutover.agent.plist"
python3 - "$root/Library/LaunchAgents/com.ado-cutover.agent.plist" <<'PY'
import plistlib, sys
plist = plistlib.load(open(sys.argv[1], "rb"))
assert plist["Label"] == "com.ado-cutover.agent", plist
assert plist["ProgramArguments"] == ["/usr/local/bin/ado-cutover", "run", "--silent"], plist
assert plist["RunAtLoad"] is True and plist["LimitLoadToSessionType"] == "Aqua", plist
PY

# postinstall, as Installer runs it: $1 the package, $2 the install location, $3 the volume.
stubs=$work/stubs
mkdir -p "$work/sandbox" "$work/sandbox2" "$work/home"
mkdir -p "$stubs"
printf '#!/bin/sh\necho "%s"\n' "${CONSOLE_USER:-alice}" >"$stubs/stat"
printf '#!/bin/sh\necho 501\n' >"$stubs/id"
printf '#!/bin/sh\necho "$*" >>"%s"\n' "$work/launchctl.log" >"$stubs/launchctl"
chmod +x "$stubs"/*
token="pkg-check-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
tenant=72f988bf-86f1-41af-91ab-2d7cd011db47
env -i PATH="$stubs:/usr/bin:/bin" HOME="$work/home" ADO_CUTOVER_SANDBOX="$work/sandbox" \
  ADO_CUTOVER_ENDPOINT=https://cutover.example.com ADO_CUTOVER_TOKEN="$token" \
  ADO_CUTOVER_ORGS=contoso ADO_CUTOVER_TENANT=$tenant \
  sh packaging/macos/scripts/postinstall "$work/ado-cutover.pkg" / "$root" >"$work/postinstall.out" 2>&1 \
  || fail "postinstall failed: $(cat "$work/postinstall.out")"
config=$(find "$work/sandbox" -name config.toml | head -1)
[ -n "$config" ] || fail "postinstall wrote no managed configuration: $(cat "$work/postinstall.out")"
grep -q '^organizations = \["contoso"\]' "$config" || fail "managed config: $(cat "$config")"
grep -q "^expected_tenant = \"$tenant\"" "$config" || fail "no tenant in the managed config"
grep -q '^endpoint = "https://cutover.example.com/"' "$config" || fail "no endpoint in the managed config"
grep -rq "$token" "$(dirname "$config")" || fail "no token file beside the managed config"
grep -q "$token" "$config" && fail "the token is in config.toml"
grep -q "$token" "$work/postinstall.out" && fail "postinstall printed the token"
[ "$(cat "$work/launchctl.log")" = "bootstrap gui/501 /Library/LaunchAgents/com.ado-cutover.agent.plist" ] \
  || fail "launchctl was called with: $(cat "$work/launchctl.log" 2>/dev/null)"
# Nobody at the console (the login window): nothing started; no settings given: none written.
printf '#!/bin/sh\necho root\n' >"$stubs/stat"
rm -f "$work/launchctl.log"
env -i PATH="$stubs:/usr/bin:/bin" HOME="$work/home" ADO_CUTOVER_SANDBOX="$work/sandbox2" \
  sh packaging/macos/scripts/postinstall "$work/ado-cutover.pkg" / "$root" || fail "postinstall failed without settings"
[ ! -e "$work/launchctl.log" ] || fail "launchctl ran with root at the console"
[ -z "$(find "$work/sandbox2" -name config.toml 2>/dev/null)" ] || fail "a managed configuration without settings"

# The parts of a component package pkgbuild makes, but its Bom (mkbom is macOS-only).
out=target/packages/macos
rm -rf "$out" && mkdir -p "$out"
(cd "$root" && bsdtar --format odc --uid 0 --gid 0 -cf - .) | gzip -9n >"$out/Payload"
(cd packaging/macos/scripts && bsdtar --format odc --uid 0 --gid 0 -cf - .) | gzip -9n >"$out/Scripts"
files=$(cd "$root" && find . | wc -l)
kbytes=$(du -sk "$root" | cut -f1)
cat >"$out/PackageInfo" <<XML
<?xml version="1.0" encoding="utf-8"?>
<pkg-info format-version="2" identifier="com.ado-cutover.agent" version="$version" install-location="/" auth="root">
    <payload numberOfFiles="$files" installKBytes="$kbytes"/>
    <scripts>
        <postinstall file="./postinstall"/>
    </scripts>
</pkg-info>
XML
xmllint --noout "$out/PackageInfo"
payload=$(gzip -dc "$out/Payload" | bsdtar -tvf - | awk '{print $1, $3, $4}' | sort -u)
# cpio (odc) keeps numeric owners: root is 0.
for line in "-rwxr-xr-x 0 0" "-rw-r--r-- 0 0"; do
  grep -qx -- "$line" <<<"$payload" || fail "the Payload's owners and modes: $payload"
done
gzip -dc "$out/Payload" | bsdtar -tf - | grep -qx './usr/local/bin/ado-cutover' || fail "no agent in the Payload"
gzip -dc "$out/Scripts" | bsdtar -tvf - | grep -q -- '-rwxr-xr-x .* ./postinstall$' || fail "no executable postinstall in Scripts"
echo "macOS pkg: payload, launcher, LaunchAgent and postinstall checked; Payload, Scripts and PackageInfo in $out"
