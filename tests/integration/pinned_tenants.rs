//! Tenant ids pinned in repository files and in the Azure DevOps MCP server's organization
//! cache: found, reported with the new tenant, rewritten only when opted in, and put back by
//! `undo`. The repositories are made with libgit2, so this runs in the Windows build too.

use crate::support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::{Sandbox, TENANT, task_items, text};

const OLD: &str = "11111111-1111-1111-1111-111111111111";
const PARTNER: &str = "33333333-3333-3333-3333-333333333333";

/// A repository at `rel` (`/`-separated) under home with one remote, made with libgit2.
fn repo(sandbox: &Sandbox, rel: &str, url: &str) -> PathBuf {
    let path = under(&sandbox.paths.home, rel);
    let repo = git2::Repository::init(&path).unwrap();
    repo.remote("origin", url).unwrap();
    path
}

/// `base` joined with the `/`-separated `rel`, a component at a time (one separator style on
/// Windows).
fn under(base: &Path, rel: &str) -> PathBuf {
    rel.split('/')
        .fold(base.to_path_buf(), |p, part| p.join(part))
}

fn mcp_json(org: &str, tenant: &str) -> String {
    format!(
        r#"{{
  // Azure DevOps for the agent in the editor
  "inputs": [],
  "servers": {{
    "ado": {{
      "type": "stdio",
      "command": "npx",
      "args": ["-y", "@azure-devops/mcp", "{org}", "--tenant", "{tenant}", "-d", "core"],
    }},
    "partner": {{ "command": "npx", "args": ["-y", "@azure-devops/mcp", "fabrikam", "-t", "{PARTNER}"] }}
  }}
}}
"#
    )
}

fn devcontainer(tenant: &str) -> String {
    format!(
        "{{\n  \"image\": \"mcr.microsoft.com/devcontainers/base\",\n  /* sign in to our tenant */\n  \"customizations\": {{ \"vscode\": {{ \"settings\": {{ \"adoCodespacesAuth.tenantID\": \"{tenant}\" }} }} }}\n}}\n"
    )
}

fn plan(sandbox: &Sandbox) -> Vec<Value> {
    let out = sandbox
        .cmd()
        .args(["plan", "--json", "--only", "pinned-tenants"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    task_items(&report, "pinned-tenants")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn old_tenant_pins_are_reported_rewritten_when_opted_in_and_undone() {
    let sandbox = Sandbox::new();
    let config = format!(
        "organizations = [\"contoso\"]\nexpected_tenant = \"{TENANT}\"\nwait_for_switch = false\n"
    );
    sandbox.write_managed_config(&config);
    let app = repo(
        &sandbox,
        "src/app",
        "https://dev.azure.com/contoso/p/_git/app",
    );
    let mcp = under(&app, ".vscode/mcp.json");
    sandbox.write(&mcp, mcp_json("Contoso", OLD).as_bytes());
    let container = under(&app, ".devcontainer/devcontainer.json");
    sandbox.write(&container, devcontainer(OLD).as_bytes());
    // Another organization's repository pins its own tenant: not ours.
    let other = repo(
        &sandbox,
        "src/other",
        "https://dev.azure.com/fabrikam/p/_git/o",
    );
    let other_container = other.join(".devcontainer.json");
    sandbox.write(&other_container, devcontainer(PARTNER).as_bytes());
    let cache = sandbox.paths.home.join(".ado_orgs.cache");
    let cache_text = format!(
        "{{\n  \"contoso\": {{ \"tenantId\": \"{OLD}\", \"refreshedOn\": 1 }},\n  \"fabrikam\": {{ \"tenantId\": \"{PARTNER}\", \"refreshedOn\": 1 }}\n}}"
    );
    sandbox.write(&cache, cache_text.as_bytes());

    let items = plan(&sandbox);
    assert_eq!(items.len(), 3, "{items:#?}");
    let find = |path: &Path| {
        let shown = format!(
            "~{}{}",
            std::path::MAIN_SEPARATOR,
            path.strip_prefix(&sandbox.paths.home).unwrap().display()
        );
        items
            .iter()
            .find(|i| i["target"] == shown.as_str())
            .unwrap_or_else(|| panic!("{shown}: {items:#?}"))
            .clone()
    };
    let mcp_item = find(&mcp);
    assert_eq!(mcp_item["status"], "needs-user");
    let detail = mcp_item["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!(
            "{OLD} (the Azure DevOps MCP server's --tenant argument for contoso)"
        )) && detail.contains(&format!("put the new tenant {TENANT} in its place"))
            && !detail.contains(PARTNER),
        "{detail}"
    );
    assert_eq!(find(&container)["status"], "needs-user");
    assert_eq!(find(&cache)["status"], "planned");

    // Without the opt-in only the MCP server's cache goes.
    let run = sandbox
        .cmd()
        .args(["run", "--yes", "--json", "--only", "pinned-tenants"])
        .output()
        .unwrap();
    assert!(!cache.exists(), "{}", text(&run.stdout));
    assert_eq!(read(&mcp), mcp_json("Contoso", OLD));
    assert_eq!(read(&container), devcontainer(OLD));

    // Opted in: exactly the old tenant id's text is replaced; the partner pin stays.
    sandbox.write_managed_config(&format!("{config}[pinned_tenants]\nrewrite = true\n"));
    let run = sandbox
        .cmd()
        .args(["run", "--yes", "--json", "--only", "pinned-tenants"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stdout));
    assert_eq!(read(&mcp), mcp_json("Contoso", TENANT));
    assert_eq!(read(&container), devcontainer(TENANT));
    assert_eq!(read(&other_container), devcontainer(PARTNER));
    assert!(plan(&sandbox).is_empty(), "nothing left to do");

    let undo = sandbox.cmd().arg("undo").output().unwrap();
    assert_eq!(undo.status.code(), Some(0), "{}", text(&undo.stdout));
    assert_eq!(read(&mcp), mcp_json("Contoso", OLD));
    assert_eq!(read(&container), devcontainer(OLD));
}

/// Without `expected_tenant`, a pin is judged old only when it is a tenant a moved organization
/// is known to have been on (here: GCM's tenant cache names it).
#[test]
fn without_the_new_tenant_only_a_known_old_tenant_is_a_stale_pin() {
    let sandbox = Sandbox::new();
    sandbox.write_managed_config("organizations = [\"contoso\"]\n");
    sandbox.seed_tenant_cache(&[("https://dev.azure.com/contoso", OLD)]);
    let app = repo(
        &sandbox,
        "src/app",
        "https://dev.azure.com/contoso/p/_git/app",
    );
    sandbox.write(
        &under(&app, ".vscode/settings.json"),
        devcontainer(PARTNER).as_bytes(),
    );
    sandbox.write(&app.join(".mcp.json"), mcp_json("contoso", OLD).as_bytes());
    let out = sandbox
        .cmd()
        .args([
            "plan",
            "--json",
            "--only",
            "gcm-tenant-cache,pinned-tenants",
        ])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = task_items(&report, "pinned-tenants");
    assert_eq!(items.len(), 1, "{items:#?}");
    let detail = items[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains(OLD) && detail.contains("the organization's new tenant id"),
        "{detail}"
    );
}
