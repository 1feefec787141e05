#!/usr/bin/env python3
"""Soak and kill -9 for ado-cutover-server (issue #19, item 4), on SQLite and, when
TEST_DATABASE_URL (or BENCH_DATABASE_URL) names a PostgreSQL server, on PostgreSQL.

Per backend, each on a fresh database:
1. Soak: SECONDS (default 60) of paced load with wrk (.ci/wrk-soak.lua): report posts and admin
   reads (summary, a page of devices, the overview) four to one, at about 2,000 requests/s.
   Checks: no failed request (non-2xx or socket error), every acknowledged report stored.
2. Kill -9: the same load for 30 s; after 10 s the server is killed with SIGKILL and started
   again on the same database and port. Checks: every report acknowledged (202) before or after
   the kill is stored; the database is consistent (SQLite's integrity_check; on both, the
   per-day counters add up to the reports stored and the devices counted per outcome to the
   devices stored, which holds only if no transaction was half written).

Prints Markdown for docs/RELIABILITY.md and exits 1 when a check fails.
Usage (from the repo root; needs wrk, and psql for PostgreSQL): python3 .ci/soak.py [seconds]
"""

import os
import pathlib
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 60
ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "server" / "ado-cutover-server"
CONNECTIONS, DELAY_MS = 64, 8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(url: str, port: int, work: pathlib.Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [str(BIN), "--listen", f"127.0.0.1:{port}", "--database-url", url, "--create",
         "--reports-per-minute", "4000000000", "--token-file", str(work / "tokens.txt")],
        stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if "tokens:" in line:
            break
    return proc


def tokens(work: pathlib.Path) -> tuple:
    pairs = dict(l.split("=", 1) for l in (work / "tokens.txt").read_text().splitlines()
                 if "=" in l and not l.startswith("#"))
    return pairs["enrollment"].strip(), pairs["admin"].strip()


def wrk(port: int, seconds: int, enrollment: str, admin: str, acked: pathlib.Path) -> subprocess.Popen:
    env = {**os.environ, "TOKEN": enrollment, "ADMIN": admin, "DELAY_MS": str(DELAY_MS),
           "ACKED_DIR": str(acked), "REPORT_LUA": str(ROOT / ".ci" / "wrk-report.lua"),
           # Reports that finished weeks ago: every device stale, the dashboard's costliest count.
           "FINISHED": "old"}
    return subprocess.Popen(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "--timeout", "5s",
         "-s", str(ROOT / ".ci" / "wrk-soak.lua"), f"http://127.0.0.1:{port}/api/v1/reports"],
        env=env, stdout=subprocess.PIPE, text=True)


def summary(out: str) -> dict:
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {m.group(1): m.group(2) for m in re.finditer(r"^\s+(50|99)%\s+(\S+)", out, re.M)}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rate": rate, "p50": lat.get("50"), "p99": lat.get("99"),
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket": sum(int(g) for g in sockets.groups()) if sockets else 0}


def query(url: str, sql: str) -> str:
    if url.startswith("sqlite://"):
        db = sqlite3.connect(url[len("sqlite://"):])
        value = db.execute(sql).fetchone()[0]
        db.close()
        return str(value)
    return subprocess.run(["psql", "-qtAc", sql, url], capture_output=True, text=True, check=True).stdout.strip()


def lost(url: str, acked: pathlib.Path) -> tuple:
    ids = [l for f in acked.glob("*.txt") for l in f.read_text().split()]
    if not ids:
        return 0, 0
    stored = set()
    for i in range(0, len(ids), 5000):
        chunk = ",".join(f"'{x}'" for x in ids[i:i + 5000] if re.fullmatch(r"[0-9a-f-]{36}", x))
        sql = f"SELECT report_id FROM reports WHERE report_id IN ({chunk})"
        if url.startswith("sqlite://"):
            db = sqlite3.connect(url[len("sqlite://"):])
            stored.update(r[0] for r in db.execute(sql))
            db.close()
        else:
            out = subprocess.run(["psql", "-qtA", "-f", "-", url], input=sql, capture_output=True,
                                 text=True, check=True).stdout
            stored.update(out.split())
    return len(ids), len(set(ids) - stored)


def consistent(url: str) -> str:
    counted = query(url, "SELECT COALESCE(SUM(reports), 0) FROM report_days")
    rows = query(url, "SELECT COUNT(*) FROM reports")
    devices = query(url, "SELECT COUNT(*) FROM devices")
    kept = query(url, "SELECT COALESCE(SUM(devices), 0) FROM fleet_counts WHERE kind = 'outcome'")
    integrity = query(url, "PRAGMA integrity_check") if url.startswith("sqlite://") else "n/a"
    ok = counted == rows and kept == devices and integrity in ("ok", "n/a")
    return (f"{'yes' if ok else 'NO'} (day counters {counted}, reports {rows}; device counts {kept}, "
            f"devices {devices}; integrity_check {integrity})")


def rss_peak(pid: int) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def fresh(backend: str, work: pathlib.Path, admin_url: str) -> str:
    if backend == "sqlite":
        return f"sqlite://{work / f'{uuid.uuid4().hex}.db'}"
    name = f"adoc_soak_{uuid.uuid4().hex[:12]}"
    subprocess.run(["psql", "-qc", f"CREATE DATABASE {name}", admin_url], check=True)
    parts = urllib.parse.urlsplit(admin_url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


def drop(url: str, admin_url: str) -> None:
    """Drops a run's PostgreSQL database once checked: left behind, its tables are vacuumed
    while the next run measures (a later run read half the rate of an earlier one)."""
    if url.startswith("postgres"):
        name = urllib.parse.urlsplit(url).path.lstrip("/")
        # FORCE ends the sessions left, but may not end an autovacuum worker (the superuser's)
        # without rights the user lacks; a plain DROP ends that one itself.
        if subprocess.run(["psql", "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", admin_url],
                          stderr=subprocess.DEVNULL).returncode:
            subprocess.run(["psql", "-qc", f"DROP DATABASE IF EXISTS {name}", admin_url], check=True)


def run(backend: str, admin_url: str) -> list:
    work = pathlib.Path(tempfile.mkdtemp(prefix=f"soak-{backend}-"))
    rows, failed = [], False

    # 1. Soak.
    url, port, acked = fresh(backend, work, admin_url), free_port(), work / "acked-soak"
    acked.mkdir()
    server = start(url, port, work)
    enrollment, admin = tokens(work)
    out = summary(wrk(port, SECONDS, enrollment, admin, acked).communicate()[0])
    peak = rss_peak(server.pid)
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=60)
    sent, missing = lost(url, acked)
    ok = out["non2xx"] == 0 and out["socket"] == 0 and missing == 0
    failed |= not ok
    state = consistent(url)
    failed |= not state.startswith("yes")
    drop(url, admin_url)
    rows.append(f"| {backend} | soak {SECONDS} s | {out['requests']:,} ({out['rate']:,.0f}/s) | {out['p50']} / {out['p99']} | "
                f"{out['non2xx']} + {out['socket']} | {sent:,} / {missing} | {state} | {peak:.1f} MiB |")

    # 2. Kill -9 under load, restart on the same database and port.
    url, port, acked = fresh(backend, work, admin_url), free_port(), work / "acked-kill"
    acked.mkdir()
    (work / "tokens.txt").unlink()
    server = start(url, port, work)
    enrollment, admin = tokens(work)
    load = wrk(port, 30, enrollment, admin, acked)
    time.sleep(10)
    server.send_signal(signal.SIGKILL)
    server.wait()
    down = time.monotonic()
    server = start(url, port, work)
    restarted = time.monotonic() - down
    out = summary(load.communicate()[0])
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=60)
    sent, missing = lost(url, acked)
    state = consistent(url)
    drop(url, admin_url)
    failed |= missing != 0 or not state.startswith("yes")
    rows.append(f"| {backend} | kill -9 at 10 s of 30, back in {restarted:.1f} s | {out['requests']:,} ({out['rate']:,.0f}/s) | "
                f"{out['p50']} / {out['p99']} | {out['non2xx']} + {out['socket']} (while down) | {sent:,} / {missing} | {state} | - |")
    return rows, failed


def main() -> int:
    subprocess.run(["cargo", "build", "--profile", "server", "--features", "server", "--bin", "ado-cutover-server"],
                   cwd=ROOT, check=True)
    admin_url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    backends = ["sqlite"] + (["postgres"] if admin_url else [])
    print("| backend | run | requests | p50 / p99 | failed (non-2xx + socket) | acknowledged / lost | consistent | peak memory |")
    print("|---|---|---|---|---|---|---|---|")
    failed = False
    for backend in backends:
        rows, bad = run(backend, admin_url or "")
        failed |= bad
        for row in rows:
            print(row, flush=True)
    print("FAILED" if failed else "OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
