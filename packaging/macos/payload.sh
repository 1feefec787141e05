#!/bin/sh
# Lays out the pkg's payload under ROOT: the agent AGENT as /usr/local/bin/ado-cutover, the
# double-click launcher in /Applications/Utilities (pointed at the installed agent), and the
# LaunchAgent. build-pkg.sh runs it on a Mac with the universal agent; CI runs it on Linux
# (.ci/check-macos-pkg.sh) to check the payload as far as Linux tools allow.
#   sh packaging/macos/payload.sh ROOT AGENT
set -eu
root=${1:?usage: payload.sh ROOT AGENT}
agent=${2:?usage: payload.sh ROOT AGENT}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$root/usr/local/bin" "$root/Library/LaunchAgents" "$root/Applications/Utilities"
cp "$agent" "$root/usr/local/bin/ado-cutover"
chmod 755 "$root/usr/local/bin/ado-cutover"
cp "$here/com.ado-cutover.agent.plist" "$root/Library/LaunchAgents/"
chmod 644 "$root/Library/LaunchAgents/com.ado-cutover.agent.plist"
launcher="$root/Applications/Utilities/Azure DevOps sign-in cleanup.command"
# The launcher finds the agent beside itself; installed, it is in /usr/local/bin. (The single
# quotes are meant: the text replaced is the launcher's own, unexpanded. No `sed -i`: BSD and
# GNU sed differ there.)
# shellcheck disable=SC2016
sed 's|"$(dirname "$0")/ado-cutover"|/usr/local/bin/ado-cutover|' "$here/ado-cutover.command" >"$launcher"
chmod 755 "$launcher"
