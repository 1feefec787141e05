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
lipo -create -output "$root.agent" \
    target/aarch64-apple-darwin/release/ado-cutover target/x86_64-apple-darwin/release/ado-cutover
sh "$here/payload.sh" "$root" "$root.agent"
rm -f "$root.agent"
pkgbuild --root "$root" --scripts "$here/scripts" --identifier com.ado-cutover.agent \
    --version "$version" --install-location / "target/ado-cutover-component.pkg"
productbuild --package "target/ado-cutover-component.pkg" "target/ado-cutover-$version.pkg"
echo "target/ado-cutover-$version.pkg"
