//! Cleanup correctness: one `run` clears everything the old identity left, exactly where Git
//! Credential Manager and git keep it, and nothing else. Each test names a way a run used to
//! fall short (several organizations in one file, host-wide credentials, git configuration
//! outside `~/.gitconfig`, moved file stores, `credential.<url>.username` pins, personal-account
//! evidence); `gcm_conformance` checks our reading of URLs and headers against GCM's own unit
//! tests. Seeded with plain files and libgit2, so every test here also runs in the Windows build.

use crate::support;

mod gcm_conformance;

use std::path::Path;

use serde_json::Value;
use support::fake_cloud::FakeCloud;
use support::{PLAN_CONTOSO, RUN_CONTOSO, Sandbox, task_items, text};

/// The report of `args` (which must include `--json`), with its exit code.
fn report(sandbox: &Sandbox, args: &[&str], extra_env: &[(&str, &str)]) -> (Value, Option<i32>) {
    let out = sandbox
        .cmd()
        .args(args)
        .envs(extra_env.iter().copied())
        .output()
        .unwrap();
    let value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("not JSON: {}\n{}", text(&out.stdout), text(&out.stderr)));
    (value, out.status.code())
}

/// `(kind, target, status)` of each credentials item.
fn items(report: &Value) -> Vec<(String, String, String)> {
    task_items(report, "credentials")
        .iter()
        .map(|i| {
            (
                i["kind"].as_str().unwrap().to_string(),
                i["target"].as_str().unwrap().replace('\\', "/"),
                i["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// `key` in the git configuration file `file` (read with libgit2), if set.
pub(crate) fn config_value(file: &Path, key: &str) -> Option<String> {
    git2::Config::open(file).unwrap().get_string(key).ok()
}

const RUN: &[&str] = &["run", "--yes", "--json", "--only", "credentials"];
const PLAN: &[&str] = &["plan", "--json", "--only", "credentials"];

#[test]
fn host_wide_credentials_with_a_plain_user_name_are_reported_not_taken_for_an_organization() {
    let sandbox = Sandbox::new();
    let path = sandbox.paths.home.join(".git-credentials");
    let content = "https://jdoe:SECRETJDOE@dev.azure.com\n\
                   https://contoso:SECRETHOSTORG@dev.azure.com\n\
                   https://a:SECRETPATH@dev.azure.com/contoso/p/_git/r\n";
    sandbox.write(&path, content.as_bytes());

    // Configured and offline: contoso's two forms go together; jdoe is nobody's to decide.
    let args = RUN_CONTOSO;
    let (run, code) = report(&sandbox, args, &[]);
    assert_eq!(code, Some(10), "a step is left for the person: {run:#}");
    assert_eq!(
        items(&run),
        [
            (
                "credential-store".into(),
                "~/.git-credentials (contoso)".into(),
                "done".into()
            ),
            (
                "credential-store".into(),
                "~/.git-credentials (dev.azure.com)".into(),
                "needs-user".into()
            ),
        ]
    );
    let jdoe = &task_items(&run, "credentials")[1];
    let detail = jdoe["detail"].as_str().unwrap();
    assert!(detail.contains("names no organization"), "{detail}");
    assert!(detail.contains("clear_unattributed"), "{detail}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "https://jdoe:SECRETJDOE@dev.azure.com\n"
    );

    // Nothing configured, online: Azure DevOps has no organization jdoe, so it is still reported.
    let fake = FakeCloud::start();
    let ado = fake.ado_base();
    let online = [(ado_cutover::agent::AZURE_DEVOPS_URL_VAR, ado.as_str())];
    let (plan, _) = report(&sandbox, PLAN, &online);
    assert_eq!(
        items(&plan),
        [(
            "credential-store".into(),
            "~/.git-credentials (dev.azure.com)".into(),
            "needs-user".into()
        )]
    );
    // The admin's setting clears it.
    sandbox.write_managed_config("[credentials]\nclear_unattributed = true\n");
    let (_, code) = report(&sandbox, RUN, &online);
    assert_eq!(code, Some(0));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    for secret in ["SECRETJDOE", "SECRETHOSTORG", "SECRETPATH"] {
        sandbox.assert_not_in_agent_files(secret);
    }
}

#[test]
fn a_host_wide_credential_named_for_a_moved_organization_is_that_organization_s() {
    let sandbox = Sandbox::new();
    let path = sandbox.paths.home.join(".git-credentials");
    sandbox.write(
        &path,
        b"https://contoso:S1@dev.azure.com\nhttps://msaorg:S2@dev.azure.com\n",
    );
    let fake = FakeCloud::start();
    let ado = fake.ado_base();
    let online = [(ado_cutover::agent::AZURE_DEVOPS_URL_VAR, ado.as_str())];
    let (_, code) = report(&sandbox, RUN, &online);
    assert_eq!(code, Some(0));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "https://msaorg:S2@dev.azure.com\n",
        "contoso moved to Entra; msaorg is an organization still on personal accounts"
    );
}

/// `~/.config/git/config`, and files `~/.gitconfig` includes, hold GCM state too; each change
/// lands in the file that holds the key, and `undo` puts it back there.
#[test]
fn gcm_state_is_found_in_the_xdg_config_and_included_files() {
    let sandbox = Sandbox::new();
    let home = &sandbox.paths.home;
    let gitconfig = home.join(".gitconfig");
    let xdg = home.join(".config/git/config");
    let work = home.join("work.gitconfig");
    let main_text = "[user]\n\tname = A\n[include]\n\tpath = ~/work.gitconfig\n\
                     [includeIf \"gitdir:~/src/\"]\n\tpath = src.gitconfig\n";
    sandbox.write(&gitconfig, main_text.as_bytes());
    sandbox.write(
        &xdg,
        b"[credential \"azrepos:org/contoso\"]\n\tusername = alice@old.example\n",
    );
    sandbox.write(
        &work,
        b"[credential \"azrepos:org/contoso\"]\n\tazureAuthority = https://login.microsoftonline.com/organizations\n\
          [credential]\n\tnamespace = corp\n",
    );
    let src = home.join("src.gitconfig");
    sandbox.write(
        &src,
        b"[credential \"azrepos:org/fabrikam\"]\n\tusername = bob@example.com\n\
          [credential \"azrepos:org/contoso\"]\n\tusername = alice@src.example\n",
    );
    // A credential under the namespace the included file sets.
    let corp = home.join(".gcm/store/corp/https/dev.azure.com/contoso/alice.credential");
    sandbox.write(
        &corp,
        b"SECRETCORP\nservice=https://dev.azure.com/contoso\n",
    );

    let args = RUN_CONTOSO;
    let (run, code) = report(&sandbox, args, &[]);
    assert_eq!(code, Some(0), "{run:#}");
    let key = "credential.azrepos:org/contoso.username";
    assert_eq!(config_value(&xdg, key), None);
    assert_eq!(config_value(&src, key), None);
    assert_eq!(
        config_value(&work, "credential.azrepos:org/contoso.azureauthority"),
        None
    );
    assert_eq!(
        config_value(&src, "credential.azrepos:org/fabrikam.username").as_deref(),
        Some("bob@example.com")
    );
    assert_eq!(std::fs::read_to_string(&gitconfig).unwrap(), main_text);
    assert!(!corp.exists(), "the corp namespace's credential went");

    let undo = sandbox.cmd().arg("undo").output().unwrap();
    assert_eq!(undo.status.code(), Some(0), "{}", text(&undo.stdout));
    assert_eq!(
        config_value(&xdg, key).as_deref(),
        Some("alice@old.example")
    );
    assert_eq!(
        config_value(&src, key).as_deref(),
        Some("alice@src.example")
    );
    assert_eq!(
        config_value(&work, "credential.azrepos:org/contoso.azureauthority").as_deref(),
        Some("https://login.microsoftonline.com/organizations")
    );
}

/// GCM's file stores where git configuration moved them, under `http/` as well as `https/`, and
/// with whole repository paths under a legacy host; never outside the sandbox.
#[test]
fn gcm_file_stores_are_found_wherever_gcm_keeps_them() {
    let sandbox = Sandbox::new();
    let home = &sandbox.paths.home;
    let elsewhere = tempfile::tempdir().unwrap();
    let outside = elsewhere
        .path()
        .join("git/https/dev.azure.com/contoso/alice.gpg");
    sandbox.write(&outside, b"ENCRYPTED");
    sandbox.write(
        &home.join(".gitconfig"),
        format!(
            "[credential]\n\tplaintextStorePath = ~/creds\n\tcredentialStore = plaintext\n\tgpgPassStorePath = {}\n",
            elsewhere.path().display().to_string().replace('\\', "/")
        )
        .as_bytes(),
    );
    let gone = [
        home.join("creds/git/https/contoso.visualstudio.com/proj/_git/repo/alice.credential"),
        home.join("creds/git/https/dev.azure.com/contoso/alice.credential"),
        home.join(".gcm/store/git/http/dev.azure.com/contoso/alice.credential"),
        home.join(".gcm/store/git/https/dev.azure.com/contoso/proj/_git/r/alice.credential"),
    ];
    let kept = [
        home.join("creds/git/https/dev.azure.com/fabrikam/bob.credential"),
        // GCM's folder for another port: `host:port`, or `host-port` on Windows (no `:` there).
        home.join(format!(
            "creds/git/https/dev.azure.com{}8443/contoso/alice.credential",
            if cfg!(windows) { "-" } else { ":" }
        )),
        home.join("creds/git/https/github.com/contoso/alice.credential"),
        home.join("creds/git/https/dev.azure.com/contoso/notes.txt"),
    ];
    let host_wide = home.join(".gcm/store/git/https/dev.azure.com/alice@contoso.com.credential");
    for path in gone.iter().chain(&kept).chain([&host_wide]) {
        sandbox.write(path, b"SECRETFILE\nservice=x\naccount=a\n");
    }
    let args = RUN_CONTOSO;
    let (run, code) = report(&sandbox, args, &[]);
    assert_eq!(code, Some(10), "the host-wide one is the person's: {run:#}");
    for path in &gone {
        assert!(!path.exists(), "{} is still there", path.display());
    }
    for path in kept.iter().chain([&host_wide, &outside]) {
        assert!(path.exists(), "{} must stay", path.display());
    }
    let statuses: Vec<String> = items(&run).into_iter().map(|(_, _, s)| s).collect();
    assert_eq!(statuses.iter().filter(|s| *s == "done").count(), gone.len());
    assert_eq!(
        statuses.iter().filter(|s| *s == "needs-user").count(),
        1,
        "{run:#}"
    );
}

/// `credential.<url>.username` pins an account for Azure DevOps like a user name in a remote
/// URL: reported and cleared (journaled) for moved organizations, globally and per repository.
#[test]
fn username_pins_for_azure_devops_urls_are_cleared_and_undo_restores_them() {
    let sandbox = Sandbox::new();
    let home = &sandbox.paths.home;
    let global = home.join(".gitconfig");
    sandbox.write(
        &global,
        b"[credential \"https://dev.azure.com/contoso\"]\n\tusername = alice@old.example\n\
          [credential \"https://dev.azure.com/fabrikam\"]\n\tusername = bob@example.com\n\
          [credential \"https://github.com\"]\n\tusername = alice\n",
    );
    let repo_dir = home.join("src/web");
    let repo = git2::Repository::init(&repo_dir).unwrap();
    let local = repo.path().join("config");
    repo.config()
        .unwrap()
        .open_level(git2::ConfigLevel::Local)
        .unwrap()
        .set_str(
            "credential.https://contoso.visualstudio.com.username",
            "alice@old.example",
        )
        .unwrap();

    let plan_args = PLAN_CONTOSO;
    let (plan, _) = report(&sandbox, plan_args, &[]);
    let planned: Vec<String> = items(&plan)
        .into_iter()
        .filter(|(_, _, status)| status == "planned")
        .map(|(_, target, _)| target)
        .collect();
    assert_eq!(planned.len(), 2, "{plan:#}");
    assert!(planned[0].ends_with("credential.https://dev.azure.com/contoso.username"));

    let args = RUN_CONTOSO;
    let (_, code) = report(&sandbox, args, &[]);
    assert_eq!(code, Some(0));
    assert_eq!(
        config_value(&global, "credential.https://dev.azure.com/contoso.username"),
        None
    );
    assert_eq!(
        config_value(
            &local,
            "credential.https://contoso.visualstudio.com.username"
        ),
        None
    );
    assert_eq!(
        config_value(
            &global,
            "credential.https://dev.azure.com/fabrikam.username"
        )
        .as_deref(),
        Some("bob@example.com")
    );
    assert_eq!(
        config_value(&global, "credential.https://github.com.username").as_deref(),
        Some("alice")
    );
    let undo = sandbox.cmd().arg("undo").output().unwrap();
    assert_eq!(undo.status.code(), Some(0), "{}", text(&undo.stdout));
    assert_eq!(
        config_value(&global, "credential.https://dev.azure.com/contoso.username").as_deref(),
        Some("alice@old.example")
    );
    assert_eq!(
        config_value(
            &local,
            "credential.https://contoso.visualstudio.com.username"
        )
        .as_deref(),
        Some("alice@old.example")
    );
}

/// The user steps that follow what the run found: the personal-account steps on any sign of a
/// personal account (here GCM's cached `/organizations` authority, no tenant cache at all), and
/// signing in again and making new tokens once old credentials go.
#[test]
fn personal_account_and_sign_in_steps_follow_the_evidence() {
    let sandbox = Sandbox::new();
    let home = &sandbox.paths.home;
    sandbox.write(
        &home.join(".gitconfig"),
        b"[credential \"azrepos:org/contoso\"]\n\tazureAuthority = https://login.microsoftonline.com/organizations\n",
    );
    let steps = |report: &Value| -> Vec<String> {
        task_items(report, "guidance")
            .iter()
            .filter(|i| i["status"] == "needs-user")
            .map(|i| i["target"].as_str().unwrap().to_string())
            .collect()
    };
    let (plan, _) = report(&sandbox, &["plan", "--json", "--org", "contoso"], &[]);
    assert_eq!(
        steps(&plan),
        [
            "rename-personal-account",
            "move-visual-studio-subscription",
            "sign-in-with-work-account"
        ]
    );
    sandbox.write(
        &home.join(".git-credentials"),
        b"https://a:OLDPAT@dev.azure.com/contoso\n",
    );
    let (plan, _) = report(&sandbox, &["plan", "--json", "--org", "contoso"], &[]);
    assert_eq!(
        steps(&plan)[2..],
        [
            "sign-in-with-work-account",
            "make-new-personal-access-tokens"
        ]
    );

    // Nothing configured: a lookup answering with the personal-account tenant is evidence too.
    let sandbox = Sandbox::new();
    sandbox.write(
        &sandbox.paths.home.join(".git-credentials"),
        b"https://a:S@dev.azure.com/msaorg\n",
    );
    let fake = FakeCloud::start();
    let (plan, _) = report(
        &sandbox,
        &["plan", "--json", "--only", "credentials,guidance"],
        &[(
            ado_cutover::agent::AZURE_DEVOPS_URL_VAR,
            fake.ado_base().as_str(),
        )],
    );
    assert_eq!(
        steps(&plan),
        ["rename-personal-account", "move-visual-studio-subscription"],
        "msaorg has not moved: nothing is cleared, so no sign-in step"
    );
}

/// A run killed mid-write leaves its temporary file and, in the middle of rewriting git's
/// credential store, git's lock with the agent's mark in it (.ci/crash-safety.py found both).
/// The next run removes them and finishes; a lock of git's own is still respected.
#[test]
fn what_a_killed_run_left_is_cleared_by_the_next_and_git_s_own_lock_is_respected() {
    let sandbox = Sandbox::new();
    let home = &sandbox.paths.home;
    let store = home.join(".git-credentials");
    sandbox.write(
        &store,
        b"https://a:SECRET1@dev.azure.com/contoso\nhttps://gh:KEEP@github.com\n",
    );
    // What `fsutil::take_git_lock` writes into the lock it holds (a format both must keep).
    let lock = home.join(".git-credentials.lock");
    sandbox.write(&lock, b"ado-cutover is removing lines from this file\n");
    let temporary = home.join(".ado-cutover-Xq7Ah5.tmp");
    sandbox.write(&temporary, b"https://gh:KEEP@github.com\n");
    let not_ours = home.join(".ado-cutover-notes.txt");
    sandbox.write(&not_ours, b"theirs\n");

    let (_, code) = report(&sandbox, RUN_CONTOSO, &[]);
    assert_eq!(code, Some(0));
    assert_eq!(
        std::fs::read_to_string(&store).unwrap(),
        "https://gh:KEEP@github.com\n"
    );
    assert!(!lock.exists(), "the killed run's lock is gone");
    assert!(
        !temporary.exists(),
        "the killed run's temporary file is gone"
    );
    assert!(not_ours.exists());

    // git holding the lock (it writes the new content into it): the agent waits for another run.
    sandbox.write(&store, b"https://a:SECRET2@dev.azure.com/contoso\n");
    sandbox.write(&lock, b"https://a:SECRET2@dev.azure.com/contoso\n");
    let (run, code) = report(&sandbox, RUN_CONTOSO, &[]);
    assert_eq!(code, Some(1), "{run:#}");
    assert!(
        run.to_string().contains("locked by another program"),
        "{run:#}"
    );
    assert!(lock.exists());
    assert_eq!(
        std::fs::read_to_string(&store).unwrap(),
        "https://a:SECRET2@dev.azure.com/contoso\n"
    );
}
