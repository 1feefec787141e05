#!/usr/bin/env python3
"""The agent on a full disk and on a read-only home (needs root: it mounts small tmpfs folders).

Uses the realistic home of .ci/crash-safety.py, on its own tmpfs:

  * read-only: the home is seeded, the tmpfs remounted read-only, then `plan --json` (it must
    plan without the run lock, and say so) and `run --yes --silent`: no panic, a clear message
    naming the read-only file system, exit 1
    for the run, and nothing changed;
  * full: for each amount of free space left (a filler file takes the rest, so the disk fills
    up at a different point of the run each time), `run --yes --silent`: no panic, exit 0, 10,
    11 or 1 with a message naming the full disk, and every file either as it was or as a whole
    run leaves it; then the filler goes, `run` again must end exactly as an uninterrupted run,
    and `undo` as undoing one.

Usage (from the repo root, after `cargo build`, as root): python3 .ci/disk-faults.py
Prints the figures for docs/RELIABILITY.md and exits 1 on any failure, naming it.
"""

import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("crash_safety", HERE / "crash-safety.py")
cs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cs)

FREE_BYTES = [0, 4096, 16384, 65536, 262144, 1048576]


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


def mount(path: pathlib.Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    sh("mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))


def free(path: pathlib.Path) -> int:
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def fill(path: pathlib.Path, leave: int) -> None:
    """Takes all free space of the tmpfs but `leave` bytes."""
    filler = path / "filler"
    with open(filler, "wb") as f:
        chunk = b"\0" * 65536
        try:
            while free(path) > leave + len(chunk):
                f.write(chunk)
                f.flush()
            while free(path) > leave:
                f.write(b"\0" * 4096)
                f.flush()
        except OSError:
            pass


def said(out) -> str:
    return (out.stdout or "") + (out.stderr or "")


def main() -> None:
    if os.geteuid() != 0:
        sys.exit("disk-faults: needs root to mount tmpfs folders\nhint: run it as root (CI does)")
    if not cs.BIN.exists():
        sys.exit(f"disk-faults: {cs.BIN} is missing\nhint: run `cargo build` first")
    work = pathlib.Path(tempfile.mkdtemp(prefix="ado-cutover-disk-"))
    mounted = []
    failures = []
    outcomes = []
    try:
        # The expected end states, from an uninterrupted run on a normal folder.
        base = work / "base"
        (base / "home").mkdir(parents=True)
        cs.seed(base)
        original = cs.state(base)
        done = cs.agent(base, "run", "--yes", "--silent")
        if done.returncode not in (0, 10, 11):
            sys.exit(f"disk-faults: the uninterrupted run exited {done.returncode}: {said(done)}")
        final = cs.state(base)
        cs.agent(base, "undo", "--json")
        undone = cs.state(base)

        # Read-only home.
        ro = work / "ro"
        mount(ro, "64m")
        mounted.append(ro)
        (ro / "home").mkdir()
        cs.seed(ro)
        before = cs.state(ro)
        sh("mount", "-o", "remount,ro", str(ro))
        plan = cs.agent(ro, "plan", "--json")
        run = cs.agent(ro, "run", "--yes", "--silent")
        for name, out in [("plan", plan), ("run", run)]:
            if "panicked" in said(out):
                failures.append(f"read-only: {name} panicked: {said(out)[:300]}")
        # `plan` only reads: it plans without the run lock (none can be taken or needed on a
        # read-only file system) and says so.
        if plan.returncode not in (0, 10):
            failures.append(f"read-only: plan exited {plan.returncode}, not 0 or 10: {said(plan)[:300]}")
        elif '"tasks"' not in plan.stdout or "planning without the run lock" not in plan.stderr:
            failures.append(f"read-only: plan printed no plan, or did not say it had no lock: {said(plan)[:300]}")
        if run.returncode != 1:
            failures.append(f"read-only: run exited {run.returncode}, not 1: {said(run)[:300]}")
        if "read-only" not in said(run).lower():
            failures.append(f"read-only: the run does not name the read-only file system: {said(run)[:300]}")
        if cs.state(ro) != before:
            failures.append("read-only: something changed")
        outcomes.append(("read-only home: `plan`", plan.returncode, first_line(plan)))
        outcomes.append(("read-only home: `run`", run.returncode, first_line(run)))

        # A disk that fills up during the run.
        for leave in FREE_BYTES:
            box = work / f"full{leave}"
            mount(box, "16m")
            mounted.append(box)
            (box / "home").mkdir()
            cs.seed(box)
            fill(box, leave)
            out = cs.agent(box, "run", "--yes", "--silent")
            problems = []
            if "panicked" in said(out):
                problems.append(f"panicked: {said(out)[:300]}")
            if out.returncode not in (0, 1, 10, 11):
                problems.append(f"exited {out.returncode}")
            if out.returncode == 1 and "space" not in said(out).lower():
                problems.append(f"the failure does not name the full disk: {said(out)[:300]}")
            after = cs.state(box)
            for p in sorted(set(after) | set(original) | set(final)):
                if p == "filler" or after.get(p) in (original.get(p), final.get(p)):
                    continue
                if cs.is_git_config(p) and p in after and cs.git_reads(box / p):
                    continue
                if p not in original and p not in final and cs.leftover(box / p):
                    continue
                problems.append(f"{p} is neither as before nor as after a run")
            outcomes.append((f"{leave // 1024} KiB free", out.returncode, first_line(out)))
            (box / "filler").unlink()
            again = cs.agent(box, "run", "--yes", "--silent")
            if again.returncode not in (0, 10, 11):
                problems.append(f"with space again, run exited {again.returncode}: {said(again)[:300]}")
            if cs.state(box) != final:
                problems.append(f"with space again, different from an uninterrupted run: {cs.diff(final, cs.state(box))}")
            back = cs.agent(box, "undo", "--json")
            if back.returncode != 0 or cs.state(box) != undone:
                problems.append(f"undo: exit {back.returncode}, differences {cs.diff(undone, cs.state(box))}")
            failures += [f"{leave} bytes free: {p}" for p in problems]

        print("| case | exit | what the agent said (first line) |")
        print("|---|---|---|")
        for case, code, line in outcomes:
            print(f"| {case} | {code} | {line} |")
        print(f"\nfailures: {len(failures)}")
        for failure in failures:
            print(f"  - {failure}", file=sys.stderr)
        sys.exit(1 if failures else 0)
    finally:
        for path in reversed(mounted):
            subprocess.run(["umount", str(path)], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def first_line(out) -> str:
    for line in said(out).splitlines():
        line = line.strip()
        if line and not line.startswith("{"):
            return line.replace("|", "\\|")[:160]
    return "(JSON report)"


if __name__ == "__main__":
    main()
