//! Task `remotes` end to end, on repositories made with libgit2 in a sandboxed home (so the tests
//! run in the Windows build too):
//! every remote URL form, look-alikes that must not match, an insteadOf rule, a worktree, a bare
//! repository, unpushed work, and the opt-in fixes with `undo`.

use crate::support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::repo::{self as git, remote_url};
use support::{Sandbox, text};

const SECRET: &str = "SECRETPAT0123456789";

struct Machine {
    sandbox: Sandbox,
    legacy_https: PathBuf,
    legacy_ssh: PathBuf,
    with_pat: PathBuf,
    by_rule: PathBuf,
    modern: PathBuf,
    untouched: Vec<(PathBuf, String)>,
}

fn machine() -> Machine {
    let sandbox = Sandbox::new();
    std::fs::write(
        sandbox.paths.home.join(".gitconfig"),
        "[user]\n\tname = Test\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n\
         [url \"https://contoso.visualstudio.com/\"]\n\tinsteadOf = ado:\n",
    )
    .unwrap();
    let legacy_https = git::at_home(
        &sandbox,
        "src/web",
        "https://contoso.visualstudio.com/DefaultCollection/My%20Project/_git/web",
    );
    let legacy_ssh = git::at_home(
        &sandbox,
        "src/api",
        "contoso@vs-ssh.visualstudio.com:v3/contoso/proj/api",
    );
    let with_pat = git::at_home(
        &sandbox,
        "src/pat",
        &format!("https://alice:{SECRET}@dev.azure.com/contoso/proj/_git/pat"),
    );
    let by_rule = git::at_home(&sandbox, "src/rule", "ado:proj/_git/rule");

    // A clone with work that was never pushed, and a worktree of it.
    let server = sandbox.under_home("srv/modern.git");
    git::init_bare(&server);
    let modern = git::at_home(
        &sandbox,
        "src/modern",
        "https://dev.azure.com/contoso/proj/_git/modern",
    );
    let mut clone = git::open(&modern);
    let pushed = git::commit_file(&clone, "a", "1", "one");
    git::track_origin_main(&clone, pushed);
    git::commit_file(&clone, "a", "2", "two");
    git::add_worktree(&clone, &sandbox.under_home("src/modern-wt"), "wt");
    std::fs::write(modern.join("a"), "3").unwrap();
    git::stash(&mut clone);
    // A submodule (its `.git` is a file) whose remote is on the old host.
    git::add_submodule(
        &clone,
        "lib",
        "https://contoso.visualstudio.com/proj/_git/lib",
    );

    let mut untouched = Vec::new();
    for (rel, url) in [
        ("other/github", "https://github.com/contoso/web.git"),
        (
            "other/lookalike",
            "https://dev.azure.com.evil.example/contoso/proj/_git/web",
        ),
        (
            "other/vs-lookalike",
            "https://contoso.visualstudio.com.evil.example/proj/_git/web",
        ),
        (
            "other/fabrikam",
            "https://fabrikam.visualstudio.com/proj/_git/web",
        ),
        (
            "app/node_modules/dep",
            "https://contoso.visualstudio.com/proj/_git/dep",
        ),
    ] {
        untouched.push((git::at_home(&sandbox, rel, url), url.to_string()));
    }
    Machine {
        sandbox,
        legacy_https,
        legacy_ssh,
        with_pat,
        by_rule,
        modern,
        untouched,
    }
}

fn items(report: &Value) -> Vec<Value> {
    support::task_items(report, "remotes")
}

fn item<'a>(items: &'a [Value], target_prefix: &str, kind: &str) -> &'a Value {
    items
        .iter()
        .find(|i| i["kind"] == kind && i["target"].as_str().unwrap().starts_with(target_prefix))
        .unwrap_or_else(|| panic!("no {kind} item for {target_prefix}: {items:#?}"))
}

fn shown(sandbox: &Sandbox, path: &Path) -> String {
    sandbox.paths.display(path)
}

#[test]
fn plan_finds_every_form_and_fixes_nothing_without_permission() {
    let m = machine();
    let before = m.sandbox.snapshot();
    let out = m
        .sandbox
        .cmd()
        .args([
            "run", "--yes", "--json", "--only", "remotes", "--org", "contoso",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(10), "{}", text(&out.stderr));
    m.sandbox
        .assert_unchanged(&before, "a run without the opt-in");
    assert!(!text(&out.stdout).contains(SECRET), "the token leaked");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = items(&report);

    let web = item(
        &items,
        &format!("{} (origin)", shown(&m.sandbox, &m.legacy_https)),
        "remote-url",
    );
    assert_eq!(web["status"], "needs-user");
    let detail = web["detail"].as_str().unwrap();
    assert!(detail.contains("old visualstudio.com address"), "{detail}");
    assert!(
        detail.contains("https://dev.azure.com/contoso/My%20Project/_git/web"),
        "{detail}"
    );

    let api = item(&items, &shown(&m.sandbox, &m.legacy_ssh), "remote-url");
    assert!(
        api["detail"]
            .as_str()
            .unwrap()
            .contains("git@ssh.dev.azure.com:v3/contoso/proj/api")
    );

    let pat = item(&items, &shown(&m.sandbox, &m.with_pat), "remote-url");
    let detail = pat["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(
            "https://alice:***@dev.azure.com/contoso/proj/_git/pat has a password or token"
        ),
        "{detail}"
    );

    let rule = item(&items, &shown(&m.sandbox, &m.by_rule), "remote-url");
    assert!(
        rule["detail"].as_str().unwrap().contains("insteadOf rule"),
        "{rule}"
    );

    let lib = m.modern.join("lib");
    let submodule = item(&items, &shown(&m.sandbox, &lib), "remote-url");
    let detail = submodule["detail"].as_str().unwrap();
    assert!(detail.contains("old visualstudio.com address"), "{detail}");
    let local = item(&items, &shown(&m.sandbox, &m.modern), "local-work");
    let detail = local["detail"].as_str().unwrap();
    assert!(detail.contains("1 stash"), "{detail}");
    let unpushed = item(&items, &shown(&m.sandbox, &m.modern), "unpushed-work");
    assert_eq!(unpushed["status"], "needs-user");
    assert!(
        unpushed["detail"]
            .as_str()
            .unwrap()
            .contains("has 1 commit not pushed to origin/main")
    );

    for (path, _) in &m.untouched {
        let target = shown(&m.sandbox, path);
        assert!(
            !items
                .iter()
                .any(|i| i["target"].as_str().unwrap().starts_with(&target)),
            "{target} is not ours: {items:#?}"
        );
    }
    // Offline (the sandbox points lookups at a closed port): said, not failed.
    let contoso = item(&items, "contoso", "organization");
    assert!(
        contoso["detail"]
            .as_str()
            .unwrap()
            .contains("could not check"),
        "{contoso}"
    );
    let summary = item(&items, "~", "remotes-summary");
    let detail = summary["detail"].as_str().unwrap();
    assert!(detail.contains("12 repositories, 6 on Azure DevOps; 4 legacy URLs, 1 URL with credentials, 1 repository with unpushed commits"), "{detail}");
}

#[test]
fn opted_in_fixes_rewrite_urls_and_undo_restores_what_it_may() {
    let m = machine();
    m.sandbox.write_managed_config(
        "organizations = [\"contoso\"]\n[remotes]\nremove_url_credentials = true\n",
    );
    let lib = m.modern.join("lib");
    let originals: Vec<(PathBuf, String)> = [&m.legacy_https, &m.legacy_ssh, &m.by_rule, &lib]
        .iter()
        .map(|p| ((*p).clone(), remote_url(p, "origin")))
        .collect();

    let plan = m
        .sandbox
        .cmd()
        .args(["plan", "--json", "--only", "remotes", "--fix-legacy-hosts"])
        .output()
        .unwrap();
    let planned: Vec<Value> = items(&serde_json::from_slice(&plan.stdout).unwrap())
        .into_iter()
        .filter(|i| i["status"] == "planned")
        .collect();
    assert_eq!(planned.len(), 4, "{planned:#?}");

    let run = m
        .sandbox
        .cmd()
        .args([
            "run",
            "--yes",
            "--json",
            "--only",
            "remotes",
            "--fix-legacy-hosts",
        ])
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(10),
        "unpushed work and the rule remain: {}",
        text(&run.stdout)
    );
    // None of these URLs matches the `insteadOf` rule, so the configured URL is the one git uses.
    let url = |p: &Path| remote_url(p, "origin");
    assert_eq!(
        url(&m.legacy_https),
        "https://dev.azure.com/contoso/My%20Project/_git/web"
    );
    assert_eq!(
        url(&m.legacy_ssh),
        "git@ssh.dev.azure.com:v3/contoso/proj/api"
    );
    assert_eq!(
        url(&m.with_pat),
        "https://dev.azure.com/contoso/proj/_git/pat"
    );
    assert_eq!(remote_url(&m.by_rule, "origin"), "ado:proj/_git/rule");
    for (path, original) in &m.untouched {
        assert_eq!(&url(path), original);
    }

    let again = m
        .sandbox
        .cmd()
        .args(["plan", "--json", "--only", "remotes", "--fix-legacy-hosts"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert!(
        items(&report).iter().all(|i| i["status"] != "planned"),
        "a second run changes nothing"
    );

    let undo = m.sandbox.cmd().args(["undo", "--json"]).output().unwrap();
    assert_eq!(undo.status.code(), Some(0), "{}", text(&undo.stdout));
    for (path, original) in &originals {
        assert_eq!(&remote_url(path, "origin"), original);
    }
    assert_eq!(
        url(&m.with_pat),
        "https://dev.azure.com/contoso/proj/_git/pat",
        "a removed token is not put back"
    );
    assert!(text(&undo.stdout).contains("cannot be restored"));

    // The token is nowhere in the agent's files.
    m.sandbox.assert_not_in_agent_files(SECRET);
}

/// An unreadable folder becomes a warning in the report, not a failure. Root reads everything,
/// so when the tests run as root the agent runs as `nobody` (util-linux `setpriv`).
#[cfg(target_os = "linux")]
#[test]
fn an_unreadable_folder_is_a_warning_not_a_failure() {
    use std::os::unix::fs::PermissionsExt;
    let sandbox = Sandbox::new();
    let locked = sandbox.paths.home.join("locked");
    std::fs::create_dir_all(locked.join("inside/.git")).unwrap();
    let root = std::process::Command::new("id").arg("-u").output().unwrap();
    let as_root = text(&root.stdout).trim() == "0";
    let mut cmd = if as_root {
        // Let `nobody` into the sandbox (and write its data there), but not into `locked`.
        let status = std::process::Command::new("chmod")
            .args(["-R", "a+rwX"])
            .arg(sandbox.root.path())
            .status()
            .unwrap();
        assert!(status.success());
        let mut cmd = std::process::Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_ado-cutover"))
            .env(ado_cutover::agent::SANDBOX_VAR, sandbox.root.path())
            .env(
                ado_cutover::agent::AZURE_DEVOPS_URL_VAR,
                "http://127.0.0.1:9",
            )
            .stdin(std::process::Stdio::null());
        cmd
    } else {
        sandbox.cmd()
    };
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let out = cmd
        .args(["plan", "--json", "--only", "remotes"])
        .output()
        .unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = items(&report);
    let warning = item(&items, "scan", "scan-warning");
    let detail = warning["detail"].as_str().unwrap();
    assert!(detail.contains("locked"), "{detail}");
    assert!(items.iter().all(|i| i["status"] != "failed"), "{items:#?}");
}

/// A repository whose `.git` file points its git directory outside the home folder is
/// reported, never changed: its configuration is not a file ado-cutover may write.
#[test]
fn a_repository_whose_git_directory_is_elsewhere_is_reported_not_changed() {
    let sandbox = Sandbox::new();
    let elsewhere = sandbox.root.path().join("elsewhere/web.git");
    let work = sandbox.paths.home.join("src/web");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(elsewhere.parent().unwrap()).unwrap();
    let legacy = "https://contoso.visualstudio.com/proj/_git/web";
    git::init_separate(&work, &elsewhere)
        .remote("origin", legacy)
        .unwrap();
    let config = elsewhere.join("config");
    let before = std::fs::read(&config).unwrap();
    sandbox.write_managed_config(
        "organizations = [\"contoso\"]\n[remotes]\nfix_legacy_hosts = true\n",
    );
    let run = sandbox
        .cmd()
        .args(["run", "--yes", "--json", "--only", "remotes"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    let item = support::task_items(&report, "remotes")
        .into_iter()
        .find(|i| i["kind"] == "remote-url")
        .expect("the legacy remote is reported");
    assert_eq!(item["status"], "needs-user", "{item:#}");
    assert!(
        item["detail"]
            .as_str()
            .unwrap()
            .contains("outside the folders"),
        "{item:#}"
    );
    assert_eq!(std::fs::read(&config).unwrap(), before, "not changed");
}

/// A repository with more remotes than any needs: the first thousand are checked, the rest
/// are counted, not read one by one.
#[test]
fn thousands_of_remotes_are_capped_and_said() {
    let sandbox = Sandbox::new();
    let dir = git::at_home(
        &sandbox,
        "src/many",
        "https://contoso.visualstudio.com/proj/_git/r0",
    );
    let extra: String = (1..1005)
        .map(|i| {
            format!(
                "[remote \"r{i:04}\"]\n\turl = https://contoso.visualstudio.com/proj/_git/r{i}\n"
            )
        })
        .collect();
    let config = dir.join(".git/config");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&extra);
    std::fs::write(&config, text).unwrap();
    let plan = sandbox
        .cmd()
        .args(["plan", "--json", "--only", "remotes"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&plan.stdout).unwrap();
    let items = support::task_items(&report, "remotes");
    let note = items
        .iter()
        .find(|i| i["kind"] == "repository")
        .expect("the cap is said");
    assert!(
        note["detail"]
            .as_str()
            .unwrap()
            .starts_with("has 1005 remotes; only the first 1000 were checked"),
        "{note:#}"
    );
    let checked = items.iter().filter(|i| i["kind"] == "remote-url").count();
    assert_eq!(checked, 1000);
}

/// A run killed while libgit2 wrote a repository's configuration leaves git's `config.lock`
/// (found by the crash-safety script): the next run takes it away, since the journal says its
/// write was under way, and makes the change; a lock the journal knows nothing of is git's and
/// stays. The killed state is made exactly: a real run's change taken back, its confirmation
/// taken out of the journal, and the lock libgit2 had written.
#[test]
fn a_config_lock_a_killed_run_left_is_taken_away_and_the_change_made() {
    let sandbox = Sandbox::new();
    let legacy = git::at_home(
        &sandbox,
        "src/web",
        "https://contoso.visualstudio.com/p/_git/web",
    );
    let config = legacy.join(".git").join("config");
    let before = std::fs::read(&config).unwrap();
    let args = [
        "run",
        "--yes",
        "--json",
        "--only",
        "remotes",
        "--fix-legacy-hosts",
    ];
    let first = sandbox.cmd().args(args).output().unwrap();
    let after = std::fs::read(&config).unwrap();
    assert_ne!(before, after, "{}", text(&first.stdout));
    support::unconfirm_in_journal(&sandbox, |change| change["key"] == "remote.origin.url");
    let journal = sandbox.paths.data_dir.join("journal.jsonl");
    std::fs::write(&config, &before).unwrap();
    let lock = legacy.join(".git").join("config.lock");
    std::fs::write(&lock, &after).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));

    let second = sandbox.cmd().args(args).output().unwrap();
    assert!(!lock.exists(), "{}", text(&second.stdout));
    assert_eq!(std::fs::read(&config).unwrap(), after, "the change made");
    assert_eq!(
        remote_url(&legacy, "origin"),
        "https://dev.azure.com/contoso/p/_git/web"
    );

    // A lock no interrupted run of ours explains is git's own: it stays, the change waits.
    std::fs::write(&config, &before).unwrap();
    std::fs::write(&journal, "").unwrap();
    std::fs::write(&lock, &after).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    let third = sandbox.cmd().args(args).output().unwrap();
    assert!(lock.exists(), "{}", text(&third.stdout));
    assert_eq!(std::fs::read(&config).unwrap(), before);
}
