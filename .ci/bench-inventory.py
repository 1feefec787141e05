#!/usr/bin/env python3
"""Measures the inventory before the switch (#21) on ado-cutover-server:

1. ingest of reports that carry an inventory (seven entries, stored in the report's
   transaction) next to the same reports without, with wrk on loopback: the cost of turning
   `report.send_plans` on for a fleet; each run checks rows stored = reports acknowledged, and
   the inventory run also that every acknowledged report's entries were stored;
2. the "Before the switch" page and `GET /api/v1/inventory` for one organization of 100,000
   devices (about 203,000 entries; the old tokens of the two fifths that switched closed): p50
   of 20 loads, and the CSV of its largest list (100,000 rows), whose rows and the API's
   counts must equal what was seeded.

SQLite always; PostgreSQL too when BENCH_DATABASE_URL (or TEST_DATABASE_URL) names a server where
the user may create databases. Prints Markdown for docs/BENCHMARKS.md.

Usage (from the repo root; needs `apt-get install wrk`, and psql for PostgreSQL):
    python3 .ci/bench-inventory.py [seconds of load, default 10]
"""

import importlib.util
import json
import os
import pathlib
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("bench_server", ROOT / ".ci" / "bench-server.py")
bench = importlib.util.module_from_spec(_spec)
if len(sys.argv) < 2:
    sys.argv.append("10")  # bench-server.py reads the seconds of load from here
_spec.loader.exec_module(bench)

DEVICES = 100_000
ORG = "contoso"
# category, which devices have it, entries each
SHAPE = [
    ("ssh", lambda d: d % 4 == 0, 1),
    ("old-token", lambda d: d % 2 == 0, 2),
    ("local-work", lambda d: d % 5 == 0, 1),
    ("legacy-remote", lambda d: d % 10 == 0, 1),
    ("personal-account", lambda d: d % 8 == 0, 1),
    ("shared-sign-in", lambda d: d % 3 == 0, 1),
    ("pinned-tenant", lambda d: d % 50 == 0, 1),
]


def switched(d: int) -> bool:
    """Two fifths have switched; their old tokens are closed (the run removed them)."""
    return d % 5 in (1, 2)


def seed_rows(now_ms: int):
    for d in range(DEVICES):
        device, user = f"dev-{d:06d}", f"user{d:06d}"
        rid = f"00000000-0000-4000-8000-{d:012x}"
        report = (rid, device, user, f"PC-{d:06d}", "run", "nothing-to-do", "0.1.0", now_ms, now_ms,
                  '{"schema_version":1,"tasks":[]}')
        dev = (device, user, f"{user}@contoso.com", f"PC-{d:06d}", "windows 11", "0.1.0", "run",
               "nothing-to-do", None, rid, now_ms, now_ms, 1, None, bench.group_of(d))
        org = (device, user, ORG, "switched" if switched(d) else "waiting", None, rid)
        entries = []
        for category, has, count in SHAPE:
            if not has(d):
                continue
            closed = now_ms if category == "old-token" and switched(d) else None
            for n in range(count):
                entries.append((device, user, ORG, category, f"~/place-{n} of {category}", "kind",
                                f"{user}@contoso.com", now_ms, now_ms, closed))
        yield report, dev, org, entries, (device, user, now_ms)


def expected():
    """What the API must say: per category, users and entries found and open."""
    out = {}
    for category, has, count in SHAPE:
        users = [d for d in range(DEVICES) if has(d)]
        open_users = [d for d in users if not (category == "old-token" and switched(d))]
        out[category] = {"found": (len(users), len(users) * count),
                         "open": (len(open_users), len(open_users) * count)}
    return out


def seed_sqlite(path: pathlib.Path, now_ms: int) -> None:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = WAL")
    for report, dev, org, entries, taken in seed_rows(now_ms):
        db.execute("INSERT INTO reports VALUES (?,?,?,?,?,?,?,?,?,?)", report)
        db.execute(f"INSERT INTO devices ({bench.DEVICE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", dev)
        db.execute("INSERT INTO device_orgs VALUES (?,?,?,?,?,?)", org)
        db.executemany("INSERT INTO inventory VALUES (?,?,?,?,?,?,?,?,?,?)", entries)
        db.execute("INSERT INTO inventory_taken VALUES (?,?,?)", taken)
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def seed_postgres(url: str, now_ms: int, work: pathlib.Path) -> None:
    tables = ("reports", "devices", "device_orgs", "inventory", "inventory_taken")
    files = {t: open(work / f"{t}.tsv", "w") for t in tables}

    def put(table, row):
        files[table].write("\t".join("\\N" if v is None else str(v) for v in row) + "\n")

    for report, dev, org, entries, taken in seed_rows(now_ms):
        put("reports", report)
        put("devices", dev)
        put("device_orgs", org)
        for e in entries:
            put("inventory", e)
        put("inventory_taken", taken)
    script = ""
    for table, f in files.items():
        f.close()
        columns = f" ({bench.DEVICE_COLUMNS})" if table == "devices" else ""
        script += f"\\copy {table}{columns} FROM '{work / (table + '.tsv')}'\n"
    script += "VACUUM ANALYZE reports, devices, device_orgs, inventory, inventory_taken;\n"
    subprocess.run(["psql", "-q", url], input=script, text=True, check=True)


def get(port: int, admin: str, path: str) -> tuple[float, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                     headers={"Authorization": f"Bearer {admin}"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(request) as response:
        body = response.read()
    return (time.perf_counter() - t0) * 1000, body


def p50(port: int, admin: str, path: str, must: bytes) -> float:
    times = []
    for _ in range(21):
        took, body = get(port, admin, path)
        assert must in body, (path, body[:300])
        times.append(took)
    return statistics.median(times[1:])


def count(url: str, sql: str) -> int:
    if url.startswith("sqlite://"):
        db = sqlite3.connect(url[len("sqlite://"):])
        n = db.execute(sql).fetchone()[0]
        db.close()
        return n
    out = subprocess.run(["psql", "-qtAc", sql, url], capture_output=True, text=True, check=True).stdout
    return int(out.strip())


def ingest(backend: str, pg_admin: str, work: pathlib.Path, with_inventory: bool) -> dict:
    name = "inventory" if with_inventory else "plain"
    url = f"sqlite://{work / (name + '.db')}" if backend == "sqlite" else bench.new_postgres_database(pg_admin)
    os.environ["INVENTORY"] = "1" if with_inventory else "0"
    proc, port, enrollment, _ = bench.start(url, work)
    load = bench.wrk(port, enrollment)
    bench.stop(proc)
    stored = count(url, "SELECT COUNT(*) FROM reports")
    assert load["acknowledged"] <= stored <= load["acknowledged"] + 32, (backend, name, stored, load)
    load["stored"] = stored
    if with_inventory:
        # Seven entries for every acknowledged report (each device reports once here); a report
        # still in flight when wrk stopped may be stored without its entries.
        entries = count(url, "SELECT COUNT(*) FROM inventory")
        assert 7 * load["acknowledged"] <= entries <= 7 * stored, (backend, entries, load, stored)
        load["entries"] = entries
    return load


def main() -> None:
    bench.require("wrk", "wrk")
    if os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL"):
        bench.require("psql", "postgresql-client")
    profile = os.environ.get("BENCH_PROFILE", "server")
    subprocess.run(["cargo", "build", "--profile", profile, "--locked", "--features", "server",
                    "--bin", "ado-cutover-server"], cwd=ROOT, check=True)
    backends = ["sqlite"]
    pg_admin = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if pg_admin:
        backends.append("postgres")
    want = expected()
    results = []
    for backend in backends:
        with tempfile.TemporaryDirectory() as tmp:
            work = pathlib.Path(tmp)
            plain = ingest(backend, pg_admin, work, False)
            inventory = ingest(backend, pg_admin, work, True)
            now_ms = int(time.time() * 1000)
            if backend == "sqlite":
                path = work / "fleet.db"
                url = f"sqlite://{path}"
                proc, _, _, _ = bench.start(url, work)  # migrations
                bench.stop(proc)
                seed_sqlite(path, now_ms)
            else:
                url = bench.new_postgres_database(pg_admin)
                proc, _, _, _ = bench.start(url, work)
                bench.stop(proc)
                seed_postgres(url, now_ms, work)
            proc, port, _, admin = bench.start(url, work)
            page = p50(port, admin, f"/inventory?org={ORG}", b"table class=\"inventory\"")
            api = p50(port, admin, f"/api/v1/inventory?organization={ORG}", b"readiness")
            # The figures count only if the numbers are the ones seeded.
            _, body = get(port, admin, f"/api/v1/inventory?organization={ORG}")
            org = json.loads(body)["organizations"][0]
            assert org["devices"] == DEVICES, org
            assert org["waiting"] == sum(not switched(d) for d in range(DEVICES)), org
            for c in org["categories"]:
                w = want[c["category"]]
                assert (c["found"]["users"], c["found"]["entries"]) == w["found"], (c, w)
                assert (c["open"]["users"], c["open"]["entries"]) == w["open"], (c, w)
            csv_ms, csv = get(port, admin, f"/inventory.csv?org={ORG}&category=old-token")
            rows = csv.count(b"\r\n") - 1
            assert rows == want["old-token"]["found"][1], rows
            bench.stop(proc)
            entries = sum(w["found"][1] for w in want.values())
            results.append((backend, plain, inventory, page, api, csv_ms, rows, entries))

    print(f"Machine: {platform.system()} {platform.machine()}, {os.cpu_count()} cores\n")
    print(f"| backend | ingest without inventory ({bench.SECONDS} s) | p99 | with 7 entries each | p99 | non-2xx | entries stored / 7 x acknowledged |")
    print("|---|---|---|---|---|---|---|")
    for backend, plain, inv, *_ in results:
        print(f"| {backend} | {plain['rate']:,.0f} reports/s | {plain['p99']} | {inv['rate']:,.0f} reports/s "
              f"| {inv['p99']} | {plain['errors'] + inv['errors']} | {inv['entries']:,} / {7 * inv['acknowledged']:,} |")
    print(f"\n| backend | page `/inventory` at {DEVICES:,} devices, p50 of 20 | `GET /api/v1/inventory`, p50 | CSV of the largest list |")
    print("|---|---|---|---|")
    for backend, _, _, page, api, csv_ms, rows, entries in results:
        print(f"| {backend} | {page:.0f} ms | {api:.0f} ms | {rows:,} rows in {csv_ms:.0f} ms (of {entries:,} entries) |")


if __name__ == "__main__":
    try:
        main()
    finally:
        for admin_url, name in bench.CREATED:
            subprocess.run(["psql", "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", admin_url])
