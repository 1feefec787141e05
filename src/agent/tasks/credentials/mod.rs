//! Task `credentials`: clear stored Azure DevOps credentials and stale Git Credential Manager
//! state, for the organizations that moved, and nothing else.
//!
//! Stores covered: the OS credential store ([`os_store`]: Windows Credential Manager, the macOS
//! keychain's generic passwords, the Secret Service), git's credential-store files and GCM's file
//! stores ([`files`]: plaintext, DPAPI and gpg/pass, wherever the environment or git configuration
//! put them), and GCM's state and credential pins in every git configuration file git reads
//! ([`config`]: the global files with their includes, and each repository's own; journaled for
//! `undo`), the Azure Artifacts credential provider's session tokens ([`artifacts`]), and on
//! macOS the internet passwords git's osxkeychain helper keeps ([`keychain_inet`]), and on
//! Windows Visual Studio's sign-in tokens in the registry ([`visual_studio`]). Old
//! tokens in package-manager and shell files are reported (see [`super::feeds`]);
//! the shared Microsoft sign-in cache loses the old identity's accounts and keeps every other
//! ([`msal`]).
//!
//! Which organizations: the configured ones. With none configured, the ones found here, each
//! asked which tenant backs it (see [`crate::agent::ado::tenant`]): it moved when an Entra
//! tenant (the expected one, if set) backs it. Offline, nothing unconfigured is touched, and the
//! organizations that could not be asked are "not checked". A host-wide `dev.azure.com`
//! credential saved for a user name is that organization's only when it is configured or Azure
//! DevOps knows it; a credential that names no organization is shown and kept (git offers it to
//! every organization), unless `credentials.clear_unattributed` is set. Several planned changes
//! to one file are made in one run (see [`crate::agent::engine::versions`]).

mod artifacts;
mod azure_cli;
mod config;
mod files;
mod keychain_inet;
mod memory_cache;
mod msal;
mod os_store;
mod visual_studio;

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::{Action, Context, Evidence, Finding, Task, TaskError, feeds};
use crate::agent::ado::tenant::{Backing, Lookup};
use crate::agent::hosts;
use crate::agent::repos::gitconfig;
use crate::agent::settings::keys;
use crate::report::Status;

pub(crate) use keychain_inet::InetItem;
pub(crate) use memory_cache::{helper as cache_helper, request as erase_request};

/// The `credentials` task.
pub(crate) struct Credentials;

/// Whose a credential is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Owner {
    /// One organization's: acted on when that organization moved.
    Org(String),
    /// A host-wide `dev.azure.com` credential whose user name looks like an organization name.
    /// Git Credential Manager reads `https://contoso@dev.azure.com` as organization contoso, but
    /// the same form holds a person's name (`https://jdoe:<token>@dev.azure.com`): it is
    /// contoso's only when contoso is a configured organization or Azure DevOps knows it.
    MaybeOrg(String),
    /// Azure DevOps's, but no organization can be told (a host-only `dev.azure.com` entry). git
    /// offers it to every organization, so an old token in it stays in use.
    Unknown,
    /// Not tied to organizations at all (the shared sign-in cache, a store that cannot be read).
    Everyone,
}

impl Owner {
    /// The owner of a host-wide credential saved for the user name `user`.
    fn of_host_user(user: &str) -> Owner {
        let org_like = !user.is_empty()
            && user.len() <= 50
            && user.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if org_like {
            Owner::MaybeOrg(user.to_ascii_lowercase())
        } else {
            Owner::Unknown
        }
    }

    /// A short label for a finding's target.
    fn label(&self) -> String {
        match self {
            Owner::Org(org) => org.clone(),
            Owner::MaybeOrg(_) | Owner::Unknown | Owner::Everyone => hosts::DEV_AZURE.to_string(),
        }
    }

    /// "for contoso", or how a host-wide credential was saved.
    fn describe(&self) -> String {
        match self {
            Owner::Org(org) => format!("for {org}"),
            Owner::MaybeOrg(user) => format!("for dev.azure.com as \"{user}\""),
            Owner::Unknown | Owner::Everyone => "for dev.azure.com".to_string(),
        }
    }
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

    fn detect(&self, cx: &Context<'_>, evidence: &mut Evidence) -> Result<Vec<Finding>, TaskError> {
        let global = gitconfig::global_files(cx.paths, cx.env);
        let namespaces = namespaces(cx, &global);
        let mut lookup = Lookup::new(cx.env);
        let mut resolve = |owner: Owner| match owner {
            Owner::MaybeOrg(name) => owner_of_name(cx, &mut lookup, &name),
            other => other,
        };
        let (mut candidates, msal_items) = os_store::candidates(cx, &namespaces);
        #[cfg(target_os = "macos")]
        candidates.extend(keychain_inet::candidates(cx));
        for file in files::credential_store_files(cx) {
            candidates.extend(files::store_file(cx, &file, &mut resolve));
        }
        candidates.extend(files::gcm_file_stores(cx, &namespaces, &global));
        let config = config::candidates(cx, &global);
        candidates.extend(config.candidates);
        candidates.extend(azure_cli::candidates(cx));
        candidates.extend(visual_studio::candidates(cx));
        for candidate in &mut candidates {
            let owner = std::mem::replace(&mut candidate.owner, Owner::Everyone);
            candidate.owner = resolve(owner);
        }
        let mut orgs: BTreeSet<String> = candidates
            .iter()
            .filter_map(|c| match &c.owner {
                Owner::Org(org) => Some(org.clone()),
                _ => None,
            })
            .collect();
        orgs.extend(feeds::orgs(cx));
        orgs.extend(artifacts::orgs(cx));
        let scope = moved_orgs(cx, &mut lookup, &orgs);
        evidence.msa_orgs.extend(
            config
                .msa_orgs
                .into_iter()
                .chain(scope.msa)
                .filter(|org| cx.settings.org_in_scope(org)),
        );
        let moved = scope.moved;
        let mut findings = scope.notes;
        findings.extend(feeds::findings(cx, &|org| moved.contains(org)));
        findings.extend(artifacts::findings(cx, &moved));
        // The daemon cannot be listed, only asked: ask for the configured organizations too,
        // not only the ones other stores showed.
        let ask: BTreeSet<String> = moved
            .iter()
            .cloned()
            .chain(
                cx.settings
                    .organizations()
                    .iter()
                    .map(|org| org.to_ascii_lowercase()),
            )
            .collect();
        findings.extend(memory_cache::findings(cx, &global, &ask));
        let old = msal::old_identity(cx, evidence, &moved, &mut lookup);
        findings.extend(msal::findings(cx, &old, msal_items));
        if old.is_known() {
            findings.extend(azure_cli::sign_in_findings(cx, &old));
        }
        let clear_unattributed = cx.settings.flag(&keys::CLEAR_UNATTRIBUTED);
        for candidate in candidates {
            match candidate.owner {
                Owner::Org(org) if moved.contains(&org) => findings.push(candidate.finding),
                Owner::Org(_) => {}
                Owner::MaybeOrg(_) | Owner::Unknown => {
                    findings.push(unattributed(candidate.finding, clear_unattributed))
                }
                Owner::Everyone => findings.push(candidate.finding),
            }
        }
        // What the person meets next (see the `guidance` task): a sign-in with the work account
        // once saved credentials go, and new tokens once old ones were found.
        evidence.credentials_cleared |= findings.iter().any(|f| f.action.changes());
        evidence.old_tokens |= findings.iter().any(|f| {
            !matches!(f.action, Action::Note(_))
                && !matches!(
                    f.kind,
                    "git-config" | "msal-cache" | "artifacts-session-tokens"
                )
        });
        Ok(findings)
    }
}

/// Whose a host-wide credential saved as `name` is: that organization's when it is configured
/// or Azure DevOps knows it; otherwise nobody can tell.
fn owner_of_name(cx: &Context<'_>, lookup: &mut Lookup, name: &str) -> Owner {
    if cx
        .settings
        .organizations()
        .iter()
        .any(|org| org.eq_ignore_ascii_case(name))
    {
        return Owner::Org(name.to_string());
    }
    match lookup.backing(name) {
        Backing::Entra(_) | Backing::Msa => Owner::Org(name.to_string()),
        Backing::NotFound | Backing::Unknown(_) => Owner::Unknown,
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
    let remedy = match &finding.action {
        Action::UnsetGitConfig { file, key, .. } => format!(
            "run `git config --file {} --unset {key}` if it is for an organization that moved",
            file.display()
        ),
        _ => "remove it yourself if it is for an organization that moved (Git offers it to every Azure DevOps organization, so an old token in it stays in use), or ask your administrator to set `credentials.clear_unattributed`".to_string(),
    };
    Finding {
        detail: format!(
            "{}; it names no organization, so ado-cutover cannot tell whose it is and leaves it: {remedy}",
            finding.detail
        ),
        action: Action::NeedsUser,
        ..finding
    }
}

/// Which organizations moved, which were seen on personal Microsoft accounts, and notes on the
/// ones that could not be checked.
struct Scope {
    moved: BTreeSet<String>,
    msa: BTreeSet<String>,
    notes: Vec<Finding>,
}

/// The organizations whose credentials go, and notes on the ones that could not be checked.
fn moved_orgs(cx: &Context<'_>, lookup: &mut Lookup, found: &BTreeSet<String>) -> Scope {
    let mut scope = Scope {
        moved: BTreeSet::new(),
        msa: BTreeSet::new(),
        notes: Vec::new(),
    };
    let configured = cx.settings.organizations();
    if !configured.is_empty() {
        scope.moved = found
            .iter()
            .filter(|org| configured.iter().any(|c| c.eq_ignore_ascii_case(org)))
            .cloned()
            .collect();
        return scope;
    }
    let expected = cx.settings.expected_tenant();
    for org in found {
        match lookup.backing(org) {
            Backing::Entra(tenant) if expected.is_none_or(|e| e == tenant) => {
                scope.moved.insert(org.clone());
            }
            Backing::Msa => {
                scope.msa.insert(org.clone());
            }
            Backing::Unknown(why) => scope.notes.push(Finding {
                kind: "organization",
                target: org.clone(),
                detail: format!(
                    "not checked: could not ask Azure DevOps whether {org} moved ({why}); its credentials are left alone until a run can (or configure `organizations` to act offline)"
                ),
                action: Action::Note(Status::Skipped),
            }),
            _ => {}
        }
    }
    scope
}

/// The owner of an Azure DevOps credential URL: `Err` for one that is not Azure DevOps (another
/// host, a look-alike, a non-default port).
fn owner_of_url(url: &url::Url) -> Result<Owner, ()> {
    if url.port().is_some() {
        return Err(());
    }
    let host = url
        .host_str()
        .ok_or(())?
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if host == hosts::DEV_AZURE {
        let first = url
            .path_segments()
            .and_then(|mut s| s.next())
            .filter(|s| !s.is_empty());
        return Ok(match first {
            Some(org) => Owner::Org(org.to_ascii_lowercase()),
            None => Owner::of_host_user(url.username()),
        });
    }
    hosts::org_of_https_url(url.as_str())
        .map(Owner::Org)
        .ok_or(())
}

/// GCM's credential namespaces: `git`, and `credential.namespace` from the global configuration
/// (or `GCM_NAMESPACE`) when set; items written before a change of namespace stay under `git`.
fn namespaces(cx: &Context<'_>, global: &[PathBuf]) -> BTreeSet<String> {
    let configured = gitconfig::values_in_files(global, "credential.namespace");
    let from_env = cx.env.get("GCM_NAMESPACE").map(str::to_string);
    std::iter::once("git".to_string())
        .chain(configured)
        .chain(from_env)
        .filter(|ns| !ns.is_empty() && !ns.contains(['/', '\\', ':']) && ns != "." && ns != "..")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(line: &str) -> Result<Owner, ()> {
        owner_of_url(&url::Url::parse(line).unwrap())
    }

    #[test]
    fn store_lines_are_attributed_exactly() {
        let org = |name: &str| Ok(Owner::Org(name.into()));
        assert_eq!(
            owner("https://alice:pat@dev.azure.com/contoso/p/_git/r"),
            org("contoso")
        );
        // A host-wide line's user may be an organization (GCM's `org@dev.azure.com`) or a person.
        assert_eq!(
            owner("https://contoso:pat@dev.azure.com"),
            Ok(Owner::MaybeOrg("contoso".into()))
        );
        assert_eq!(
            owner("https://alice%40contoso.com:pat@dev.azure.com"),
            Ok(Owner::Unknown)
        );
        assert_eq!(owner("https://dev.azure.com"), Ok(Owner::Unknown));
        assert_eq!(
            owner("https://x:pat@Contoso.visualstudio.com"),
            org("contoso")
        );
        assert_eq!(
            owner("https://x:pat@dev.azure.com.evil.example/contoso"),
            Err(())
        );
        assert_eq!(owner("https://x:pat@dev.azure.com:8443/contoso"), Err(()));
        assert_eq!(owner("https://x:pat@github.com"), Err(()));
    }

    /// Fuzz (#19): whatever lines git's credential store holds, each is attributed or left
    /// alone, never a panic.
    #[test]
    fn fuzz_credential_store_lines() {
        let seeds: &[&[u8]] = &[
            b"https://alice:pat@dev.azure.com/contoso/p/_git/r\nhttps://contoso:pat@dev.azure.com\nhttps://bob:x@github.com\n",
            b"https://alice%40contoso.com:pat@contoso.visualstudio.com\n",
        ];
        let dictionary: &[&[u8]] = &[
            b"https://",
            b":",
            b"@",
            b"%40",
            b"dev.azure.com",
            b".visualstudio.com",
            b"/",
            b"\n",
        ];
        crate::fuzz::run("credential-store lines", seeds, dictionary, |bytes| {
            for line in String::from_utf8_lossy(bytes).lines() {
                if let Ok(url) = url::Url::parse(line.trim()) {
                    let _ = owner_of_url(&url);
                }
            }
        });
    }
}
