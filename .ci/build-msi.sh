#!/usr/bin/env bash
# Builds the agent's MSI on Linux with msitools' wixl from packaging/windows/ado-cutover.wxs (the
# same source the WiX Toolset builds on Windows) and checks what it holds with msiinfo: the files,
# the registry value, the Start menu shortcut, the custom actions and their order, and the
# properties that keep the token out of logs and let it reach the elevated install.
#   bash .ci/build-msi.sh EXE [OUT]    (EXE: a release ado-cutover.exe; OUT: default
#                                       target/packages/ado-cutover-VERSION-x64.msi)
# wixl does not write two things the WiX Toolset derives from the source, so they are set here
# with msibuild: the HideTarget bit of WriteManagedConfig (its command line holds the token) and
# SecureCustomProperties (public properties an elevated install may take from the command line).
set -euo pipefail
cd "$(dirname "$0")/.."
exe=${1:?usage: build-msi.sh EXE [OUT]}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
out=${2:-target/packages/ado-cutover-$version-x64.msi}
mkdir -p "$(dirname "$out")"
bin=$(mktemp -d target/msi-bin.XXXXXX)
trap 'rm -rf "$bin"' EXIT
cp "$exe" "$bin/ado-cutover.exe"
# wixl takes paths relative to where it runs (the repository), as the .wxs writes them.
wixl -a x64 -D "Version=$version" -D "Bin=$bin" packaging/windows/ado-cutover.wxs -o "$out" 2> >(grep -v -e 'GLib-GObject-WARNING' -e '^$' >&2)
msibuild "$out" -q "UPDATE \`CustomAction\` SET \`Type\` = 11282 WHERE \`Action\` = 'WriteManagedConfig'"
msibuild "$out" -q "UPDATE \`Property\` SET \`Value\` = 'ENDPOINT;ORGANIZATIONS;TENANT;TOKEN;WIX_DOWNGRADE_DETECTED;WIX_UPGRADE_DETECTED' WHERE \`Property\` = 'SecureCustomProperties'"

fail() { echo "build-msi: $*" >&2; exit 1; }
table() { msiinfo export "$out" "$1" | tail -n +4; }
has() { # table, a tab-separated line that must be in it (fields joined by tabs)
  table "$1" | grep -qF -- "$2" || fail "$1 lacks: $(printf '%s' "$2" | tr '\t' '|')"$'\n'"$(table "$1")"
}
T=$'\t'
has File "AgentExe${T}Agent${T}ado-cutover.exe${T}"
has File "LogonTask${T}Agent${T}ado-cutover-task.xml${T}"
has Registry "Software\\ado-cutover${T}StartMenu${T}#1${T}StartMenu"
has Shortcut "AgentShortcut${T}ProgramMenuFolder${T}Azure DevOps sign-in cleanup${T}StartMenu${T}[INSTALLFOLDER]ado-cutover.exe"
has Property "ALLUSERS${T}1"
has Property "MsiHiddenProperties${T}TOKEN"
has Property "SecureCustomProperties${T}ENDPOINT;ORGANIZATIONS;TENANT;TOKEN;"
# Deferred (1024), as SYSTEM (2048); the token's command line hidden from the log (8192).
has CustomAction "WriteManagedConfig${T}11282${T}AgentExe${T}config write-managed --endpoint \"[ENDPOINT]\" --token \"[TOKEN]\""
has CustomAction "RegisterLogonTask${T}3122${T}SCHTASKS${T}/Create /F /TN \"ado-cutover\" /XML \"[INSTALLFOLDER]ado-cutover-task.xml\""
has CustomAction "RemoveLogonTask${T}3186${T}SCHTASKS${T}/Delete /F /TN \"ado-cutover\""
# Deferred as SYSTEM, its failure ignored (an uninstall must finish), the agent's own file.
has CustomAction "RemoveManagedConfig${T}3154${T}AgentExe${T}config remove-managed"
has InstallExecuteSequence "RemoveManagedConfig${T}REMOVE=\"ALL\" AND NOT UPGRADINGPRODUCTCODE${T}3495"
has CustomAction "FindSchtasks${T}"
# In order: the task and the configuration go before the files do; they come after them.
order=$(table InstallExecuteSequence | sort -t "$T" -k3,3n | cut -f1 | tr '\n' ' ')
case "$order" in
  *"FindSchtasks "*"InstallInitialize "*"RemoveLogonTask RemoveManagedConfig RemoveFiles InstallFiles WriteManagedConfig RegisterLogonTask "*"InstallFinalize"*) ;;
  *) fail "custom actions out of order: $order" ;;
esac
echo "built and checked $out ($(stat -c %s "$out") bytes)"
