#!/usr/bin/env python3
"""Crash safety of the agent: `run` killed with SIGKILL at many points, then plan, run, undo.

A laptop lid closed mid-run, or device management killing the agent, must never leave a
half-written file, a second SSH key or config block, or a journal `undo` cannot read. This
seeds a realistic sandboxed home (GCM's tenant cache, git's credential store, GCM's plaintext
store and its git configuration, a repository binding, repositories with legacy, SSH and
token-bearing remotes, an SSH config for Azure DevOps, Chrome and Firefox cookie stores), runs
the agent once uninterrupted for the expected end state, and then, for each kill point, on a
fresh copy:

  1. starts `run --yes --silent` and kills it (SIGKILL) at that moment;
  2. checks every file outside the agent's own folders is either as it was or as the whole run
     leaves it (nothing half-written; a temporary file or git lock of the agent's may remain, and
     the next run must remove it; a git configuration file, which
     takes several whole changes in one run, may be between two of them but must still parse),
     the cookie stores pass SQLite's integrity check, and there is at most one ado-cutover block
     in ~/.ssh/config;
  3. runs `plan --json` (it must read the journal and state and answer), then `run` again: the
     machine must end exactly as after the uninterrupted run (the same key name: no second key);
  4. runs `undo --json`: the machine must end exactly as `undo` leaves the uninterrupted run.

Half the kill points are spread over the whole run, half over its writing phase (from the first
to the last change the uninterrupted run made, by file modification times), so kills land inside
the engine's actions. Usage (from the repo root, after `cargo build`):

  python3 .ci/crash-safety.py [points] [--seed N]

Prints the figures for docs/RELIABILITY.md and exits 1 on any failure, naming it.
"""

import argparse
import gzip
import hashlib
import os
import pathlib
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "debug" / "ado-cutover"
OFFLINE = {
    "ADO_CUTOVER_AZURE_DEVOPS_URL": "http://127.0.0.1:9",
    "ADO_CUTOVER_ARTIFACTS_URL": "http://127.0.0.1:9",
    "ADO_CUTOVER_ENTRA_URL": "http://127.0.0.1:9",
    "ADO_CUTOVER_VSSPS_URL": "http://127.0.0.1:9",
    "ADO_CUTOVER_SSH_TEST_ENDPOINT": "git@127.0.0.1:9",
    "NO_COLOR": "1",
}
# The agent's own folders (journal, state, reports, logs): not part of "the machine".
OWN = ("home/.local/share/ado-cutover", "home/.local/state/ado-cutover")
CHROMIUM_SCHEMA = """
CREATE TABLE meta(key LONGVARCHAR NOT NULL UNIQUE PRIMARY KEY, value LONGVARCHAR);
INSERT INTO meta VALUES('mmap_status','-1'),('version','24'),('last_compatible_version','24');
CREATE TABLE cookies(creation_utc INTEGER NOT NULL,host_key TEXT NOT NULL,top_frame_site_key TEXT NOT NULL,name TEXT NOT NULL,value TEXT NOT NULL,encrypted_value BLOB NOT NULL,path TEXT NOT NULL,expires_utc INTEGER NOT NULL,is_secure INTEGER NOT NULL,is_httponly INTEGER NOT NULL,last_access_utc INTEGER NOT NULL,has_expires INTEGER NOT NULL,is_persistent INTEGER NOT NULL,priority INTEGER NOT NULL,samesite INTEGER NOT NULL,source_scheme INTEGER NOT NULL,source_port INTEGER NOT NULL,last_update_utc INTEGER NOT NULL,source_type INTEGER NOT NULL,has_cross_site_ancestor INTEGER NOT NULL);
CREATE UNIQUE INDEX cookies_unique_index ON cookies(host_key, top_frame_site_key, has_cross_site_ancestor, name, path, source_scheme, source_port);
"""
FIREFOX_SCHEMA = """
PRAGMA user_version = 16;
CREATE TABLE moz_cookies (id INTEGER PRIMARY KEY, originAttributes TEXT NOT NULL DEFAULT '', name TEXT, value TEXT, host TEXT, path TEXT, expiry INTEGER, lastAccessed INTEGER, creationTime INTEGER, isSecure INTEGER, isHttpOnly INTEGER, inBrowserElement INTEGER DEFAULT 0, sameSite INTEGER DEFAULT 0, schemeMap INTEGER DEFAULT 0, isPartitionedAttributeSet INTEGER DEFAULT 0, CONSTRAINT moz_uniqueid UNIQUE (name, host, path, originAttributes));
"""
HOSTS = [".dev.azure.com", "contoso.visualstudio.com", "github.com"] + [
    f"site{i}.example.com" for i in range(300)
]


def write(path: pathlib.Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


def git(repo: pathlib.Path, *args: str) -> None:
    env = dict(os.environ, HOME=str(repo), GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null")
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


def seed(root: pathlib.Path) -> None:
    home = root / "home"
    local = home / ".local" / "share"
    pairs = b"https://dev.azure.com/contoso/=00000000-0000-0000-0000-000000000000\0"
    pairs += b"https://dev.azure.com/fabrikam/=72f988bf-86f1-41af-91ab-2d7cd011db47\0"
    write(local / "GitCredentialManager" / "tenant.cache", gzip.compress(pairs, mtime=0))
    write(local / "GitCredentialManager" / "git-credential-manager.log", "not ours\n")
    write(home / ".git-credentials",
          "https://alice:SECRET1@dev.azure.com/contoso/proj/_git/web\n"
          "https://gh:GHTOKEN@github.com\n"
          "https://x:SECRET2@contoso.visualstudio.com\n"
          "https://x:KEEP@dev.azure.com/fabrikam\n")
    write(home / ".gcm" / "store" / "git" / "https" / "dev.azure.com" / "contoso" / "alice.credential",
          "SECRET3\n")
    write(home / ".gcm" / "store" / "git" / "https" / "dev.azure.com" / "fabrikam" / "bob.credential",
          "KEEP\n")
    write(home / ".gitconfig",
          "[user]\n\tname = Alice\n\temail = alice@contoso.com\n"
          "[credential]\n\thelper = store\n"
          "[credential \"azrepos:org/contoso\"]\n\tusername = alice@old.example\n"
          "[credential \"https://contoso.visualstudio.com\"]\n\tauthority = MSA\n"
          "[credential \"azrepos:org/fabrikam\"]\n\tusername = bob@example.com\n")
    remotes = {
        "web": "https://contoso.visualstudio.com/DefaultCollection/proj/_git/web",
        "api": "contoso@vs-ssh.visualstudio.com:v3/contoso/proj/api",
        "pat": "https://alice:SECRET4@dev.azure.com/contoso/proj/_git/pat",
        "lib": "https://contoso.visualstudio.com/proj/_git/lib",
        "gh": "https://github.com/contoso/gh.git",
    }
    for name, url in remotes.items():
        repo = home / "src" / name
        repo.mkdir(parents=True)
        git(repo, "init", "-q")
        git(repo, "remote", "add", "origin", url)
    git(home / "src" / "web", "config", "credential.azrepos:org/contoso.username", "alice@old.example")
    write(home / ".ssh" / "config",
          "Host github.com\n  User git\n\nHost ssh.dev.azure.com\n  IdentityFile ~/.ssh/id_rsa\n"
          "  HostkeyAlgorithms +ssh-rsa\n")
    write(home / ".ssh" / "known_hosts", "ssh.dev.azure.com ssh-rsa AAAAB3NzaC1yc2E\n")
    chrome = home / ".config" / "google-chrome" / "Default" / "Cookies"
    firefox = home / ".mozilla" / "firefox" / "crash.default-release" / "cookies.sqlite"
    for store, schema, insert in [
        (chrome, CHROMIUM_SCHEMA,
         "INSERT INTO cookies VALUES (1,?,'','n','v',x'','/',9,1,1,1,1,1,1,0,2,443,1,0,0)"),
        (firefox, FIREFOX_SCHEMA,
         "INSERT INTO moz_cookies (name, value, host, path, expiry) VALUES ('n', 'v', ?, '/', 9)"),
    ]:
        store.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(store) as db:
            db.executescript(schema)
            db.executemany(insert, [(h,) for h in HOSTS])
        db.close()
    write(root / "machine" / "config.toml",
          'organizations = ["contoso"]\n'
          "[remotes]\nfix_legacy_hosts = true\nremove_url_credentials = true\n"
          '[ssh_key]\ntype = "ed25519"\n')


def own(rel: str) -> bool:
    return any(rel == o or rel.startswith(o + "/") for o in OWN)


def cookie_hosts(path: pathlib.Path) -> str:
    """The store's cookie hosts, after SQLite's own recovery; fails on a damaged store."""
    with sqlite3.connect(path) as db:
        check = db.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise AssertionError(f"{path.name} fails SQLite's integrity check: {check}")
        table, column = ("moz_cookies", "host") if path.name == "cookies.sqlite" else ("cookies", "host_key")
        hosts = sorted(row[0] for row in db.execute(f"SELECT {column} FROM {table}"))
    db.close()
    return "cookies:" + hashlib.sha256("\n".join(hosts).encode()).hexdigest()


def state(root: pathlib.Path) -> dict:
    """Every file outside the agent's own folders, by what it means: cookie stores by the cookies
    they hold (SQLite's side files are its business), SSH keys by their name (each key is new),
    everything else by its bytes, with this copy's own path written as ROOT (the SSH config names
    the key by its full path)."""
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if own(rel) or path.is_dir() or path.is_symlink():
            continue
        if rel.endswith(("-journal", "-wal", "-shm")):
            continue
        if path.name in ("Cookies", "cookies.sqlite"):
            files[rel] = cookie_hosts(path)
        elif "/.ssh/id_" in "/" + rel and "_azure_devops" in rel:
            files[rel] = "key" if path.stat().st_size > 0 else "empty key"
        else:
            content = path.read_bytes().replace(str(root).encode(), b"ROOT")
            files[rel] = hashlib.sha256(content).hexdigest()
    return files


def agent_env(root: pathlib.Path) -> dict:
    """This machine's environment without any agent setting, pointed at the sandbox, offline."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADO_CUTOVER_")}
    env.update(OFFLINE, ADO_CUTOVER_SANDBOX=str(root), HOME=str(root / "home"))
    return env


def agent(root: pathlib.Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN), *args], env=agent_env(root), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)


def spawn(root: pathlib.Path) -> subprocess.Popen:
    return subprocess.Popen([str(BIN), "run", "--yes", "--silent"], env=agent_env(root),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def is_git_config(rel: str) -> bool:
    return rel.endswith("/.git/config") or rel.endswith("/.gitconfig")


def git_reads(path: pathlib.Path) -> bool:
    """True when git reads the file as configuration (a torn write would not parse)."""
    out = subprocess.run(["git", "config", "--file", str(path), "--list"], capture_output=True)
    return out.returncode == 0


GIT_LOCK_MARK = b"ado-cutover is removing lines from this file\n"


def leftover(path: pathlib.Path) -> bool:
    """The agent's temporary file, or git's lock holding the agent's mark (src/agent/fsutil.rs)."""
    if path.name.startswith(".ado-cutover-") and path.name.endswith(".tmp"):
        return True
    return path.name.endswith(".lock") and path.read_bytes() == GIT_LOCK_MARK


def diff(a: dict, b: dict) -> list:
    return [p for p in sorted(set(a) | set(b)) if a.get(p) != b.get(p)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("points", nargs="?", type=int, default=60)
    parser.add_argument("--seed", type=int, default=20261130)
    args = parser.parse_args()
    if not BIN.exists():
        sys.exit(f"crash-safety: {BIN} is missing\nhint: run `cargo build` first")
    rng = random.Random(args.seed)
    work = pathlib.Path(tempfile.mkdtemp(prefix="ado-cutover-crash-"))
    try:
        template = work / "template"
        (template / "home").mkdir(parents=True)
        seed(template)
        original = state(template)

        # The uninterrupted run, its end state, and what undo makes of it.
        base = work / "base"
        shutil.copytree(template, base, symlinks=True)
        started = time.time()
        done = spawn(base)
        done.wait()
        duration = time.time() - started
        if done.returncode not in (0, 10, 11):
            sys.exit(f"crash-safety: the uninterrupted run exited {done.returncode}")
        final = state(base)
        changed = diff(original, final)
        mtimes = [(base / p).stat().st_mtime for p in changed if (base / p).exists()]
        first = max(0.0, min(mtimes) - started) if mtimes else 0.0
        last = max(mtimes) - started if mtimes else duration
        undo = agent(base, "undo", "--json")
        if undo.returncode != 0:
            sys.exit(f"crash-safety: undo of the uninterrupted run exited {undo.returncode}")
        undone = state(base)

        failures = []
        between = 0
        leftovers = 0
        in_writes = 0
        progress = []
        for point in range(args.points):
            if point % 2 == 0:
                at = rng.uniform(0, duration)
            else:
                at = rng.uniform(max(0.0, first - 0.005), last + 0.005)
                in_writes += 1
            box = work / f"p{point}"
            shutil.copytree(template, box, symlinks=True)
            child = spawn(box)
            time.sleep(at)
            try:
                os.kill(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            child.wait()
            problems = []
            try:
                killed = state(box)
            except AssertionError as e:
                problems.append(str(e))
                killed = {}
            if killed:
                progress.append(sum(1 for p in changed if killed.get(p) == final.get(p)))
                for p in sorted(set(killed) | set(original) | set(final)):
                    if killed.get(p) in (original.get(p), final.get(p)):
                        continue
                    # A git configuration file takes several changes in one run (a binding
                    # removed, then the remote rewritten), each whole: between them it is in
                    # neither end state, but it must still be one git reads.
                    if is_git_config(p) and p in killed and git_reads(box / p):
                        between += 1
                        continue
                    # The agent's own temporary file or git lock, whole and marked as its: the
                    # next run removes it (checked below: that run must end as an uninterrupted one).
                    if p not in original and p not in final and leftover(box / p):
                        leftovers += 1
                        continue
                    problems.append(f"after the kill {p} is neither as before nor as after a run")
            config = box / "home" / ".ssh" / "config"
            if config.exists() and config.read_text().count("# >>> ado-cutover") > 1:
                problems.append("two ado-cutover blocks in ~/.ssh/config")
            plan = agent(box, "plan", "--json")
            if plan.returncode not in (0, 10, 11) or not plan.stdout.lstrip().startswith("{"):
                problems.append(f"plan after the kill exited {plan.returncode}: {plan.stderr.strip()[:300]}")
            again = agent(box, "run", "--yes", "--silent")
            if again.returncode not in (0, 10, 11):
                problems.append(f"run after the kill exited {again.returncode}: {again.stdout.strip()[:300]}")
            after = state(box)
            if after != final:
                problems.append(f"after the next run, different from an uninterrupted run: {diff(final, after)}")
            back = agent(box, "undo", "--json")
            if back.returncode != 0:
                problems.append(f"undo exited {back.returncode}: {back.stdout.strip()[:300]}")
            elif state(box) != undone:
                problems.append(f"after undo, different from undoing an uninterrupted run: {diff(undone, state(box))}")
            if problems:
                failures.append((point, round(at, 4), problems))
            shutil.rmtree(box)

        changes = len(changed)
        print("| figure | value |")
        print("|---|---|")
        print(f"| kill points (SIGKILL during `run --yes --silent`) | {args.points} (seed {args.seed}) |")
        print(f"| of them aimed at the writing phase ({first * 1000:.0f}-{last * 1000:.0f} ms of a {duration * 1000:.0f} ms run) | {in_writes} |")
        print(f"| files the uninterrupted run changes | {changes} |")
        if progress:
            print(f"| changes already made at the kill: min / median / max | {min(progress)} / {sorted(progress)[len(progress) // 2]} / {max(progress)} of {changes} |")
            print(f"| kills with some but not all changes made | {sum(1 for n in progress if 0 < n < changes)} |")
        print(f"| git configuration files found between two whole changes, and read by git | {between} |")
        print(f"| the agent's temporary files or git locks left by a kill (the next run removes them) | {leftovers} |")
        print(f"| failures | {len(failures)} |")
        for point, at, problems in failures:
            print(f"\nkill point {point} at {at} s:", file=sys.stderr)
            for problem in problems:
                print(f"  - {problem}", file=sys.stderr)
        sys.exit(1 if failures else 0)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
