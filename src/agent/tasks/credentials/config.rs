//! Git Credential Manager's state and credential pins in git configuration, wherever git reads
//! them: the global files with everything they include, and each repository's own file.
//!
//! - `credential.azrepos:org/<org>.username`: GCM's account binding (the empty value in a
//!   repository means "do not inherit the global binding"); after the move GCM must ask again.
//! - `credential.azrepos:org/<org>.azureAuthority`: a cached sign-in authority, stale when it is
//!   the personal-account pass-through or another tenant.
//! - `credential.<url>.authority = MSA`: a pin to personal Microsoft account sign-in.
//! - `credential.<url>.username` for an Azure DevOps URL: the same pin as a user name in a remote
//!   URL, making git offer the old account.
//!
//! Each is removed (journaled, `undo` sets it back) from the file that holds it.
//!
//! Credentials git's `credential-cache` daemon holds are asked for and erased by
//! [`super::memory_cache`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{Candidate, Owner, owner_of_url};
use crate::agent::hosts;
use crate::agent::repos::gitconfig;
use crate::agent::tasks::{Action, Context, Finding};

/// The keys read, as libgit2 matches them (section and variable lower case).
const KEYS: &str = r"^credential\..*\.(username|azureauthority|authority)$";

/// The personal-account tenant an authority may name.
const MSA_TENANT: &str = "00000000-0000-0000-0000-000000000000";

/// What one configuration file holds, and the organizations it shows were used with personal
/// Microsoft accounts.
pub(super) struct Found {
    pub candidates: Vec<Candidate>,
    pub msa_orgs: BTreeSet<String>,
}

/// The candidates in every global file and every repository's own file.
pub(super) fn candidates(cx: &Context<'_>, global: &[PathBuf]) -> Found {
    let mut found = Found {
        candidates: Vec::new(),
        msa_orgs: BTreeSet::new(),
    };
    for file in global.iter().chain(&repository_files(cx)) {
        read(cx, file, &mut found);
    }
    found
}

/// Each repository's own configuration file, once (worktrees share their repository's).
fn repository_files(cx: &Context<'_>) -> BTreeSet<PathBuf> {
    let mut configs = BTreeSet::new();
    for repo in &cx.repositories().found {
        if repo.kind == crate::agent::repos::discover::Kind::Tfvc {
            continue;
        }
        if let Ok(opened) = git2::Repository::open(&repo.path) {
            configs.insert(opened.commondir().join("config"));
        }
    }
    configs
}

fn read(cx: &Context<'_>, file: &Path, found: &mut Found) {
    let Ok(entries) = gitconfig::entries_in_file(file, KEYS) else {
        return;
    };
    let shown = cx.paths.display(file);
    let expected = cx.settings.expected_tenant();
    for (key, value) in entries {
        let Some((scope, variable)) = key
            .strip_prefix("credential.")
            .and_then(|rest| rest.rsplit_once('.'))
        else {
            continue;
        };
        let unset = |owner: Owner, why: String| Candidate {
            owner,
            finding: Finding {
                kind: "git-config",
                target: format!("{shown}: {key}"),
                detail: why,
                action: Action::UnsetGitConfig {
                    file: file.to_path_buf(),
                    key: key.clone(),
                    restore: value.clone(),
                },
            },
        };
        if let Some(org) = scope.strip_prefix("azrepos:org/") {
            let org = org.to_ascii_lowercase();
            match variable {
                "username" if value.is_empty() => found.candidates.push(unset(
                    Owner::Org(org.clone()),
                    format!("tells Git Credential Manager not to use your global account for {org}; after the move it must ask again"),
                )),
                "username" => found.candidates.push(unset(
                    Owner::Org(org.clone()),
                    format!("binds {org} to the account \"{value}\"; after the move Git Credential Manager must ask again"),
                )),
                "azureauthority" => {
                    if personal_account_authority(&value) {
                        found.msa_orgs.insert(org.clone());
                    }
                    if stale_authority(&value, expected) {
                        found.candidates.push(unset(
                            Owner::Org(org.clone()),
                            format!("remembers the sign-in authority {value} for {org}, which is stale after the move"),
                        ));
                    }
                }
                _ => {}
            }
            continue;
        }
        let Ok(url) = url::Url::parse(scope) else {
            continue;
        };
        if !url.host_str().is_some_and(hosts::is_ado_host) {
            continue;
        }
        let Ok(owner) = owner_of_url(&url) else {
            continue;
        };
        match variable {
            "authority" if value.eq_ignore_ascii_case("msa") => {
                if let Owner::Org(org) = &owner {
                    found.msa_orgs.insert(org.clone());
                }
                found.candidates.push(unset(
                    owner,
                    format!("pins personal Microsoft account sign-in (MSA) for {scope}"),
                ));
            }
            "username" => found.candidates.push(unset(
                owner,
                format!("makes Git offer the account \"{value}\" for {scope}; after the move Git must ask which account to use"),
            )),
            _ => {}
        }
    }
}

/// The personal-account pass-through GCM caches for organizations backed by Microsoft accounts:
/// `/organizations` or the all-zero tenant.
fn personal_account_authority(value: &str) -> bool {
    matches!(last_segment(value).as_str(), "organizations" | MSA_TENANT)
}

fn last_segment(value: &str) -> String {
    value
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// An authority cached before the move: the MSA pass-through (`/organizations`), `/common`,
/// `/consumers`, the all-zero tenant, or a tenant other than the expected one.
pub(super) fn stale_authority(value: &str, expected: Option<&str>) -> bool {
    match last_segment(value).as_str() {
        "organizations" | "common" | "consumers" | MSA_TENANT => true,
        tenant => expected.is_some_and(|e| e != tenant),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn personal_account_authorities() {
        assert!(personal_account_authority(
            "https://login.microsoftonline.com/organizations"
        ));
        assert!(personal_account_authority(
            "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/"
        ));
        assert!(!personal_account_authority(
            "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47"
        ));
    }
}
