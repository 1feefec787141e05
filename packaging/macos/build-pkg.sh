#!/bin/sh
# Builds ado-cutover.pkg on a Mac: the universal agent in /usr/local/bin, the double-click
# launcher in /Applications/Utilities, and the LaunchAgent. Sign it with your Developer ID
# Installer certificate (--sign) before Jamf or Intune distributes it.
#   cargo build --release --target aarch64-apple-darwin
#   cargo build --release --target x86_64-apple-darwin
#   sh packaging/macos/build-pkg.sh 0.1.0
set -eu
version=${1:?usage: build-pkg.sh VERSION}
here=$(cd "$(dirname "$0")" && pwd)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/local/bin" "$root/Library/LaunchAgents" "$root/Applications/Utilities"
lipo -create -output "$root/usr/local/bin/ado-cutover" \
    target/aarch64-apple-darwin/release/ado-cutover target/x86_64-apple-darwin/release/ado-cutover
cp "$here/com.ado-cutover.agent.plist" "$root/Library/LaunchAgents/"
cp "$here/ado-cutover.command" "$root/Applications/Utilities/Azure DevOps sign-in cleanup.command"
# The launcher finds the agent beside itself; installed, it is in /usr/local/bin. (The single
# quotes are meant: the text replaced is the launcher's own, unexpanded.)
# shellcheck disable=SC2016
sed -i '' 's|"$(dirname "$0")/ado-cutover"|/usr/local/bin/ado-cutover|' \
    "$root/Applications/Utilities/Azure DevOps sign-in cleanup.command"
pkgbuild --root "$root" --scripts "$here/scripts" --identifier com.ado-cutover.agent \
    --version "$version" --install-location / "target/ado-cutover-component.pkg"
productbuild --package "target/ado-cutover-component.pkg" "target/ado-cutover-$version.pkg"
echo "target/ado-cutover-$version.pkg"
