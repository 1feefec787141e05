#!/usr/bin/env python3
"""Measures how long the ssh-key task takes to make a key, next to OpenSSH's ssh-keygen.

Builds the stripped release agent, then makes RSA 4096, RSA 3072 and Ed25519 keys, each `runs`
times, with `ado-cutover keygen` (a hidden command: the task's key generation alone, the same
code, writing the pair the same way) and with `ssh-keygen -q -N ""`. RSA generation searches for
random primes, so its time varies a lot from key to key: the table gives the median and the
range. Usage (from the repo root): python3 .ci/bench-keygen.py [runs]"""

import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
ROOT = pathlib.Path(__file__).resolve().parent.parent


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    subprocess.run(
        ["cargo", "build", "-q", "--release", "--bin", "ado-cutover"],
        cwd=ROOT,
        check=True,
    )
    agent = str(ROOT / "target" / "release" / "ado-cutover")
    version = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, ours, theirs in [
            ("RSA 4096", ["--type", "rsa", "--bits", "4096"], ["-t", "rsa", "-b", "4096"]),
            ("RSA 3072", ["--type", "rsa", "--bits", "3072"], ["-t", "rsa", "-b", "3072"]),
            ("Ed25519", ["--type", "ed25519"], ["-t", "ed25519"]),
        ]:
            a, b = [], []
            for n in range(RUNS):
                key = pathlib.Path(tmp) / f"{label.replace(' ', '')}-{n}"
                a.append(timed([agent, "keygen", str(key) + "-agent", *ours]))
                b.append(timed(["ssh-keygen", "-q", "-N", "", *theirs, "-f", str(key) + "-ssh"]))
            rows.append((label, a, b))
    print(f"{RUNS} keys each; ssh-keygen from {version}\n")
    print("| key | ado-cutover keygen: median (min-max) | ssh-keygen: median (min-max) | ratio of medians |")
    print("|---|---|---|---|")
    for label, a, b in rows:
        fmt = lambda xs: f"{statistics.median(xs):.0f} ms ({min(xs):.0f}-{max(xs):.0f})"
        print(f"| {label} | {fmt(a)} | {fmt(b)} | {statistics.median(a) / statistics.median(b):.2f}x |")


if __name__ == "__main__":
    main()
