#!/usr/bin/env python3
"""Hostile input at volume against ado-cutover-server (issue #19, item 5): malformed requests
(garbage, broken request lines and headers), malformed reports with a valid token, oversized
bodies, unauthenticated and wrongly authenticated requests, and slowloris connections that
trickle a request head, all at once from 32 threads, while a well-behaved agent keeps posting
real reports. Checks its own work and prints Markdown for docs/RELIABILITY.md:

- the server never crashes (it is alive at the end and answers /healthz);
- no client error is answered with a 5xx;
- the well-behaved agent's reports are all acknowledged (202) and all stored;
- memory stays bounded (the server's peak resident memory, VmHWM, is printed per phase);
- slowloris connections are dropped after the header timeout and do not block others.

Usage (from the repo root): python3 .ci/hostile-input.py [requests, default 100000]
Builds the server as it ships (`cargo build --profile server --features server`) first. Exits 1 when a check
fails. A SQLite database in a temporary folder; nothing else is touched.
"""

import concurrent.futures
import json
import os
import pathlib
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid

TOTAL = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "server" / "ado-cutover-server"
SLOWLORIS = 400
BODY_LIMIT = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vm_hwm(pid: int) -> int:
    """Peak resident memory of the process, in KiB."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def exchange(port: int, raw: bytes, timeout: float = 15.0) -> int:
    """Sends raw bytes, reads the answer's status; 0 when the server closed without one."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(raw)
        except OSError:
            pass  # the server may answer (413) and close before the body is all sent
        # No half-close (shutdown of the sending side): agents never do it, and the server
        # (hyper's default) takes a read side closed mid-request as a client gone.
        data = b""
        try:
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
    if not data.startswith(b"HTTP/1."):
        return 0
    return int(data.split(b" ", 2)[1])


def request(method: str, path: str, headers: dict, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    for k, v in headers.items():
        head += f"{k}: {v}\r\n"
    if body or method == "POST":
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def report(device: str) -> dict:
    return {
        "schema_version": 1, "report_id": str(uuid.uuid4()), "agent_version": "0.1.0", "mode": "run",
        "started_at": "2026-11-30T08:00:00Z", "finished_at": "2026-11-30T08:00:05Z",
        "device": {"hostname": device, "os": "linux", "os_version": "12", "arch": "x86_64", "device_id": device},
        "user": {"name": "alice", "upn": "alice@contoso.com"}, "outcome": "done",
        "tasks": [{"id": "credentials", "status": "done", "summary": "cleared", "items": []}],
    }


def hostile(kind: str, rng: random.Random, token: str) -> bytes:
    if kind == "garbage":
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 600)))
    if kind == "broken-http":
        return rng.choice([
            b"GET\r\n\r\n", b"POST /api/v1/reports HTTP/9.9\r\n\r\n", b"GET / HTTP/1.1\r\nHost\r\n\r\n",
            b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 500 + b"\r\n",
            b"POST /api/v1/reports HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            b"POST /api/v1/reports HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",  # a TLS hello on plain HTTP
        ])
    if kind == "bad-report":
        body = rng.choice([b"{", b"[]", b"null", b'{"schema_version": 1}', b'{"schema_version": 99}',
                           json.dumps({**report("x"), "tasks": "no"}).encode(),
                           json.dumps(report("x")).encode()[: rng.randint(1, 300)],
                           b'{"schema_version":1,' + b'"a":' * 5000 + b"1", b"[" * 100_000])
        return request("POST", "/api/v1/reports",
                       {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}, body)
    if kind == "oversized":
        body = b"{" + b" " * (BODY_LIMIT + 1024) + b"}"
        return request("POST", "/api/v1/reports",
                       {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}, body)
    if kind == "unauthenticated":
        path = rng.choice(["/api/v1/reports", "/api/v1/summary", "/api/v1/devices", "/tokens", "/audit.csv", "/metrics"])
        headers = rng.choice([{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic YWRtaW46YWRtaW4="},
                              {"Cookie": "ado_cutover_session=forged"}])
        method = "POST" if path == "/api/v1/reports" else "GET"
        return request(method, path, {**headers, "Content-Type": "application/json"},
                       json.dumps(report("x")).encode() if method == "POST" else b"")
    raise ValueError(kind)


def expected(kind: str, status: int) -> bool:
    """Whether `status` is a right answer to a `kind` request (0: closed without an answer)."""
    if status >= 500:
        return False
    return {
        "garbage": status in (0, 400),
        # A head the server can read gets the route's answer (401 without a token).
        "broken-http": status == 0 or 400 <= status < 500 or status == 501,
        "bad-report": status in (400, 413, 422),
        "oversized": status in (0, 413),
        "unauthenticated": status in (303, 401, 403, 200),  # /metrics is open by default
    }[kind]


def slowloris(port: int, stop: threading.Event, dropped: list) -> None:
    """Opens a connection and trickles a request head; notes when the server drops it."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        while not stop.is_set():
            time.sleep(1)
            try:
                s.sendall(b"X-a: b\r\n")
            except OSError:
                dropped.append(time.monotonic() - started)
                return
        s.close()
    except OSError:
        dropped.append(0.0)


def main() -> int:
    subprocess.run(["cargo", "build", "--profile", "server", "--features", "server", "--bin", "ado-cutover-server"],
                   cwd=ROOT, check=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="hostile-"))
    db = work / "server.db"
    port = free_port()
    server = subprocess.Popen(
        [str(BIN), "--listen", f"127.0.0.1:{port}", "--database-url", f"sqlite://{db}", "--create",
         "--token-file", str(work / "tokens.txt"), "--reports-per-minute", "1000000000"],
        stderr=subprocess.PIPE, text=True)
    for line in server.stderr:
        if "tokens:" in line:
            break
    threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
    tokens = dict(l.split("=", 1) for l in (work / "tokens.txt").read_text().splitlines() if "=" in l and not l.startswith("#"))
    token = tokens["enrollment"].strip()
    memory = {"start": vm_hwm(server.pid)}

    # Slowloris connections first, held through the whole run.
    stop = threading.Event()
    dropped: list = []
    lorises = [threading.Thread(target=slowloris, args=(port, stop, dropped), daemon=True) for _ in range(SLOWLORIS)]
    for t in lorises:
        t.start()

    # A well-behaved agent, posting real reports the whole time.
    good = {"sent": 0, "acknowledged": 0, "slowest": 0.0}
    def agent() -> None:
        while not stop.is_set():
            body = json.dumps(report(f"good-{good['sent']}")).encode()
            started = time.monotonic()
            status = exchange(port, request("POST", "/api/v1/reports",
                                            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}, body))
            good["slowest"] = max(good["slowest"], time.monotonic() - started)
            good["sent"] += 1
            good["acknowledged"] += status == 202
            time.sleep(0.01)
    agent_thread = threading.Thread(target=agent, daemon=True)
    agent_thread.start()

    mix = [("garbage", 0.25), ("broken-http", 0.15), ("bad-report", 0.25), ("oversized", 0.01), ("unauthenticated", 0.34)]
    kinds = [k for k, share in mix for _ in range(int(share * 100))]
    counts: dict = {}
    wrong: dict = {}
    lock = threading.Lock()
    started = time.monotonic()

    def one(i: int) -> None:
        rng = random.Random(i)
        kind = kinds[i % len(kinds)]
        try:
            status = exchange(port, hostile(kind, rng, token))
        except OSError:
            status = 0
        with lock:
            counts[kind] = counts.get(kind, 0) + 1
            if not expected(kind, status):
                wrong[(kind, status)] = wrong.get((kind, status), 0) + 1

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        for done, _ in enumerate(pool.map(one, range(TOTAL)), 1):
            if done % (TOTAL // 4) == 0:
                memory[f"after {done:,}"] = vm_hwm(server.pid)
    took = time.monotonic() - started
    stop.set()
    agent_thread.join(timeout=30)
    for t in lorises:
        t.join(timeout=5)

    alive = server.poll() is None
    healthy = alive and exchange(port, request("GET", "/healthz", {})) == 200
    memory["end"] = vm_hwm(server.pid) if alive else 0
    server.terminate()
    server.wait(timeout=30)
    stored = sqlite3.connect(db).execute("SELECT COUNT(*) FROM reports WHERE device_id LIKE 'good-%'").fetchone()[0]

    print(f"| hostile requests | {TOTAL:,} in {took:.0f} s ({TOTAL / took:,.0f}/s), 32 threads |")
    print("|---|---|")
    for kind, _ in mix:
        print(f"| {kind} | {counts.get(kind, 0):,} |")
    print(f"| wrong answers (5xx to a client error, or an unexpected status) | {sum(wrong.values())} {dict(wrong) if wrong else ''} |")
    print(f"| slowloris connections | {SLOWLORIS}, dropped after {min(dropped or [0]):.0f}-{max(dropped or [0]):.0f} s ({len(dropped)} of {SLOWLORIS}) |")
    print(f"| well-behaved reports acknowledged / sent / stored | {good['acknowledged']:,} / {good['sent']:,} / {stored:,}; slowest {good['slowest'] * 1000:.0f} ms |")
    print(f"| server alive and healthy at the end | {alive and healthy} |")
    print("| peak resident memory (VmHWM) | " + ", ".join(f"{k}: {v / 1024:.1f} MiB" for k, v in memory.items()) + " |")
    failed = (wrong or not healthy or good["acknowledged"] != good["sent"] or stored != good["acknowledged"]
              or len(dropped) < SLOWLORIS)
    print("FAILED" if failed else "OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
