//! Task `pinned-tenants`: tenant ids pinned to the old tenant outside the credential stores.
//!
//! - In the repositories found, the files editors and dev containers read (see [`scan`]):
//!   the Azure DevOps MCP server's `--tenant` argument in `.vscode/mcp.json`, `.mcp.json` or
//!   `.cursor/mcp.json`, and the ADO Codespaces Auth extension's `adoCodespacesAuth.tenantID` in
//!   `devcontainer.json` or `.vscode/settings.json`. A pin of the old tenant makes those tools
//!   sign in to it after the switch. Reported with the new tenant to put in; rewritten only when
//!   the admin sets `pinned_tenants.rewrite` (the tenant id's text alone is replaced, journaled;
//!   `undo` puts the file back). These files are usually committed, so the step also says to
//!   commit the change for the rest of the team.
//! - The MCP server's own cache of organization tenants (`~/.ado_orgs.cache`, JSON, kept for a
//!   week and used past that when offline): deleted when it holds the old tenant of an
//!   organization in scope (the server asks again with one unauthenticated request).
//!
//! A pin is the old tenant's when the tenant is one a moved organization was on before (see
//! [`Evidence::old_tenants`]), or, with `expected_tenant` set, when it differs from it and is
//! for a configured organization: the one the pin names, or, when it names none, one its
//! repository's remotes name. The MCP cache is also
//! evidence of the old tenant for the tasks after this one.

mod scan;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{Action, Context, Evidence, Finding, Task, TaskError};
use crate::agent::data::journal::sha256_hex;
use crate::agent::fsutil;
use crate::agent::repos::discover::Kind;
use crate::agent::repos::{inspect, url};
use crate::agent::settings::keys;

/// The files in a repository that may pin a tenant, relative to its working tree.
const FILES: &[&str] = &[
    ".vscode/mcp.json",
    ".mcp.json",
    ".cursor/mcp.json",
    ".devcontainer/devcontainer.json",
    ".devcontainer.json",
    ".vscode/settings.json",
];

/// The Azure DevOps MCP server's organization-to-tenant cache, in the home folder.
const ORG_CACHE: &str = ".ado_orgs.cache";

/// The `pinned-tenants` task.
pub(crate) struct PinnedTenants;

impl Task for PinnedTenants {
    fn id(&self) -> &'static str {
        "pinned-tenants"
    }

    fn title(&self) -> &'static str {
        "Tenant ids pinned in files"
    }

    fn why(&self) -> &'static str {
        "Editors and dev containers can be told which tenant to sign in to. A file that still \
         names the old tenant keeps those tools signing in to it after the switch."
    }

    fn detect(&self, cx: &Context<'_>, evidence: &mut Evidence) -> Result<Vec<Finding>, TaskError> {
        let new = cx.settings.expected_tenant().map(str::to_ascii_lowercase);
        let mut findings = Vec::new();
        findings.extend(org_cache(cx, new.as_deref(), evidence));
        let old: BTreeSet<String> = evidence
            .old_tenants
            .iter()
            .filter(|(org, _)| cx.settings.org_in_scope(org))
            .map(|(_, tenant)| tenant.to_ascii_lowercase())
            .collect();
        let configured: BTreeSet<String> = cx
            .settings
            .organizations()
            .iter()
            .map(|o| o.to_ascii_lowercase())
            .collect();
        let judge = Judge {
            new: new.as_deref(),
            old: &old,
            configured: &configured,
        };
        for repo in &cx.repositories().found {
            if !matches!(repo.kind, Kind::WorkTree | Kind::Linked) {
                continue;
            }
            let mut repo_orgs: Option<BTreeSet<String>> = None;
            for rel in FILES {
                // Joined a component at a time: one separator style on Windows too.
                let path = rel
                    .split('/')
                    .fold(repo.path.clone(), |p, part| p.join(part));
                if !std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
                    continue;
                }
                let Ok(text) = fsutil::read_capped_text(&path) else {
                    continue;
                };
                let pins = scan::pins(&text);
                if pins.is_empty() {
                    continue;
                }
                let orgs = repo_orgs.get_or_insert_with(|| orgs_of(&repo.path));
                let stale: Vec<&scan::Pin> = pins.iter().filter(|p| judge.stale(p, orgs)).collect();
                if !stale.is_empty() {
                    findings.push(pin_finding(cx, &path, &text, &stale, new.as_deref()));
                }
            }
        }
        Ok(findings)
    }
}

/// What makes a pin the old tenant's.
struct Judge<'a> {
    new: Option<&'a str>,
    old: &'a BTreeSet<String>,
    configured: &'a BTreeSet<String>,
}

impl Judge<'_> {
    fn stale(&self, pin: &scan::Pin, repo_orgs: &BTreeSet<String>) -> bool {
        let tenant = pin.tenant.to_ascii_lowercase();
        if self.new == Some(tenant.as_str()) {
            return false;
        }
        if self.old.contains(&tenant) {
            return true;
        }
        // The organization the pin names decides; a pin naming none is for its repository's.
        self.new.is_some()
            && match &pin.org {
                Some(org) => self.configured.contains(org),
                None => repo_orgs.iter().any(|org| self.configured.contains(org)),
            }
    }
}

/// The Azure DevOps organizations a repository's remotes name (read with libgit2, never git).
fn orgs_of(repo: &Path) -> BTreeSet<String> {
    let Ok((_, remotes)) = inspect::remotes_of(repo) else {
        return BTreeSet::new();
    };
    remotes
        .iter()
        .flat_map(|r| r.fetch.iter().chain(r.push.iter()))
        .filter_map(|u| url::classify(u))
        .map(|u| u.org)
        .collect()
}

fn pin_finding(
    cx: &Context<'_>,
    path: &Path,
    text: &str,
    stale: &[&scan::Pin],
    new: Option<&str>,
) -> Finding {
    let mut what: Vec<String> = stale
        .iter()
        .map(|p| match &p.org {
            Some(org) => format!("{} ({} for {org})", p.tenant, p.what),
            None => format!("{} ({})", p.tenant, p.what),
        })
        .collect();
    what.dedup();
    let found = format!(
        "pins the old tenant {}: tools started from it sign in to that tenant",
        what.join(", ")
    );
    let rewrite = cx.settings.flag(&keys::REWRITE_PINNED_TENANTS);
    let (detail, action) = match new {
        Some(new) if rewrite => {
            let mut contents = String::with_capacity(text.len());
            let mut at = 0;
            for pin in stale {
                contents.push_str(&text[at..pin.range.start]);
                contents.push_str(new);
                at = pin.range.end;
            }
            contents.push_str(&text[at..]);
            (
                format!(
                    "{found}; set to the new tenant {new} (`pinned_tenants.rewrite`; undo puts it back). Commit the change so your team gets it too"
                ),
                Action::WriteFile {
                    path: path.to_path_buf(),
                    contents,
                    expected_sha256: Some(sha256_hex(text.as_bytes())),
                    needs: None,
                },
            )
        }
        Some(new) => (
            format!(
                "{found}; put the new tenant {new} in its place and commit it (or ask your admin about `pinned_tenants.rewrite`)"
            ),
            Action::NeedsUser,
        ),
        None => (
            format!("{found}; put the organization's new tenant id in its place and commit it"),
            Action::NeedsUser,
        ),
    };
    Finding {
        kind: "pinned-tenant",
        target: cx.paths.display(path),
        detail,
        action,
    }
}

/// The MCP server's organization cache: evidence of the old tenants, and deleted when it holds
/// one for an organization in scope.
fn org_cache(cx: &Context<'_>, new: Option<&str>, evidence: &mut Evidence) -> Option<Finding> {
    let path: PathBuf = cx.paths.home.join(ORG_CACHE);
    if !std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
        return None;
    }
    let entries: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&fsutil::read_capped(&path).ok()?).ok()?;
    let mut stale = Vec::new();
    for (org, entry) in &entries {
        let org = org.to_ascii_lowercase();
        let Some(tenant) = entry
            .get("tenantId")
            .and_then(|t| t.as_str())
            .filter(|t| scan::is_guid(t))
            .map(str::to_ascii_lowercase)
        else {
            continue;
        };
        let is_old = match new {
            Some(new) => tenant != new,
            None => evidence.old_tenants.get(&org) == Some(&tenant),
        };
        if is_old && cx.settings.org_in_scope(&org) {
            evidence.old_tenants.insert(org.clone(), tenant.clone());
            stale.push(format!("{org} on {tenant}"));
        }
    }
    (!stale.is_empty()).then(|| Finding {
        kind: "pinned-tenant",
        target: cx.paths.display(&path),
        detail: format!(
            "the Azure DevOps MCP server's organization cache remembers the old tenant ({}) for up to a week; it is a cache (the server looks the tenant up again)",
            stale.join(", ")
        ),
        action: Action::DeleteFile(path),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "11111111-1111-1111-1111-111111111111";
    const NEW: &str = "22222222-2222-2222-2222-222222222222";

    fn pin(tenant: &str, org: Option<&str>) -> scan::Pin {
        scan::Pin {
            tenant: tenant.into(),
            range: 0..0,
            org: org.map(String::from),
            what: "x",
        }
    }

    #[test]
    fn a_pin_is_stale_when_it_is_a_known_old_tenant_or_not_the_new_one_of_a_configured_org() {
        let old = BTreeSet::from([OLD.to_string()]);
        let configured = BTreeSet::from(["contoso".to_string()]);
        let judge = Judge {
            new: Some(NEW),
            old: &old,
            configured: &configured,
        };
        let none = BTreeSet::new();
        let contoso_repo = BTreeSet::from(["contoso".to_string()]);
        assert!(judge.stale(&pin(OLD, None), &none));
        assert!(!judge.stale(&pin(NEW, Some("contoso")), &contoso_repo));
        let other = "33333333-3333-3333-3333-333333333333";
        assert!(judge.stale(&pin(other, Some("contoso")), &none));
        assert!(judge.stale(&pin(other, None), &contoso_repo));
        assert!(
            !judge.stale(&pin(other, Some("fabrikam")), &contoso_repo),
            "another organization's tenant is not ours to judge, even in a contoso repository"
        );
        let unknown = Judge { new: None, ..judge };
        assert!(!unknown.stale(&pin(other, Some("contoso")), &contoso_repo));
        assert!(unknown.stale(&pin(OLD, None), &none));
    }
}
