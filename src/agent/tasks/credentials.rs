//! Task `credentials`: clear stored Azure DevOps credentials and stale Git Credential Manager
//! state, for the organizations that moved, and nothing else.
//!
//! This version covers the stores that are files: git's credential-store files
//! (`~/.git-credentials`, `$XDG_CONFIG_HOME/git/credentials`: matching lines only, every other
//! line kept byte for byte, under git's lock), GCM's plaintext store (`*.credential` files of
//! matching organizations only), and GCM's state in the global git configuration
//! (`credential.azrepos:org/<org>.username` bindings, stale `…azureAuthority` values, a leftover
//! `credential.<url>.authority = MSA`) and each repository's own bindings (journaled for
//! `undo`). Old tokens in package-manager and
//! shell files are reported (see [`super::feeds`]). The OS credential stores (Windows Credential
//! Manager, macOS keychain, Secret Service) are not covered yet.
//!
//! Which organizations: the configured ones. With none configured, the ones found here, each
//! asked which tenant backs it (see [`crate::agent::ado::tenant`]): it moved when an Entra
//! tenant (the expected one, if set) backs it. Offline, nothing unconfigured is touched.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::{Action, Context, Evidence, Finding, Task, TaskError, feeds};
use crate::agent::ado::tenant::{Backing, Lookup};
use crate::agent::gitconfig;
use crate::agent::hosts;
use crate::agent::journal::sha256_hex;
use crate::report::{Status, redact};

/// The `credentials` task.
pub struct Credentials;

/// One thing found, before the organization scope is applied.
struct Candidate {
    /// The organization it belongs to; `None` when it cannot be told.
    org: Option<String>,
    finding: Finding,
}

impl Task for Credentials {
    fn id(&self) -> &'static str {
        "credentials"
    }

    fn title(&self) -> &'static str {
        "Stored Azure DevOps credentials"
    }

    fn why(&self) -> &'static str {
        "Passwords and tokens saved for your old account make Git fail or sign in as the wrong \
         person. ado-cutover removes the ones saved for Azure DevOps, and only those."
    }

    fn detect(&self, cx: &Context<'_>, _: &mut Evidence) -> Result<Vec<Finding>, TaskError> {
        let mut candidates = Vec::new();
        for file in credential_store_files(cx) {
            candidates.extend(store_file(cx, &file));
        }
        candidates.extend(plaintext_store(cx));
        candidates.extend(git_config(cx));
        candidates.extend(repository_bindings(cx));
        let mut orgs: BTreeSet<String> = candidates.iter().filter_map(|c| c.org.clone()).collect();
        orgs.extend(feeds::orgs(cx));
        let (moved, notes) = moved_orgs(cx, &orgs);
        let mut findings = notes;
        findings.extend(feeds::findings(cx, &|org| moved.contains(org)));
        for candidate in candidates {
            match &candidate.org {
                Some(org) if moved.contains(org) => findings.push(candidate.finding),
                Some(_) => {}
                // Cannot be tied to an organization: shown, never touched.
                None => findings.push(candidate.finding),
            }
        }
        Ok(findings)
    }
}

/// The organizations whose credentials go, and notes on the ones that could not be checked.
fn moved_orgs(cx: &Context<'_>, found: &BTreeSet<String>) -> (BTreeSet<String>, Vec<Finding>) {
    let configured = cx.settings.organizations();
    if !configured.is_empty() {
        let moved = found
            .iter()
            .filter(|org| configured.iter().any(|c| c.eq_ignore_ascii_case(org)))
            .cloned()
            .collect();
        return (moved, Vec::new());
    }
    let mut lookup = Lookup::new(cx.env);
    let expected = cx.settings.expected_tenant();
    let mut moved = BTreeSet::new();
    let mut notes = Vec::new();
    for org in found {
        match lookup.backing(org) {
            Backing::Entra(tenant) if expected.is_none_or(|e| e == tenant) => {
                moved.insert(org.clone());
            }
            Backing::Unknown(why) => notes.push(Finding {
                kind: "organization",
                target: org.clone(),
                detail: format!(
                    "could not check whether {org} moved ({why}); its credentials are left alone. Configure `organizations` to act offline"
                ),
                action: Action::Note(Status::Info),
            }),
            _ => {}
        }
    }
    (moved, notes)
}

/// git's credential-store files: `~/.git-credentials` and `$XDG_CONFIG_HOME/git/credentials`.
fn credential_store_files(cx: &Context<'_>) -> Vec<PathBuf> {
    let xdg = match (&cx.paths.sandbox, cx.env.get_os("XDG_CONFIG_HOME")) {
        (None, Some(dir)) => PathBuf::from(dir),
        _ => cx.paths.home.join(".config"),
    };
    vec![
        cx.paths.home.join(".git-credentials"),
        xdg.join("git").join("credentials"),
    ]
}

/// The organization an `https://user:pass@host/path` line belongs to: `Ok(Some)` for ours,
/// `Ok(None)` for a host-only `dev.azure.com` line whose user is not an organization name
/// (cannot be told), `Err` for lines that are not Azure DevOps.
fn org_of_line(line: &str) -> Result<Option<String>, ()> {
    let url = url::Url::parse(line.trim()).map_err(|_| ())?;
    if url.port().is_some() {
        return Err(());
    }
    let host = url.host_str().ok_or(())?.to_ascii_lowercase();
    if host == hosts::DEV_AZURE {
        let first = url
            .path_segments()
            .and_then(|mut s| s.next())
            .filter(|s| !s.is_empty())
            .map(str::to_ascii_lowercase);
        if first.is_some() {
            return Ok(first);
        }
        let user = url.username();
        let org_like = !user.is_empty()
            && user.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && user.len() <= 50;
        return Ok(org_like.then(|| user.to_ascii_lowercase()));
    }
    hosts::org_of_https_url(line.trim()).map(Some).ok_or(())
}

fn store_file(cx: &Context<'_>, path: &Path) -> Vec<Candidate> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let sha = sha256_hex(&bytes);
    let shown = cx.paths.display(path);
    let mut by_org: BTreeMap<Option<String>, Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Ok(org) = org_of_line(line) {
            by_org.entry(org).or_default().push(line.to_string());
        }
    }
    by_org
        .into_iter()
        .map(|(org, lines)| {
            let shown_lines: Vec<String> = lines.iter().map(|l| redact::url(l)).collect();
            let finding = match &org {
                Some(org) => Finding {
                    kind: "credential-store",
                    target: format!("{shown} ({org})"),
                    detail: format!(
                        "{} saved for {org}: {}",
                        if lines.len() == 1 { "1 credential" } else { "credentials" },
                        shown_lines.join(", ")
                    ),
                    action: Action::RemoveLines {
                        file: path.to_path_buf(),
                        lines,
                        expected_sha256: sha.clone(),
                    },
                },
                None => Finding {
                    kind: "credential-store",
                    target: format!("{shown} (dev.azure.com)"),
                    detail: format!(
                        "saved for dev.azure.com without an organization ({}); ado-cutover cannot tell whose it is, so it stays. Remove it yourself if it is for an organization that moved",
                        shown_lines.join(", ")
                    ),
                    action: Action::NeedsUser,
                },
            };
            Candidate { org, finding }
        })
        .collect()
}

/// GCM's plaintext store: `<root>/<namespace>/https/dev.azure.com/<org>/*.credential` and
/// `<root>/<namespace>/https/<org>.visualstudio.com/*.credential`.
fn plaintext_store(cx: &Context<'_>) -> Vec<Candidate> {
    let root = match (&cx.paths.sandbox, cx.env.get_os("GCM_PLAINTEXT_STORE_PATH")) {
        (None, Some(dir)) => PathBuf::from(dir),
        _ => cx.paths.home.join(".gcm").join("store"),
    };
    let https = root.join(namespace(cx)).join("https");
    let mut found = Vec::new();
    let mut org_dirs = Vec::new();
    for (dir, org) in subdirs(&https.join(hosts::DEV_AZURE)) {
        org_dirs.push((dir, org.to_ascii_lowercase()));
    }
    for (dir, host) in subdirs(&https) {
        if let Some(org) = hosts::org_of_https_url(&format!("https://{host}/")) {
            org_dirs.push((dir, org));
        }
    }
    for (dir, org) in org_dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let is_credential = path.extension().is_some_and(|e| e == "credential")
                && entry.file_type().is_ok_and(|t| t.is_file());
            if !is_credential {
                continue;
            }
            found.push(Candidate {
                org: Some(org.clone()),
                finding: Finding {
                    kind: "gcm-plaintext-store",
                    target: cx.paths.display(&path),
                    detail: format!("a Git Credential Manager credential saved for {org}"),
                    action: Action::DeleteFile(path),
                },
            });
        }
    }
    found
}

fn subdirs(dir: &Path) -> Vec<(PathBuf, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut dirs: Vec<(PathBuf, String)> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| (e.path(), e.file_name().to_string_lossy().into_owned()))
        .collect();
    dirs.sort();
    dirs
}

/// GCM's credential namespace: `credential.namespace` in the global configuration, or `git`.
fn namespace(cx: &Context<'_>) -> String {
    gitconfig::get_in_file(&global_config(cx), "credential.namespace")
        .ok()
        .flatten()
        .filter(|ns| !ns.is_empty() && !ns.contains(['/', '\\']))
        .unwrap_or_else(|| "git".to_string())
}

fn global_config(cx: &Context<'_>) -> PathBuf {
    cx.paths.home.join(".gitconfig")
}

/// GCM's state in the global git configuration.
fn git_config(cx: &Context<'_>) -> Vec<Candidate> {
    let file = global_config(cx);
    let shown = cx.paths.display(&file);
    let Ok(entries) = gitconfig::entries_in_file(
        &file,
        r"^credential\..*\.(username|azureauthority|authority)$",
    ) else {
        return Vec::new();
    };
    let expected = cx.settings.expected_tenant();
    let mut found = Vec::new();
    for (key, value) in entries {
        let Some(rest) = key.strip_prefix("credential.") else {
            continue;
        };
        let Some((scope, variable)) = rest.rsplit_once('.') else {
            continue;
        };
        let unset = |org: &str, why: String| Candidate {
            org: Some(org.to_string()),
            finding: Finding {
                kind: "git-config",
                target: format!("{shown}: {key}"),
                detail: why,
                action: Action::UnsetGitConfig {
                    file: file.clone(),
                    key: key.clone(),
                    restore: value.clone(),
                },
            },
        };
        if let Some(org) = scope.strip_prefix("azrepos:org/") {
            let org = org.to_ascii_lowercase();
            match variable {
                "username" => found.push(unset(
                    &org,
                    format!("binds {org} to the account \"{value}\"; after the move Git Credential Manager must ask again"),
                )),
                "azureauthority" if stale_authority(&value, expected) => found.push(unset(
                    &org,
                    format!("remembers the sign-in authority {value} for {org}, which is stale after the move"),
                )),
                _ => {}
            }
        } else if variable == "authority" && value.eq_ignore_ascii_case("msa") {
            if let Some(org) = hosts::org_of_https_url(scope) {
                found.push(unset(
                    &org,
                    format!("pins personal Microsoft account sign-in (MSA) for {scope}"),
                ));
            }
        }
    }
    found
}

/// GCM's account bindings in each repository's own configuration
/// (`credential.azrepos:org/<org>.username`, including the empty "no inherit" value).
fn repository_bindings(cx: &Context<'_>) -> Vec<Candidate> {
    let mut configs = BTreeSet::new();
    for repo in &cx.repositories().found {
        if repo.kind == crate::agent::repos::discover::Kind::Tfvc {
            continue;
        }
        // Worktrees share their repository's configuration: read each file once.
        if let Ok(opened) = git2::Repository::open(&repo.path) {
            configs.insert(opened.commondir().join("config"));
        }
    }
    let mut found = Vec::new();
    for file in configs {
        let Ok(entries) =
            gitconfig::entries_in_file(&file, r"^credential\.azrepos:org/.*\.username$")
        else {
            continue;
        };
        for (key, value) in entries {
            let Some(org) = key
                .strip_prefix("credential.azrepos:org/")
                .and_then(|rest| rest.strip_suffix(".username"))
                .map(str::to_ascii_lowercase)
            else {
                continue;
            };
            let what = if value.is_empty() {
                "tells Git Credential Manager not to use your global account".to_string()
            } else {
                format!("binds this repository to the account \"{value}\"")
            };
            found.push(Candidate {
                org: Some(org.clone()),
                finding: Finding {
                    kind: "git-config",
                    target: format!("{}: {key}", cx.paths.display(&file)),
                    detail: format!(
                        "{what} for {org}; after the move Git Credential Manager must ask again"
                    ),
                    action: Action::UnsetGitConfig {
                        file: file.clone(),
                        key,
                        restore: value,
                    },
                },
            });
        }
    }
    found
}

/// An authority cached before the move: the MSA pass-through (`/organizations`), `/common`,
/// `/consumers`, the all-zero tenant, or a tenant other than the expected one.
fn stale_authority(value: &str, expected: Option<&str>) -> bool {
    let last = value
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    match last.as_str() {
        "organizations" | "common" | "consumers" | "00000000-0000-0000-0000-000000000000" => true,
        tenant => expected.is_some_and(|e| e != tenant),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_lines_are_attributed_exactly() {
        let org = |l| org_of_line(l);
        assert_eq!(
            org("https://alice:pat@dev.azure.com/contoso/p/_git/r"),
            Ok(Some("contoso".into()))
        );
        assert_eq!(
            org("https://contoso:pat@dev.azure.com"),
            Ok(Some("contoso".into()))
        );
        assert_eq!(
            org("https://alice%40contoso.com:pat@dev.azure.com"),
            Ok(None)
        );
        assert_eq!(
            org("https://x:pat@Contoso.visualstudio.com"),
            Ok(Some("contoso".into()))
        );
        assert_eq!(
            org("https://x:pat@dev.azure.com.evil.example/contoso"),
            Err(())
        );
        assert_eq!(org("https://x:pat@dev.azure.com:8443/contoso"), Err(()));
        assert_eq!(org("https://x:pat@github.com"), Err(()));
    }

    #[test]
    fn stale_authorities() {
        let t = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        assert!(stale_authority(
            "https://login.microsoftonline.com/organizations",
            None
        ));
        assert!(stale_authority(
            "https://login.microsoftonline.com/common/",
            Some(t)
        ));
        assert!(!stale_authority(
            &format!("https://login.microsoftonline.com/{t}"),
            Some(t)
        ));
        assert!(!stale_authority(
            &format!("https://login.microsoftonline.com/{t}"),
            None
        ));
        assert!(stale_authority(
            "https://login.microsoftonline.com/11111111-86f1-41af-91ab-2d7cd011db47",
            Some(t)
        ));
    }
}
