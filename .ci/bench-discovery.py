#!/usr/bin/env python3
"""Measures how fast the `remotes` task finds repositories, side by side with fd and find.

Builds a synthetic home (about 200,000 files: 1,000 repositories in deep trees, 100 of them on
Azure DevOps; a forest of node_modules; a symbolic-link loop), then times, each several runs,
warm cache, median:
  - fd -HI (Debian package fd-find) looking for `.git`,
  - find looking for `.git`,
  - `ado-cutover discover` (the task's search alone),
  - `ado-cutover plan --only remotes` (search, read every repository's remotes, inspect the
    Azure DevOps ones; the tenant lookups go to a closed local port, so no network).
Peak memory comes from GNU time (Debian package `time`).
Usage (from the repo root): python3 .ci/bench-discovery.py [runs]"""

import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "ado-cutover"


def make_repo(path: pathlib.Path, url: str, files: int) -> None:
    git = path / ".git"
    (git / "objects").mkdir(parents=True)
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "config").write_text(
        "[core]\n\trepositoryformatversion = 0\n\tbare = false\n"
        f"[remote \"origin\"]\n\turl = {url}\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n")
    for i in range(files):
        d = path / "src" / f"m{i % 7}" / f"sub{i % 3}" / f"deep{i % 2}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}.txt").write_text("x")


def build_home(home: pathlib.Path) -> int:
    count = 0
    for r in range(1000):
        team, proj = r % 20, r // 20
        path = home / "src" / f"team{team}" / f"group{proj % 5}" / f"repo{r}"
        if r % 10 == 0:
            url = f"https://contoso.visualstudio.com/DefaultCollection/proj/_git/repo{r}"
        else:
            url = f"https://github.com/example/repo{r}.git"
        make_repo(path, url, 95)
        count += 95 + 3
    for p in range(40):
        nm = home / "web" / f"app{p}" / "node_modules"
        for pkg in range(250):
            d = nm / f"pkg{pkg}" / "lib"
            d.mkdir(parents=True, exist_ok=True)
            for f in range(10):
                (d / f"f{f}.js").write_text("x")
            count += 10
    (home / "web" / "loop").symlink_to(home / "web")
    return count


def timed(cmd, env=None):
    times = []
    for _ in range(RUNS + 1):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       stdin=subprocess.DEVNULL, check=False)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times[1:])  # the first run warms the cache


def peak_mib(cmd, env=None):
    gnu_time = shutil.which("time", path="/usr/bin:/bin")
    if gnu_time is None:
        return "n/a (apt-get install time)"
    out = subprocess.run([gnu_time, "-f", "%M", *cmd], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    return f"{int(out.stderr.strip().splitlines()[-1]) / 1024:.1f} MiB"


def main() -> None:
    subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "ado-cutover"],
                   cwd=ROOT, check=True)
    sandbox = pathlib.Path(tempfile.mkdtemp(prefix="ado-cutover-bench-"))
    try:
        home = sandbox / "home"
        home.mkdir()
        files = build_home(home)
        env = dict(os.environ, ADO_CUTOVER_SANDBOX=str(sandbox), NO_COLOR="1",
                   ADO_CUTOVER_AZURE_DEVOPS_URL="http://127.0.0.1:9")
        rows = []
        fd = shutil.which("fdfind") or shutil.which("fd")
        if fd:
            every = [fd, "-HI", "^\\.git$", str(home)]
            rows.append(("`fd -HI '^\\.git$'` (searches everything)", timed(every), peak_mib(every)))
            # The same skips as the agent, for a like-for-like search.
            skipping = [fd, "-HI", "-E", "node_modules", "-E", ".git", "^\\.git$", str(home)]
            rows.append(("`fd -HI -E node_modules -E .git '^\\.git$'` (the agent's skips)",
                         timed(skipping), peak_mib(skipping)))
        else:
            rows.append(("fd", None, "n/a (apt-get install fd-find)"))
        find = ["find", str(home), "-name", ".git"]
        rows.append(("`find -name .git` (searches everything)", timed(find), peak_mib(find)))
        discover = [str(BIN), "discover", str(home)]
        rows.append(("`ado-cutover discover`", timed(discover, env), peak_mib(discover, env)))
        plan = [str(BIN), "plan", "--json", "--only", "remotes"]
        rows.append(("`ado-cutover plan --only remotes`", timed(plan, env), peak_mib(plan, env)))
        found = subprocess.run(discover, env=env, capture_output=True, text=True).stdout.strip()
        print(f"Machine: {platform.system()} {platform.machine()}, {os.cpu_count()} cores; "
              f"synthetic home: about {files} files; the agent found {found}; median of {RUNS} "
              "warm runs")
        print()
        print("| command | wall time | peak memory |")
        print("|---|---|---|")
        for name, ms, mem in rows:
            print(f"| {name} | {'n/a' if ms is None else f'{ms:.0f} ms'} | {mem} |")
    finally:
        shutil.rmtree(sandbox)


if __name__ == "__main__":
    main()
