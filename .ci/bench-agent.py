#!/usr/bin/env python3
"""Measures the agent: stripped release binary size, wall time and peak memory of `plan` and
`run --yes` on a sandboxed home holding a tenant cache and two browser profiles (Chrome and
Firefox, 3,000 cookies each, 50 of them Azure DevOps'). Prints a Markdown table for
docs/BENCHMARKS.md. Usage (from the repo root): python3 .ci/bench-agent.py [runs]"""

import gzip
import os
import sqlite3
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 30
ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "ado-cutover"


def seed(sandbox: pathlib.Path) -> None:
    cache = sandbox / "home" / ".local" / "share" / "GitCredentialManager" / "tenant.cache"
    cache.parent.mkdir(parents=True, exist_ok=True)
    pairs = b"https://dev.azure.com/contoso/=00000000-0000-0000-0000-000000000000\0"
    pairs += b"https://fabrikam.visualstudio.com/=72f988bf-86f1-41af-91ab-2d7cd011db47\0"
    cache.write_bytes(gzip.compress(pairs))
    home = sandbox / "home"
    chrome = home / ".config" / "google-chrome" / "Default" / "Cookies"
    firefox = home / ".mozilla" / "firefox" / "bench.default-release" / "cookies.sqlite"
    for store, table, column in [(chrome, "cookies", "host_key"), (firefox, "moz_cookies", "host")]:
        store.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(store)
        db.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, {column} TEXT, name TEXT, value TEXT)")
        rows = [(f"site{i}.example.com", f"c{i}", "v") for i in range(2950)]
        rows += [(".dev.azure.com", f"c{i}", "v") for i in range(50)]
        db.executemany(f"INSERT INTO {table} ({column}, name, value) VALUES (?, ?, ?)", rows)
        db.commit()
        db.close()


def peak_kib(args):
    """Peak resident memory of one agent run, from GNU time (Debian package `time`), which
    measures the exec'd program alone. None when GNU time is missing."""
    gnu_time = shutil.which("time", path="/usr/bin:/bin")
    if gnu_time is None:
        return None
    sandbox = pathlib.Path(tempfile.mkdtemp(prefix="ado-cutover-bench-"))
    try:
        (sandbox / "home").mkdir()
        seed(sandbox)
        env = dict(os.environ, ADO_CUTOVER_SANDBOX=str(sandbox), NO_COLOR="1")
        out = subprocess.run([gnu_time, "-f", "%M", str(BIN), *args], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, text=True)
        return int(out.stderr.strip().splitlines()[-1])
    finally:
        shutil.rmtree(sandbox)


def measure(args, reseed):
    times = []
    for _ in range(RUNS):
        sandbox = pathlib.Path(tempfile.mkdtemp(prefix="ado-cutover-bench-"))
        try:
            (sandbox / "home").mkdir()
            if reseed:
                seed(sandbox)
            env = dict(os.environ, ADO_CUTOVER_SANDBOX=str(sandbox), NO_COLOR="1")
            start = time.perf_counter()
            done = subprocess.run([str(BIN), *args], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
            times.append((time.perf_counter() - start) * 1000)
            if done.returncode not in (0, 10):
                sys.exit(f"{args} exited {done.returncode}")
        finally:
            shutil.rmtree(sandbox)
    return statistics.median(times), max(times)


def main() -> None:
    subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "ado-cutover"],
                   cwd=ROOT, check=True)
    size = BIN.stat().st_size
    rows = [("stripped release binary", f"{size / 1e6:.2f} MB ({size} bytes)")]
    for label, args in [("plan --json", ["plan", "--json"]), ("run --yes --json", ["run", "--yes", "--json"])]:
        median, worst = measure(args, reseed=True)
        rows.append((f"`{label}` wall time, median of {RUNS}", f"{median:.1f} ms (max {worst:.1f} ms)"))
    for args in (["plan", "--json"], ["run", "--yes", "--json"]):
        kib = peak_kib(args)
        value = "n/a (install GNU time: apt-get install time)" if kib is None else f"{kib / 1024:.1f} MiB"
        rows.append((f"`{' '.join(args)}` peak resident memory", value))
    print(f"Machine: {platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
          f"{subprocess.run(['rustc', '--version'], capture_output=True, text=True).stdout.strip()}")
    print()
    print("| measure | value |")
    print("|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
