//! Personal access tokens the Azure DevOps extension of the Azure CLI keeps (`az devops login`).
//!
//! The extension keeps each token under the key `azdevops-cli:<organization URL>` (`…:https://dev.azure.com/contoso`,
//! `…:https://contoso.visualstudio.com`; `azdevops-cli: default` for no organization) with the
//! user name `Personal Access Token`: in the OS credential store through Python's `keyring`
//! (recognised by [`super::os_store`]), or, on Linux when no keyring works, in the INI file
//! `personalAccessTokens` of its configuration folder (`$AZURE_DEVOPS_EXT_CONFIG_DIR`, else
//! `$AZURE_CONFIG_DIR/azuredevops`, else `~/.azure/azuredevops`), beside `organization_list`,
//! one key a line. Source: azure-devops-cli-extension, `azext_devops/dev/common/credential_store.py`
//! and `_credentials.py`.
//!
//! For an organization that moved, its section leaves the file (the section line and its
//! token, every other byte kept) and its line leaves `organization_list`, as `az devops logout
//! --organization` would do. A token line shared with another organization's section is not
//! removed: the person is told the command instead.
//!
//! The CLI's own sign-ins (`az login`) live in its MSAL token cache (`msal_token_cache.json`,
//! on Windows the DPAPI-protected `msal_token_cache.bin`) beside `azureProfile.json`, which
//! lists subscriptions per account. Taking an account out of the cache alone would leave the
//! profile naming it, so the old identity's accounts there are reported with the commands that
//! keep both consistent (`az logout --username`, then `az login --tenant <new>`).

use std::path::{Path, PathBuf};

use super::msal::{OldIdentity, select};
use super::{Candidate, Owner, owner_of_url};
use crate::agent::data::journal::sha256_hex;
use crate::agent::msal::{self, place::Place};
use crate::agent::tasks::{Action, Context, Finding};

/// The prefix of the extension's keys.
pub(super) const KEY_PREFIX: &str = "azdevops-cli:";
const KIND: &str = "azure-cli-devops-token";

/// The Azure CLI's configuration folder (`$AZURE_CONFIG_DIR`, else `~/.azure`).
fn azure_dir(cx: &Context<'_>) -> PathBuf {
    match cx.env.get("AZURE_CONFIG_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => cx.paths.home.join(".azure"),
    }
}

/// The extension's configuration folder.
fn config_dir(cx: &Context<'_>) -> PathBuf {
    if let Some(dir) = cx
        .env
        .get("AZURE_DEVOPS_EXT_CONFIG_DIR")
        .filter(|d| !d.is_empty())
    {
        return PathBuf::from(dir);
    }
    azure_dir(cx).join("azuredevops")
}

/// A step per CLI token cache that keeps an account of the old identity signed in.
pub(super) fn sign_in_findings(cx: &Context<'_>, old: &OldIdentity) -> Vec<Finding> {
    let dir = azure_dir(cx);
    let new = old
        .new
        .iter()
        .next()
        .map_or("<new tenant id>", String::as_str);
    [("msal_token_cache.json", false), ("msal_token_cache.bin", true)]
        .into_iter()
        .filter_map(|(name, protected)| {
            let path = dir.join(name);
            let json = Place::File {
                path: path.clone(),
                protected,
            }
            .read(None)
            .ok()??;
            let accounts = msal::accounts(&json).ok()?;
            let (selection, _) = select(&accounts, old);
            let mut who: Vec<&str> = accounts
                .iter()
                .filter(|a| selection.homes.contains(&a.home_account_id))
                .map(|a| a.username.as_str())
                .collect();
            who.sort_unstable();
            who.dedup();
            let first = *who.first()?;
            Some(Finding {
                kind: "azure-cli-sign-in",
                target: cx.paths.display(&path),
                detail: format!(
                    "the Azure CLI is still signed in as the old identity ({}): run `az logout --username {first}`{}, then `az login --tenant {new} --allow-no-subscription` (or `az account clear` to sign every account out)",
                    who.join(", "),
                    if who.len() > 1 { " for each" } else { "" },
                ),
                action: Action::NeedsUser,
            })
        })
        .collect()
}

/// Whose a key is: an organization's, or nobody's (`azdevops-cli: default`).
pub(super) fn owner_of_key(key: &str) -> Option<Owner> {
    let rest = key.strip_prefix(KEY_PREFIX)?.trim();
    if rest == "default" {
        return Some(Owner::Unknown);
    }
    url::Url::parse(rest)
        .ok()
        .and_then(|url| owner_of_url(&url).ok())
}

/// One section of the token file: its key and its lines (the section line first).
struct Section {
    key: String,
    lines: Vec<String>,
}

fn sections(text: &str) -> Vec<Section> {
    let mut sections: Vec<Section> = Vec::new();
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let trimmed = line.trim();
        if let Some(key) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            sections.push(Section {
                key: key.to_string(),
                lines: vec![line.to_string()],
            });
        } else if !trimmed.is_empty()
            && let Some(section) = sections.last_mut()
        {
            section.lines.push(line.to_string());
        }
    }
    sections
}

/// The token file's sections and `organization_list`'s lines, each with its owner.
pub(super) fn candidates(cx: &Context<'_>) -> Vec<Candidate> {
    let dir = config_dir(cx);
    let mut found = token_file(cx, &dir.join("personalAccessTokens"));
    found.extend(organization_list(cx, &dir.join("organization_list")));
    found
}

fn token_file(cx: &Context<'_>, path: &Path) -> Vec<Candidate> {
    let Ok(bytes) = crate::agent::fsutil::read_capped(path) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let sha = sha256_hex(&bytes);
    let shown = cx.paths.display(path);
    let sections = sections(&text);
    sections
        .iter()
        .filter_map(|section| {
            let owner = owner_of_key(&section.key)?;
            // A line another section also has would leave with it.
            let shared = section.lines.iter().any(|line| {
                sections
                    .iter()
                    .filter(|other| other.key != section.key)
                    .any(|other| other.lines.contains(line))
            });
            let url = section.key.trim_start_matches(KEY_PREFIX).trim();
            let action = if shared {
                Action::NeedsUser
            } else {
                Action::RemoveLines {
                    file: path.to_path_buf(),
                    lines: section.lines.clone(),
                    expected_sha256: sha.clone(),
                }
            };
            let detail = if shared {
                format!(
                    "a personal access token `az devops login` saved {}; it shares its line with another organization's, so ado-cutover leaves the file alone: run `az devops logout --organization {url}`",
                    owner.describe()
                )
            } else {
                format!(
                    "a personal access token `az devops login` saved {}; `az devops` asks for a new one (`az devops login --organization {url}`)",
                    owner.describe()
                )
            };
            Some(Candidate {
                owner,
                finding: Finding {
                    kind: KIND,
                    target: format!("{shown} [{}]", section.key),
                    detail,
                    action,
                },
            })
        })
        .collect()
}

fn organization_list(cx: &Context<'_>, path: &Path) -> Vec<Candidate> {
    let Ok(bytes) = crate::agent::fsutil::read_capped(path) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let sha = sha256_hex(&bytes);
    text.lines()
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .filter_map(|line| {
            let owner = owner_of_key(line.trim())?;
            // Only an organization's line: the default key is not listed by the extension.
            matches!(owner, Owner::Org(_)).then(|| Candidate {
                finding: Finding {
                    kind: KIND,
                    target: format!("{} ({})", cx.paths.display(path), line.trim()),
                    detail: format!(
                        "the Azure CLI's list of organizations it holds a token {}, so that `az devops logout` stays clean",
                        owner.describe()
                    ),
                    action: Action::RemoveLines {
                        file: path.to_path_buf(),
                        lines: vec![line.to_string()],
                        expected_sha256: sha.clone(),
                    },
                },
                owner,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_their_organization() {
        assert_eq!(
            owner_of_key("azdevops-cli:https://dev.azure.com/contoso"),
            Some(Owner::Org("contoso".into()))
        );
        assert_eq!(
            owner_of_key("azdevops-cli:https://fabrikam.visualstudio.com"),
            Some(Owner::Org("fabrikam".into()))
        );
        assert_eq!(owner_of_key("azdevops-cli: default"), Some(Owner::Unknown));
        assert_eq!(
            owner_of_key("azdevops-cli:https://dev.azure.com.evil.example/x"),
            None
        );
        assert_eq!(owner_of_key("other:https://dev.azure.com/contoso"), None);
    }

    #[test]
    fn sections_keep_their_lines() {
        let text = "[azdevops-cli:https://dev.azure.com/contoso]\npersonal access token = A\n\n[azdevops-cli:https://dev.azure.com/fabrikam]\r\npersonal access token = B\r\n";
        let found = sections(text);
        assert_eq!(found.len(), 2);
        assert_eq!(
            found[1].lines,
            [
                "[azdevops-cli:https://dev.azure.com/fabrikam]",
                "personal access token = B"
            ]
        );
    }
}
