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
