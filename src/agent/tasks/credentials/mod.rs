//! Task `credentials`: clear stored Azure DevOps credentials and stale Git Credential Manager
//! state, for the organizations that moved, and nothing else.
//!
//! Stores covered: the OS credential store ([`os_store`]: Windows Credential Manager, the macOS
//! keychain's generic passwords, the Secret Service), git's credential-store files
//! (`~/.git-credentials`, `$XDG_CONFIG_HOME/git/credentials`: matching lines only, every other
//! line kept byte for byte, under git's lock), GCM's file stores (plaintext, DPAPI and gpg/pass:
//! `*.credential` / `*.gpg` files of matching organizations only, never `.gpg-id`), and GCM's
//! state in the global git configuration (`credential.azrepos:org/<org>.username` bindings, stale
//! `…azureAuthority` values, a leftover `credential.<url>.authority = MSA`) and each repository's
//! own bindings (journaled for `undo`). Old tokens in package-manager and shell files are
//! reported (see [`super::feeds`]); the shared Microsoft sign-in cache is reported, and cleared
//! only by admin choice ([`msal`]).
//!
//! Which organizations: the configured ones. With none configured, the ones found here, each
//! asked which tenant backs it (see [`crate::agent::ado::tenant`]): it moved when an Entra
//! tenant (the expected one, if set) backs it. Offline, nothing unconfigured is touched. A
//! credential that names no organization (a host-only `dev.azure.com` entry for a person's
//! account) is shown and kept, unless `credentials.clear_unattributed` is set.

mod msal;
mod os_store;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::{Action, Context, Evidence, Finding, Task, TaskError, feeds};
use crate::agent::ado::tenant::{Backing, Lookup};
use crate::agent::gitconfig;
use crate::agent::hosts;
use crate::agent::journal::sha256_hex;
use crate::agent::settings::keys;
use crate::report::{Status, redact};

/// The `credentials` task.
pub struct Credentials;

/// Whose a credential is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    /// One organization's: acted on when that organization moved.
    Org(String),
    /// Azure DevOps's, but no organization can be told (a host-only `dev.azure.com` entry).
    Unknown,
    /// Not tied to organizations at all (the shared sign-in cache, a store that cannot be read).
    Everyone,
}

/// One thing found, before the organization scope is applied.
struct Candidate {
    owner: Owner,
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
        let mut candidates = os_store::candidates(cx, &namespaces(cx));
        for file in credential_store_files(cx) {
            candidates.extend(store_file(cx, &file));
        }
        candidates.extend(gcm_file_stores(cx));
        candidates.extend(git_config(cx));
        candidates.extend(repository_bindings(cx));
        candidates.extend(msal::file(cx));
        let mut orgs: BTreeSet<String> = candidates
            .iter()
            .filter_map(|c| match &c.owner {
                Owner::Org(org) => Some(org.clone()),
                _ => None,
            })
            .collect();
        orgs.extend(feeds::orgs(cx));
        let (moved, notes) = moved_orgs(cx, &orgs);
        let mut findings = notes;
        findings.extend(feeds::findings(cx, &|org| moved.contains(org)));
        let clear_unattributed = cx.settings.flag(&keys::CLEAR_UNATTRIBUTED);
        for candidate in candidates {
            match candidate.owner {
                Owner::Org(org) if moved.contains(&org) => findings.push(candidate.finding),
                Owner::Org(_) => {}
                Owner::Unknown => {
                    findings.push(unattributed(candidate.finding, clear_unattributed))
                }
                Owner::Everyone => findings.push(candidate.finding),
            }
        }
        Ok(findings)
    }
}

/// A credential no organization can be told for: kept and shown (the person decides), or, when
/// the admin set `credentials.clear_unattributed`, cleared like the others.
fn unattributed(finding: Finding, clear: bool) -> Finding {
    if clear {
        return Finding {
            detail: format!(
                "{} (names no organization; cleared because `credentials.clear_unattributed` is set)",
                finding.detail
            ),
            ..finding
        };
    }
    Finding {
        detail: format!(
            "{}; it names no organization, so ado-cutover cannot tell whose it is and leaves it. Remove it yourself if it is for an organization that moved",
            finding.detail
        ),
        action: Action::NeedsUser,
        ..finding
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
    org_of_url(&url::Url::parse(line.trim()).map_err(|_| ())?)
}

/// [`org_of_line`] for a parsed URL.
fn org_of_url(url: &url::Url) -> Result<Option<String>, ()> {
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
    hosts::org_of_https_url(url.as_str()).map(Some).ok_or(())
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
            let count = if lines.len() == 1 {
                "1 credential"
            } else {
                "credentials"
            };
            let (owner, target, whose) = match org {
                Some(org) => (Owner::Org(org.clone()), format!("{shown} ({org})"), org),
                None => (
                    Owner::Unknown,
                    format!("{shown} (dev.azure.com)"),
                    "dev.azure.com".into(),
                ),
            };
            let finding = Finding {
                kind: "credential-store",
                target,
                detail: format!("{count} saved for {whose}: {}", shown_lines.join(", ")),
                action: Action::RemoveLines {
                    file: path.to_path_buf(),
                    lines,
                    expected_sha256: sha.clone(),
                },
            };
            Candidate { owner, finding }
        })
        .collect()
}

/// One of Git Credential Manager's file stores.
struct FileStore {
    kind: &'static str,
    /// The folder that holds `<namespace>/https/<host>/...`.
    root: PathBuf,
    /// The extension of a credential file; anything else (`.gpg-id`) is never touched.
    extension: &'static str,
    what: &'static str,
}

/// GCM's file stores: plaintext (`~/.gcm/store`), DPAPI (`%USERPROFILE%\.gcm\dpapi_store`, the
/// same layout with encrypted secrets) and gpg/pass (`~/.password-store`). Their locations can
/// be moved by environment variables; a sandbox ignores those.
fn file_stores(cx: &Context<'_>) -> Vec<FileStore> {
    let place = |var: &str, default: PathBuf| match (&cx.paths.sandbox, cx.env.get_os(var)) {
        (None, Some(dir)) if !dir.is_empty() => PathBuf::from(dir),
        _ => default,
    };
    let gcm = cx.paths.home.join(".gcm");
    vec![
        FileStore {
            kind: "gcm-plaintext-store",
            root: place("GCM_PLAINTEXT_STORE_PATH", gcm.join("store")),
            extension: "credential",
            what: "a Git Credential Manager credential (plaintext store)",
        },
        FileStore {
            kind: "gcm-dpapi-store",
            root: place("GCM_DPAPI_STORE_PATH", gcm.join("dpapi_store")),
            extension: "credential",
            what: "a Git Credential Manager credential (DPAPI store)",
        },
        FileStore {
            kind: "gcm-gpg-store",
            root: place("PASSWORD_STORE_DIR", cx.paths.home.join(".password-store")),
            extension: "gpg",
            what: "a Git Credential Manager credential (gpg/pass store)",
        },
    ]
}

/// The credential files of GCM's file stores under `<root>/<namespace>/https/dev.azure.com/<org>/`
/// and `<root>/<namespace>/https/<org>.visualstudio.com/`.
fn gcm_file_stores(cx: &Context<'_>) -> Vec<Candidate> {
    let mut found = Vec::new();
    for store in file_stores(cx) {
        for namespace in namespaces(cx) {
            let https = store.root.join(&namespace).join("https");
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
                let mut files: Vec<PathBuf> = entries
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == store.extension))
                    .collect();
                files.sort();
                for path in files {
                    found.push(Candidate {
                        owner: Owner::Org(org.clone()),
                        finding: Finding {
                            kind: store.kind,
                            target: cx.paths.display(&path),
                            detail: format!("{} saved for {org}", store.what),
                            action: Action::DeleteFile(path),
                        },
                    });
                }
            }
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

/// GCM's credential namespaces: `git`, and `credential.namespace` from the global configuration
/// (or `GCM_NAMESPACE`) when set; items written before a change of namespace stay under `git`.
fn namespaces(cx: &Context<'_>) -> BTreeSet<String> {
    let configured = gitconfig::get_in_file(&global_config(cx), "credential.namespace")
        .ok()
        .flatten();
    let from_env = match &cx.paths.sandbox {
        None => cx.env.get("GCM_NAMESPACE").map(str::to_string),
        Some(_) => None,
    };
    [Some("git".to_string()), configured, from_env]
        .into_iter()
        .flatten()
        .filter(|ns| !ns.is_empty() && !ns.contains(['/', '\\', ':']) && ns != "." && ns != "..")
        .collect()
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
            owner: Owner::Org(org.to_string()),
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
        } else if variable == "authority"
            && value.eq_ignore_ascii_case("msa")
            && let Some(org) = hosts::org_of_https_url(scope)
        {
            found.push(unset(
                &org,
                format!("pins personal Microsoft account sign-in (MSA) for {scope}"),
            ));
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
                owner: Owner::Org(org.clone()),
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
