#!/usr/bin/env python3
"""The Windows agent as a person would meet it, in a fresh Wine prefix (see check-windows-exe.sh).

Seeds what the old identity leaves on a Windows machine, in the places Windows keeps them:
Git Credential Manager's tenant.cache under %LocalAppData%, Credential Manager entries written
with CredWriteW (credtool.exe), an Edge cookie store under %LocalAppData%\\Microsoft\\Edge, and a
repository with a legacy remote under %UserProfile%\\source\\repos, with the managed settings in
%ProgramData%\\ado-cutover. Then runs the release ado-cutover.exe: `plan --json`, `run --yes
--silent`, `plan --json` again and `undo --json`, and checks the machine after each step: what
the old identity left is gone and nothing else, a second plan finds nothing, and undo restores
the remote (a deleted cache or secret is never backed up, and undo says so).

Everything stays offline: every Azure DevOps / Entra address points at a closed local port.
Usage: exe_smoke.py <wine> <ado-cutover.exe> <credtool.exe> <prefix>
"""

import gzip
import importlib.util
import json
import os
import pathlib
import sqlite3
import subprocess
import sys

# The offline addresses and Chromium's cookie schema, shared with the crash-safety script.
_spec = importlib.util.spec_from_file_location(
    "crash_safety", pathlib.Path(__file__).resolve().parent.parent / "crash-safety.py")
_shared = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_shared)
OFFLINE = _shared.OFFLINE
CHROMIUM_SCHEMA = _shared.CHROMIUM_SCHEMA

WINE, EXE, CREDTOOL, PREFIX = sys.argv[1:5]
USER = os.environ.get("USER") or subprocess.run(
    ["id", "-un"], capture_output=True, text=True, check=True
).stdout.strip()
PROFILE = os.path.join(PREFIX, "drive_c", "users", USER)
LOCAL = os.path.join(PROFILE, "AppData", "Local")
TENANT_CACHE = os.path.join(LOCAL, "GitCredentialManager", "tenant.cache")
SIBLING = os.path.join(LOCAL, "GitCredentialManager", "git-credential-manager.log")
EDGE = os.path.join(LOCAL, "Microsoft", "Edge", "User Data", "Default", "Network", "Cookies")
REPO = os.path.join(PROFILE, "source", "repos", "web")
MANAGED = os.path.join(PREFIX, "drive_c", "ProgramData", "ado-cutover", "config.toml")
LEGACY = "https://contoso.visualstudio.com/DefaultCollection/proj/_git/web"
MODERN = "https://dev.azure.com/contoso/proj/_git/web"

# (target, user, secret, stays)
CREDENTIALS = [
    ("git:https://dev.azure.com/contoso", "alice@contoso.com", "SMOKE-SECRET-1", False),
    ("git:https://contoso.visualstudio.com", "alice@contoso.com", "SMOKE-SECRET-2", False),
    ("git:https://dev.azure.com/fabrikam", "alice@contoso.com", "SMOKE-SECRET-3", True),
    ("git:https://github.com", "alice", "SMOKE-SECRET-4", True),
]
COOKIES = [(".dev.azure.com", False), ("contoso.visualstudio.com", False), ("github.com", True)]
SECRETS = [c[2] for c in CREDENTIALS] + ["SMOKE-COOKIE"]

def fail(message):
    print(f"check-windows-exe: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def expect(condition, message):
    if not condition:
        fail(message)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def wine(*args):
    env = dict(os.environ, **OFFLINE)
    return subprocess.run([WINE, *args], capture_output=True, env=env, stdin=subprocess.DEVNULL)


def agent(*args):
    out = wine(EXE, *args)
    stdout = out.stdout.decode("utf-8", "replace")
    stderr = out.stderr.decode("utf-8", "replace")
    for secret in SECRETS:
        expect(secret not in stdout and secret not in stderr, f"{args}: a secret was shown")
    return out.returncode, stdout, stderr


def git(*args):
    subprocess.run(["git", "-C", REPO, *args], check=True, capture_output=True)


def remote_url():
    out = subprocess.run(
        ["git", "--git-dir", os.path.join(REPO, ".git"), "config", "--file",
         os.path.join(REPO, ".git", "config"), "remote.origin.url"],
        capture_output=True, text=True, check=True)
    return out.stdout.strip()


def credential_targets():
    out = wine(CREDTOOL, "list")
    expect(out.returncode == 0, f"credtool list: {out.stderr!r}")
    return set(out.stdout.decode("utf-8", "replace").split())


def cookie_hosts():
    with sqlite3.connect(EDGE) as db:
        return {row[0] for row in db.execute("SELECT host_key FROM cookies")}


def items(report, task):
    for t in report["tasks"]:
        if t["id"] == task:
            return t["items"]
    return []


def seed():
    cache = b"".join(
        f"{url}={tenant}\0".encode()
        for url, tenant in [
            ("https://dev.azure.com/contoso/", "00000000-0000-0000-0000-000000000000"),
            ("https://dev.azure.com/fabrikam/", "72f988bf-86f1-41af-91ab-2d7cd011db47"),
        ]
    )
    write(TENANT_CACHE, gzip.compress(cache))
    write(SIBLING, b"not ours\n")
    for target, user, secret, _ in CREDENTIALS:
        out = wine(CREDTOOL, "write", target, user, secret)
        expect(out.returncode == 0, f"credtool write {target}: {out.stderr!r}")
    os.makedirs(os.path.dirname(EDGE), exist_ok=True)
    with sqlite3.connect(EDGE) as db:
        db.executescript(CHROMIUM_SCHEMA)
        for host, _ in COOKIES:
            db.execute(
                "INSERT INTO cookies VALUES (1,?,'','session','SMOKE-COOKIE',x'','/',9,1,1,1,1,1,1,0,2,443,1,0,0)",
                (host,))
    os.makedirs(REPO, exist_ok=True)
    git("init", "-q")
    git("remote", "add", "origin", LEGACY)
    write(MANAGED, b'organizations = ["contoso"]\n[remotes]\nfix_legacy_hosts = true\n')


def main():
    seed()
    expect(CREDENTIALS[0][0] in credential_targets(), "Credential Manager was not seeded")

    # plan: everything found, nothing changed.
    code, stdout, stderr = agent("plan", "--json")
    expect(code == 10, f"plan exited {code}: {stderr}")
    report = json.loads(stdout)
    planned = {
        task: [i for i in items(report, task) if i["status"] == "planned"]
        for task in ("gcm-tenant-cache", "credentials", "browser-sign-out", "remotes")
    }
    for task, found in planned.items():
        expect(found, f"plan: nothing planned for {task}: {json.dumps(report['tasks'], indent=1)}")
    expect(os.path.exists(TENANT_CACHE), "plan deleted the tenant cache")
    expect(len(credential_targets()) == len(CREDENTIALS), "plan changed Credential Manager")
    expect(cookie_hosts() == {h for h, _ in COOKIES}, "plan changed the cookies")
    expect(remote_url() == LEGACY, "plan changed the remote")

    # run: exactly the old identity's things go.
    code, stdout, stderr = agent("run", "--yes", "--silent")
    expect(code in (0, 10, 11), f"run exited {code}: {stdout}{stderr}")
    expect(not os.path.exists(TENANT_CACHE), "the tenant cache is still there")
    expect(os.path.exists(SIBLING), "a file next to the tenant cache went")
    targets = credential_targets()
    for target, _, _, stays in CREDENTIALS:
        expect((target in targets) == stays, f"Credential Manager: {target} {'went' if stays else 'stayed'}")
    expect(cookie_hosts() == {h for h, stays in COOKIES if stays}, f"cookies left: {cookie_hosts()}")
    expect(remote_url() == MODERN, f"remote after run: {remote_url()}")

    # plan again: nothing left to do.
    code, stdout, stderr = agent("plan", "--json")
    report = json.loads(stdout)
    again = [i for t in report["tasks"] for i in t["items"] if i["status"] == "planned"]
    expect(not again, f"a second plan still plans: {again}")

    # undo: what was journaled comes back (the remote); a deleted cache or credential is never
    # backed up, so it stays gone, and undo says so.
    code, stdout, stderr = agent("undo", "--json")
    expect(code == 0, f"undo exited {code}: {stdout}{stderr}")
    expect(remote_url() == LEGACY, f"remote after undo: {remote_url()}")
    expect(not os.path.exists(TENANT_CACHE), "a deleted cache came back")
    expect(CREDENTIALS[0][0] not in credential_targets(), "a removed credential came back")
    expect("cannot be restored" in stdout, f"undo does not say what it cannot restore: {stdout}")
    print(f"check-windows-exe: plan, run, plan, undo checked with {os.path.basename(EXE)}")


main()
