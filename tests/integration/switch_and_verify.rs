//! Waiting for the switch and proving the person can work again: the real agent binary, real
//! git (the user's `store` credential helper, `git http-backend` behind the fake Azure DevOps
//! front) and the fake Entra / Azure DevOps / Azure Artifacts endpoints of
//! `support::fake_cloud`.
//!
//! Waiting for the switch runs in every build; proving git works needs the git program and its
//! `http-backend`, which the Windows build here does not have, so those tests are Unix only.

use crate::support;

#[cfg(unix)]
use std::path::Path;
use std::path::PathBuf;

use serde_json::Value;
#[cfg(unix)]
use support::fake_cloud::ACCOUNT;
use support::fake_cloud::FakeCloud;
use support::{Sandbox, TENANT, task_items, text};

/// The documented exit code for "an organization has not switched yet".
const WAITING: i32 = 12;

fn run(sandbox: &Sandbox, cloud: &FakeCloud, args: &[&str]) -> (Option<i32>, Value, String) {
    let mut cmd = sandbox.cmd();
    cmd.args(args);
    for (k, v) in cloud.env() {
        cmd.env(k, v);
    }
    cmd.env("ADO_CUTOVER_ARTIFACTS_URL", format!("{}/pkgs", cloud.base));
    support::json_run(&mut cmd)
}

/// A tenant cache and a git credential-store line for contoso: what the old identity left.
fn old_identity(sandbox: &Sandbox) -> PathBuf {
    sandbox.seed_tenant_cache(&[("https://dev.azure.com/contoso", support::MSA)]);
    let store = sandbox.paths.home.join(".git-credentials");
    sandbox.write(
        &store,
        b"https://contoso:oldsecret@dev.azure.com/contoso\nhttps://u:keep@example.com\n",
    );
    sandbox.write(
        &sandbox.paths.home.join(".gitconfig"),
        b"[credential]\n\thelper = store\n",
    );
    store
}

fn configure(sandbox: &Sandbox, extra: &str) {
    sandbox.write_managed_config(&format!(
        "organizations = [\"contoso\"]\nexpected_tenant = \"{TENANT}\"\n{extra}"
    ));
}

/// What the old identity left, contoso configured to move, and the fake Azure DevOps still
/// showing contoso on personal Microsoft accounts.
fn not_switched_yet(sandbox: &Sandbox) -> FakeCloud {
    old_identity(sandbox);
    configure(sandbox, "");
    FakeCloud::before_the_switch(&["contoso"])
}

/// git's `store` helper keeps `token` for the test server's address (which stands in for
/// dev.azure.com), as after the person signed in.
#[cfg(unix)]
fn git_keeps(sandbox: &Sandbox, cloud: &FakeCloud, token: &str) -> PathBuf {
    let address = cloud.base.trim_start_matches("http://");
    let store = sandbox.paths.home.join(".git-credentials");
    sandbox.write(
        &store,
        format!("http://alice:{token}@{address}\n").as_bytes(),
    );
    sandbox.write(
        &sandbox.paths.home.join(".gitconfig"),
        b"[credential]\n\thelper = store\n",
    );
    store
}

fn organization(report: &Value, name: &str) -> Value {
    report["organizations"]
        .as_array()
        .and_then(|orgs| orgs.iter().find(|o| o["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("no organization {name} in {report:#}"))
}

#[test]
fn an_organization_still_on_the_old_tenant_is_left_exactly_as_it_was_until_it_switches() {
    let sandbox = Sandbox::new();
    let cloud = not_switched_yet(&sandbox);

    let before = sandbox.snapshot();
    let (code, report, _) = run(&sandbox, &cloud, &["run", "--yes", "--json"]);
    assert_eq!(code, Some(WAITING), "{report:#}");
    sandbox.assert_unchanged(&before, "a run before the switch");
    let ids: Vec<&str> = report["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["switch"], "only the switch is planned while waiting");
    let items = task_items(&report, "switch");
    assert_eq!(items[0]["status"], "skipped");
    assert!(
        items[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("contoso has not switched to the new tenant yet"),
        "{items:#?}"
    );
    assert!(
        items[0]["detail"]
            .as_str()
            .unwrap()
            .contains("nothing changed")
    );
    assert_eq!(organization(&report, "contoso")["switch"], "waiting");
    // An older server reads the report as "not everything checked", never "done".
    assert_eq!(report["outcome"], "nothing-to-do");

    // What the person and device management read.
    for (args, expected) in [
        (
            &["run", "--yes"][..],
            "Not yet: contoso has not switched to the new tenant, so nothing was changed for it",
        ),
        (
            &["run", "--silent"][..],
            "; contoso waiting for the switch;",
        ),
    ] {
        let mut cmd = sandbox.cmd();
        cmd.args(args);
        for (k, v) in cloud.env() {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(WAITING));
        assert!(
            text(&out.stdout).contains(expected),
            "{}",
            text(&out.stdout)
        );
    }
    sandbox.assert_unchanged(&before, "the runs before the switch");

    // Offline is not "switched" either.
    let mut offline = sandbox.cmd();
    offline.args(["run", "--yes", "--json"]);
    let out = offline.output().unwrap();
    assert_eq!(out.status.code(), Some(WAITING), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(organization(&report, "contoso")["switch"], "not-checked");
    sandbox.assert_unchanged(&before, "an offline run");

    // The organization switches: the next run (the logon task) cleans it.
    cloud.state.lock().unwrap().tenants.clear();
    let (code, report, _) = run(&sandbox, &cloud, &["run", "--yes", "--json"]);
    assert_ne!(code, Some(WAITING), "{report:#}");
    assert!(!sandbox.tenant_cache().exists(), "cleaned after the switch");
    let store = std::fs::read_to_string(sandbox.paths.home.join(".git-credentials")).unwrap();
    assert_eq!(store, "https://u:keep@example.com\n");
    assert_eq!(organization(&report, "contoso")["switch"], "switched");
    assert_eq!(task_items(&report, "switch")[0]["status"], "ok");
}

#[test]
fn now_acts_without_waiting() {
    let sandbox = Sandbox::new();
    let cloud = not_switched_yet(&sandbox);
    let (code, report, _) = run(
        &sandbox,
        &cloud,
        &["run", "--yes", "--json", "--now", "--skip", "verify"],
    );
    assert_ne!(code, Some(WAITING), "{report:#}");
    assert!(!sandbox.tenant_cache().exists());
    assert_eq!(organization(&report, "contoso")["switch"], "switched");
}

/// Without git on the machine (no Git for Windows; here a PATH without git), verify still asks
/// what needs no git, says plainly that git could not be asked, and never calls the
/// organization verified working. Runs in every build.
#[test]
fn without_git_nothing_is_called_verified_working() {
    let sandbox = Sandbox::new();
    configure(&sandbox, "");
    let cloud = FakeCloud::start();
    let work = sandbox.paths.home.join("src").join("app");
    std::fs::create_dir_all(&work).unwrap();
    support::repo::with_origin(&work, "https://dev.azure.com/contoso/proj/_git/app");
    let empty = tempfile::tempdir().unwrap();
    let mut cmd = sandbox.cmd();
    cmd.args(["verify", "--json"]).env("PATH", empty.path());
    for (k, v) in cloud.env() {
        cmd.env(k, v);
    }
    let (code, report, stderr) = support::json_run(&mut cmd);
    let items = task_items(&report, "verify");
    let find = |kind: &str| {
        items
            .iter()
            .find(|i| i["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {items:#?}\n{stderr}"))
            .clone()
    };
    assert_eq!(find("verify-tenant")["status"], "ok", "{items:#?}");
    let git = find("verify-git-https");
    assert_ne!(git["status"], "ok", "{git:#}");
    assert!(
        git["detail"]
            .as_str()
            .unwrap()
            .contains("git could not be started"),
        "{git:#}"
    );
    assert_ne!(find("verified")["status"], "ok", "{items:#?}");
    assert_ne!(organization(&report, "contoso")["verified"], "ok");
    assert_ne!(code, Some(0), "{report:#}");
}

/// A bare repository the git front serves as `{org}/{project}/_git/{repo}`, and a clone of it
/// at `~/src/{repo}` whose origin is the Azure DevOps URL.
#[cfg(unix)]
fn served_repo(sandbox: &Sandbox, root: &Path, org: &str, repo: &str) {
    let bare = root.join(org).join("proj").join(format!("{repo}.git"));
    std::fs::create_dir_all(&bare).unwrap();
    let git = |dir: &Path, args: &[&str]| {
        let out = sandbox
            .paths
            .command("git")
            .current_dir(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
    };
    git(&bare, &["init", "-q", "--bare"]);
    let work = sandbox.paths.home.join("src").join(repo);
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q"]);
    git(
        &work,
        &[
            "remote",
            "add",
            "origin",
            &format!("https://dev.azure.com/{org}/proj/_git/{repo}"),
        ],
    );
}

#[cfg(unix)]
fn feeds(sandbox: &Sandbox) {
    sandbox.write(
        &sandbox.paths.home.join(".npmrc"),
        b"registry=https://pkgs.dev.azure.com/contoso/_packaging/team/npm/registry/\n@other:registry=https://pkgs.dev.azure.com/contoso/_packaging/denied/npm/registry/\n",
    );
}

#[cfg(unix)] // git and git http-backend
#[test]
fn verify_proves_each_channel_with_the_credential_git_keeps_and_never_shows_it() {
    let sandbox = Sandbox::new();
    // A server that is down: the report waits in the spool, which must not hold the token
    // either.
    configure(&sandbox, "[report]\nendpoint = \"http://127.0.0.1:9\"\n");
    let cloud = FakeCloud::start();
    let root = sandbox.root.path().join("served");
    cloud.state.lock().unwrap().git_root = Some(root.clone());
    served_repo(&sandbox, &root, "contoso", "app");
    served_repo(&sandbox, &root, "contoso", "denied");
    feeds(&sandbox);
    // The person signed in since the cleanup: git's own helper keeps the new token (for the
    // test server's address, which stands in for dev.azure.com).
    let token = cloud.issue_token();
    git_keeps(&sandbox, &cloud, &token);

    let before = sandbox.snapshot();
    let (code, report, stderr) = run(&sandbox, &cloud, &["verify", "--json"]);
    sandbox.assert_unchanged(&before, "verify");
    let items = task_items(&report, "verify");
    let find = |kind: &str, target: &str| {
        items
            .iter()
            .find(|i| i["kind"] == kind && i["target"].as_str().unwrap().contains(target))
            .unwrap_or_else(|| panic!("no {kind} {target} in {items:#?}"))
            .clone()
    };
    assert_eq!(find("verify-tenant", "contoso")["status"], "ok");
    let identity = find("verify-identity", "contoso");
    assert_eq!(identity["status"], "ok", "{identity:#}");
    assert!(identity["detail"].as_str().unwrap().contains(ACCOUNT));
    assert_eq!(find("verify-git-https", "src/app")["status"], "ok");
    assert_eq!(find("verify-git-https", "src/denied")["status"], "failed");
    assert_eq!(find("verify-feed", "/team/")["status"], "ok");
    assert_eq!(find("verify-feed", "/denied/")["status"], "failed");
    let verdict = find("verified", "contoso");
    assert_eq!(verdict["status"], "failed");
    assert!(
        verdict["detail"]
            .as_str()
            .unwrap()
            .contains("Git over HTTPS: 1 of 2 repositories reachable as alice@contoso.com"),
        "{verdict:#}"
    );
    assert_eq!(organization(&report, "contoso")["verified"], "failed");
    assert_eq!(code, Some(1), "a denied repository is a failure");

    // The token never appears in what the agent says or keeps.
    let said = format!("{report}{stderr}");
    assert!(!said.contains(&token));
    let spooled = sandbox
        .agent_files()
        .into_iter()
        .filter(|(path, _)| path.to_string_lossy().contains("spool"))
        .count();
    assert!(spooled > 0, "the report is in the spool");
    sandbox.assert_not_in_agent_files(&token);
    // The check is real: git asked the front for the repository's refs.
    let raw = cloud.state.lock().unwrap().raw.join("\n");
    assert!(raw.contains("GET /ado/contoso/proj/_git/app/info/refs"));

    // Without the denied repository and feed: verified working, exit 0.
    std::fs::remove_dir_all(sandbox.paths.home.join("src").join("denied")).unwrap();
    sandbox.write(
        &sandbox.paths.home.join(".npmrc"),
        b"registry=https://pkgs.dev.azure.com/contoso/_packaging/team/npm/registry/\n",
    );
    let (code, report, _) = run(&sandbox, &cloud, &["verify", "--json"]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["outcome"], "nothing-to-do");
    assert_eq!(organization(&report, "contoso")["verified"], "ok");
}

#[cfg(unix)] // git and git http-backend
#[test]
fn without_a_sign_in_git_is_asked_with_prompts_off_and_the_person_gets_a_step() {
    let sandbox = Sandbox::new();
    configure(&sandbox, "");
    let cloud = FakeCloud::start();
    let root = sandbox.root.path().join("served");
    cloud.state.lock().unwrap().git_root = Some(root.clone());
    served_repo(&sandbox, &root, "contoso", "app");
    let (code, report, _) = run(&sandbox, &cloud, &["verify", "--json", "--silent"]);
    assert_eq!(code, Some(10), "{report:#}");
    let items = task_items(&report, "verify");
    let git = items
        .iter()
        .find(|i| i["kind"] == "verify-git-https")
        .unwrap();
    assert_eq!(git["status"], "needs-user", "{git:#}");
    let identity = items
        .iter()
        .find(|i| i["kind"] == "verify-identity")
        .unwrap();
    assert_eq!(identity["status"], "needs-user");
    assert!(
        identity["detail"]
            .as_str()
            .unwrap()
            .contains("git has no saved sign-in for contoso")
    );

    // A stale credential (the old identity's token): Azure DevOps and the git front answer
    // 401, and the person is asked to sign in again; the credential stays where it was.
    let store = git_keeps(&sandbox, &cloud, "stale-old-token");
    let before = std::fs::read(&store).unwrap();
    let (code, report, _) = run(&sandbox, &cloud, &["verify", "--json", "--silent"]);
    assert_eq!(code, Some(10), "{report:#}");
    let items = task_items(&report, "verify");
    for kind in ["verify-identity", "verify-git-https"] {
        let item = items.iter().find(|i| i["kind"] == kind).unwrap();
        assert_eq!(item["status"], "needs-user", "{item:#}");
    }
    let git = items
        .iter()
        .find(|i| i["kind"] == "verify-git-https")
        .unwrap();
    assert!(
        git["detail"]
            .as_str()
            .unwrap()
            .contains("git could not sign in"),
        "{git:#}"
    );
    assert_eq!(
        std::fs::read(&store).unwrap(),
        before,
        "a check never erases"
    );
    assert!(!report.to_string().contains("stale-old-token"));
}

#[cfg(unix)] // git and git http-backend
#[test]
fn an_account_that_is_not_a_member_or_never_signed_in_gets_plain_steps() {
    let sandbox = Sandbox::new();
    sandbox.write_managed_config(&format!(
        "organizations = [\"notmember\", \"firstsignin\", \"unused\"]\nexpected_tenant = \"{TENANT}\"\n"
    ));
    // Feeds of the two organizations this machine uses; `unused` is configured for the fleet
    // but has nothing here to prove.
    sandbox.write(
        &sandbox.paths.home.join(".npmrc"),
        b"registry=https://pkgs.dev.azure.com/notmember/_packaging/f/npm/registry/\n@x:registry=https://pkgs.dev.azure.com/firstsignin/_packaging/f/npm/registry/\n",
    );
    let cloud = FakeCloud::start();
    let token = cloud.issue_token();
    git_keeps(&sandbox, &cloud, &token);
    let (code, report, _) = run(&sandbox, &cloud, &["verify", "--json"]);
    assert_eq!(code, Some(10), "{report:#}");
    let items = task_items(&report, "verify");
    let identity = |org: &str| {
        items
            .iter()
            .find(|i| i["kind"] == "verify-identity" && i["target"] == org)
            .unwrap()
            .clone()
    };
    let other = identity("notmember");
    assert_eq!(other["status"], "needs-user");
    assert!(
        other["detail"]
            .as_str()
            .unwrap()
            .contains("is not a member of notmember"),
        "{other:#}"
    );
    let first = identity("firstsignin");
    assert!(
        first["detail"]
            .as_str()
            .unwrap()
            .contains("sign in once in a web browser"),
        "{first:#}"
    );
    assert!(
        items.iter().all(|i| i["target"] != "unused"),
        "an organization this machine does not use is not checked: {items:#?}"
    );
    assert!(!report.to_string().contains(&token));
}

#[cfg(unix)] // git and git http-backend
#[test]
fn with_a_person_there_one_sign_in_serves_every_check_and_git_gets_it_for_one_command() {
    let sandbox = Sandbox::new();
    configure(
        &sandbox,
        &format!(
            "[entra]\nclient_id = \"{}\"\n",
            support::fake_cloud::CLIENT_ID
        ),
    );
    let cloud = FakeCloud::start();
    let root = sandbox.root.path().join("served");
    cloud.state.lock().unwrap().git_root = Some(root.clone());
    served_repo(&sandbox, &root, "contoso", "app");
    served_repo(&sandbox, &root, "contoso", "web");
    feeds(&sandbox);
    let mut cmd = sandbox.cmd();
    cmd.args(["verify", "--json"])
        .env("ADO_CUTOVER_BROWSER", sandbox.browser_script())
        .env("ADO_CUTOVER_ARTIFACTS_URL", format!("{}/pkgs", cloud.base))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY");
    for (k, v) in cloud.env() {
        cmd.env(k, v);
    }
    let (_, report, stderr) = support::json_run(&mut cmd);
    let items = task_items(&report, "verify");
    let git: Vec<&Value> = items
        .iter()
        .filter(|i| i["kind"] == "verify-git-https")
        .collect();
    assert_eq!(git.len(), 2);
    for item in &git {
        assert_eq!(item["status"], "ok", "{item:#}");
        assert!(
            item["detail"]
                .as_str()
                .unwrap()
                .contains("with your sign-in")
        );
    }
    let sign_ins = cloud
        .requests()
        .iter()
        .filter(|r| r.contains("/oauth2/v2.0/authorize"))
        .count();
    assert_eq!(sign_ins, 1, "one sign-in for the whole run");
    // git got the token as a Bearer header, from its environment.
    let raw = cloud
        .state
        .lock()
        .unwrap()
        .raw
        .join("\n")
        .to_ascii_lowercase();
    assert!(
        raw.contains("get /ado/contoso/proj/_git/app/info/refs")
            && raw.contains("authorization: bearer at-"),
        "{raw}"
    );
    let said = format!("{report}{stderr}");
    assert!(!said.contains("at-1-secret"));
    sandbox.assert_not_in_agent_files("at-1-secret");
}
