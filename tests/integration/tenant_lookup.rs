//! The unauthenticated tenant lookup of the `remotes` task against a local stand-in for Azure
//! DevOps. The repositories are written by hand (a minimal `.git`), so this runs everywhere,
//! the Windows build under Wine included.

use crate::support;

use serde_json::Value;
use support::fake_cloud::{FakeCloud, TENANT};
use support::{Sandbox, text};

/// A repository at `~/<rel>` whose `origin` is `url`: the files `git init` and
/// `git remote add` would write, and nothing more.
fn repo(sandbox: &Sandbox, rel: &str, url: &str) {
    let git = sandbox.paths.home.join(rel).join(".git");
    std::fs::create_dir_all(git.join("objects")).unwrap();
    std::fs::create_dir_all(git.join("refs").join("heads")).unwrap();
    std::fs::write(git.join("HEAD"), "ref: refs/heads/main\n").unwrap();
    std::fs::write(
        git.join("config"),
        format!("[core]\n\trepositoryformatversion = 0\n\tbare = false\n[remote \"origin\"]\n\turl = {url}\n"),
    )
    .unwrap();
}

fn items(report: &Value) -> Vec<Value> {
    support::task_items(report, "remotes")
}

fn item<'a>(items: &'a [Value], target: &str, kind: &str) -> &'a Value {
    items
        .iter()
        .find(|i| i["kind"] == kind && i["target"] == target)
        .unwrap_or_else(|| panic!("no {kind} item for {target}: {items:#?}"))
}

#[test]
fn each_organization_is_checked_once_for_its_tenant() {
    let sandbox = Sandbox::new();
    for (rel, org) in [
        ("a", "contoso"),
        ("b", "contoso"),
        ("c", "msaorg"),
        ("d", "gone"),
        ("e", "slow"),
    ] {
        repo(
            &sandbox,
            rel,
            &format!("https://dev.azure.com/{org}/proj/_git/{rel}"),
        );
    }
    let fake = FakeCloud::start();
    let out = sandbox
        .cmd()
        .args(["plan", "--json", "--only", "remotes"])
        .env(ado_cutover::agent::AZURE_DEVOPS_URL_VAR, fake.ado_base())
        .env("ADO_CUTOVER_EXPECTED_TENANT", TENANT)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(10),
        "the unmoved organization needs the user: {}",
        text(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = items(&report);
    let org = |name: &str| item(&items, name, "organization").clone();
    assert_eq!(org("contoso")["status"], "info");
    assert!(org("contoso")["detail"].as_str().unwrap().contains(TENANT));
    assert_eq!(org("msaorg")["status"], "needs-user");
    assert!(
        org("msaorg")["detail"]
            .as_str()
            .unwrap()
            .contains("has not moved")
    );
    assert!(
        org("gone")["detail"]
            .as_str()
            .unwrap()
            .contains("has no organization gone")
    );
    let slow = org("slow");
    assert!(
        slow["detail"]
            .as_str()
            .unwrap()
            .contains("did not answer in time"),
        "{slow}"
    );

    let requests = fake.state.lock().unwrap().raw.clone();
    let contoso: Vec<&String> = requests
        .iter()
        .filter(|r| r.starts_with("HEAD /ado/contoso/"))
        .collect();
    assert_eq!(
        contoso.len(),
        1,
        "one lookup per organization per run: {requests:#?}"
    );
    let request = contoso[0].to_ascii_lowercase();
    assert!(
        request.starts_with("head /ado/contoso/_apis/connectiondata http/1.1"),
        "{request}"
    );
    assert!(
        request.contains("x-tfs-fedauthredirect: suppress"),
        "{request}"
    );
    assert!(request.contains("accept: application/json"), "{request}");
}
