#!/usr/bin/env bash
# The release ado-cutover.exe run as a Windows user would run it, as check-packaging.sh does for
# the .deb: built for x86_64-pc-windows-gnu (../shared/tools/platform-check.sh, build only), then
# in a fresh Wine prefix seeded with a tenant cache, Credential Manager entries (CredWriteW), an
# Edge cookie store and a repository with a legacy remote, it runs `plan --json`, `run --yes
# --silent`, `plan` again and `undo`, and checks the machine after each (.ci/windows/exe_smoke.py).
# Needs: the platform check's packages (gcc-mingw-w64-x86-64, wine64, rustc-web, cargo-web,
# rust-web-src), git and python3. Offline: every service address is a closed local port.
# WIN_EXE_BUILD=0 reuses an ado-cutover.exe already built.
set -euo pipefail
cd "$(dirname "$0")/.."

T=x86_64-pc-windows-gnu
build=${PLATFORM_CHECK_DIR:-$PWD/target/platform-check}/build
exe=$build/$T/release/ado-cutover.exe
if [ "${WIN_EXE_BUILD:-1}" = 1 ] || [ ! -f "$exe" ]; then
  WIN_RUN=0 PLATFORM_CHECK_ARGS='--release --locked --bin ado-cutover' \
    bash ../shared/tools/platform-check.sh
fi
[ -f "$exe" ] || { echo "check-windows-exe: no $exe after the build" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/windows-exe.XXXXXX")
WINE=/usr/lib/wine/wine64
export WINEPREFIX=$work/prefix WINEDEBUG=-all WINEARCH=win64
export WINEDLLOVERRIDES="mscoree,mshtml=;winemenubuilder.exe=d"
export XDG_CONFIG_HOME=$work/xdg/config XDG_DATA_HOME=$work/xdg/data XDG_CACHE_HOME=$work/xdg/cache
unset DISPLAY WAYLAND_DISPLAY
cleanup() {
  /usr/lib/wine/wineserver64 -k 2>/dev/null || true
  /usr/lib/wine/wineserver64 -w 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== a fresh Wine prefix"
"$WINE" wineboot --init >/dev/null 2>&1 || true
/usr/lib/wine/wineserver64 -w
sys32=$WINEPREFIX/drive_c/windows/system32
[ -d "$sys32" ] || { echo "check-windows-exe: wineboot made no $sys32" >&2; exit 1; }
# Rust std >= 1.78 imports ProcessPrng from bcryptprimitives.dll, which Wine 8 lacks (the same
# shim the platform check installs).
cat >"$work/bp.c" <<'EOF'
#include <windows.h>
#include <bcrypt.h>
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0) return FALSE;
        data += n; len -= n;
    }
    return TRUE;
}
EOF
printf 'LIBRARY bcryptprimitives.dll\nEXPORTS\n    ProcessPrng\n' >"$work/bp.def"
x86_64-w64-mingw32-gcc -O2 -shared -o "$sys32/bcryptprimitives.dll" "$work/bp.c" "$work/bp.def" -lbcrypt
x86_64-w64-mingw32-gcc -municode -O2 -o "$work/credtool.exe" .ci/windows/credtool.c -ladvapi32

echo "== $("$WINE" "$exe" --version 2>/dev/null | tr -d '\r')"
python3 .ci/windows/exe_smoke.py "$WINE" "$exe" "$work/credtool.exe" "$WINEPREFIX"

echo "== the MSI: built with wixl (.ci/build-msi.sh), installed, run and removed with msiexec"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
msi=target/packages/ado-cutover-$version-x64.msi
bash .ci/build-msi.sh "$exe" "$msi"
token="msi-check-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
tenant=72f988bf-86f1-41af-91ab-2d7cd011db47
( cd "$(dirname "$msi")" && "$WINE" msiexec /i "$(basename "$msi")" /qn /l*v 'C:\msi-install.log' \
    ENDPOINT=https://cutover.example.com TOKEN="$token" ORGANIZATIONS=contoso TENANT=$tenant )
/usr/lib/wine/wineserver64 -w
drive=$WINEPREFIX/drive_c
installed="$drive/Program Files/ado-cutover"
fail() { echo "check-windows-exe (MSI): $*" >&2; exit 1; }
[ -f "$installed/ado-cutover.exe" ] || fail "no ado-cutover.exe in Program Files"
[ -f "$installed/ado-cutover-task.xml" ] || fail "no task definition in Program Files"
ran=$("$WINE" 'C:\Program Files\ado-cutover\ado-cutover.exe' --version 2>/dev/null | tr -d '\r')
[ "$ran" = "ado-cutover $version" ] || fail "the installed agent said: $ran"
config=$drive/ProgramData/ado-cutover/config.toml
grep -q '^organizations = \["contoso"\]' "$config" || fail "managed config: $(cat "$config")"
grep -q "^expected_tenant = \"$tenant\"" "$config" || fail "no tenant in the managed config"
grep -q '^endpoint = "https://cutover.example.com/"' "$config" || fail "no endpoint in the managed config"
grep -q "$token" "$drive/ProgramData/ado-cutover/enrollment-token" || fail "the token file lacks the token"
grep -q "$token" "$config" && fail "the token is in config.toml"
[ -f "$sys32/tasks/ado-cutover" ] || fail "the logon task was not registered"
# Windows Installer masks MsiHiddenProperties in its closing property list; Wine's does not
# (the one line allowed here). Nowhere else: not in the custom action's command line.
log=$drive/msi-install.log
if iconv -f UTF-16LE -t UTF-8 "$log" 2>/dev/null | grep -q Property; then
  text=$(iconv -f UTF-16LE -t UTF-8 "$log")
else
  text=$(cat "$log")
fi
printf '%s\n' "$text" | grep -q "WriteManagedConfig" || fail "the install log could not be read"
leaks=$(printf '%s\n' "$text" | grep -F "$token" | grep -v "^Property(S): TOKEN = " || true)
[ -z "$leaks" ] || fail "the token is in the install log: $leaks"
# Removed by a major upgrade, the older version keeps the configuration and token (the newer
# one may come without TOKEN): Windows Installer then sets UPGRADINGPRODUCTCODE in the older
# one's removal. Wine's RemoveExistingProducts does not (an upgrade under Wine removes them), so
# the removal is run here with the property as Windows would set it.
token_file=$drive/ProgramData/ado-cutover/enrollment-token
( cd "$(dirname "$msi")" && "$WINE" msiexec /x "$(basename "$msi")" /qn \
    'UPGRADINGPRODUCTCODE={00000000-0000-0000-0000-000000000001}' )
/usr/lib/wine/wineserver64 -w
[ ! -e "$installed/ado-cutover.exe" ] || fail "ado-cutover.exe is still there after the upgrade's removal"
[ -f "$config" ] || fail "the upgrade's removal removed the managed configuration"
grep -q "$token" "$token_file" || fail "the upgrade's removal removed the enrollment token"
# Installed again (the configuration is written again), then uninstalled for good.
( cd "$(dirname "$msi")" && "$WINE" msiexec /i "$(basename "$msi")" /qn \
    ENDPOINT=https://cutover.example.com TOKEN="$token" ORGANIZATIONS=contoso TENANT=$tenant )
/usr/lib/wine/wineserver64 -w
[ -f "$installed/ado-cutover.exe" ] || fail "no ado-cutover.exe after installing again"
( cd "$(dirname "$msi")" && "$WINE" msiexec /x "$(basename "$msi")" /qn )
/usr/lib/wine/wineserver64 -w
[ ! -e "$installed/ado-cutover.exe" ] || fail "ado-cutover.exe is still there after uninstall"
[ ! -e "$sys32/tasks/ado-cutover" ] || fail "the logon task is still there after uninstall"
[ ! -e "$config" ] || fail "the managed configuration is still there after uninstall"
[ ! -e "$token_file" ] || fail "the enrollment token is still there after uninstall"
[ ! -e "$drive/ProgramData/ado-cutover" ] || fail "%ProgramData%\\ado-cutover is still there after uninstall"
echo "MSI: installed, ran, wrote the managed configuration, registered the logon task; an upgrade's removal kept the configuration, the uninstall removed it and the task"
