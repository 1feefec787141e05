//! The optional new personal access token (`pat.create`), planned per organization: made only
//! in the guided run, where a person can see it once, and offered for saving only where git
//! keeps credentials in the operating system's credential store. The engine makes and saves it
//! ([`crate::agent::engine`]); this only looks.

use std::process::Stdio;

use super::tokens_page;
use crate::agent::data::state::State;
use crate::agent::tasks::{Action, Context, Finding, Interaction};
use crate::report::Status;

/// git credential helpers that keep secrets in the operating system's credential store.
const OS_STORE_HELPERS: &[&str] = &[
    "manager",
    "manager-core",
    "wincred",
    "osxkeychain",
    "libsecret",
];

/// The token findings, per configured organization.
pub(super) fn findings(cx: &Context<'_>) -> Vec<Finding> {
    let settings = cx.settings.pat();
    if !settings.create {
        return Vec::new();
    }
    let state = State::load(&cx.paths.data_dir);
    let mut findings = Vec::new();
    for org in cx.settings.organizations() {
        let page = tokens_page(org);
        let (detail, action) = if let Some(when) = state.pat_created.get(&org.to_ascii_lowercase())
        {
            (
                format!("a new personal access token was made for you on {when}"),
                Action::Note(Status::Ok),
            )
        } else if cx
            .settings
            .text(&crate::agent::settings::keys::ENTRA_CLIENT_ID)
            .is_none()
        {
            (
                format!(
                    "If you use a personal access token with {org}, make a new one on {page}: tokens made under your old sign-in stop working."
                ),
                Action::NeedsUser,
            )
        } else if cx.interaction != Interaction::Guided {
            (
                format!(
                    "A new personal access token for {org} can be made for you: start ado-cutover yourself (double-click it) to get it. It is shown only once."
                ),
                Action::NeedsUser,
            )
        } else {
            let url = format!("https://dev.azure.com/{org}");
            let os_store = is_os_store(&helper_for(cx, &url));
            let tail = if os_store {
                ""
            } else {
                "; git keeps credentials in a plain file here (or nowhere), so ado-cutover will not offer to save it"
            };
            findings.push(Finding {
                kind: "personal-access-token",
                target: org.clone(),
                detail: format!(
                    "a new personal access token ({}, valid {} days), shown to you once{tail}",
                    settings.scopes, settings.valid_days
                ),
                action: Action::CreatePat { org: org.clone() },
            });
            if os_store {
                findings.push(Finding {
                    kind: "saved-token",
                    target: org.clone(),
                    detail: format!(
                        "to save the new token in this computer's credential store, for git to use with {url}, if you say yes"
                    ),
                    action: Action::SaveCredential { org: org.clone(), url },
                });
            }
            continue;
        };
        findings.push(Finding {
            kind: "personal-access-token",
            target: org.clone(),
            detail,
            action,
        });
    }
    findings
}

/// git's `credential.helper` for `url`, read in the home folder (never inside a repository).
fn helper_for(cx: &Context<'_>, url: &str) -> String {
    cx.paths
        .command("git")
        .args(["config", "--get-urlmatch", "credential.helper", url])
        .current_dir(&cx.paths.home)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_default()
}

/// True when git's `credential.helper` value names a helper backed by the OS credential store:
/// a short name git completes (`manager`, `osxkeychain`, ...) or a path to such a helper (paths
/// may hold spaces, as on Windows). Shell snippets (`!...`) do not count.
fn is_os_store(helper: &str) -> bool {
    let helper = helper.trim().trim_matches('"');
    if helper.starts_with('!') {
        return false;
    }
    let first = helper.split_whitespace().next().unwrap_or("");
    let lower = helper.to_ascii_lowercase();
    OS_STORE_HELPERS.contains(&first)
        || OS_STORE_HELPERS
            .iter()
            .any(|name| lower.contains(&format!("git-credential-{name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_helpers_backed_by_the_os_store_count() {
        for helper in [
            "manager",
            "manager-core",
            "/usr/local/bin/git-credential-manager",
            "C:/Program Files/Git/mingw64/bin/git-credential-manager.exe",
            "osxkeychain",
            "/usr/share/doc/git/contrib/credential/libsecret/git-credential-libsecret",
            "wincred",
        ] {
            assert!(is_os_store(helper), "{helper}");
        }
        for helper in ["", "store", "cache --timeout 3600", "store --file ~/.creds"] {
            assert!(!is_os_store(helper), "{helper}");
        }
    }
}
