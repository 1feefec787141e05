//! Task `guidance`: the steps no program can do for the user, where they apply.
//!
//! - Rename the personal Microsoft account that shares the work e-mail address, so sign-in stops
//!   asking which account to use; and move the Visual Studio subscription to the new identity.
//!   Both apply when an organization was used with personal Microsoft accounts (evidence from
//!   earlier tasks, e.g. the tenant cache's all-zero tenant).
//!   Evidence is any of: the tenant cache's all-zero tenant, a cached `azureAuthority` of
//!   `/organizations` or the all-zero tenant, an `authority = MSA` pin, or a tenant lookup that
//!   answers with the personal-account tenant (gathered by `gcm-tenant-cache` and `credentials`).
//! - The SSH keys of the old identity: Microsoft's procedure has the organization ask Microsoft
//!   Support to clear them, before the switch. Applies when this user's SSH configuration, known
//!   hosts or repositories' remotes show SSH use with Azure DevOps.
//! - Sign back in with the work account, once saved credentials were cleared; make new personal
//!   access tokens for scripts and feeds, once old tokens were found.
//! - Sign out of the old account in Visual Studio Code (its own sign-in, which no file here
//!   holds in a form to clean), when it is installed and repositories here use an organization
//!   in scope.
//! - On Windows, when Git signs in through the Windows account broker, disconnect the old work
//!   account in "Access work or school"; on macOS, remove Azure DevOps' website data in Safari
//!   (whose cookie store no other program may change). Both where an organization moved.
//!
//! Each is recorded as a `needs-user` item only where it applies, and the guided run shows it
//! once, with its link.

use std::path::Path;

use super::{Action, Context, Evidence, Finding, Task, TaskError};
use crate::agent::hosts;
use crate::agent::repos::gitconfig;

/// Where Microsoft explains renaming a personal Microsoft account.
pub(crate) const RENAME_MSA_URL: &str =
    "https://support.microsoft.com/help/11545/microsoft-account-rename-your-personal-account";
/// Where Microsoft explains adding the new identity to a Visual Studio subscription.
pub(crate) const VS_SUBSCRIPTION_URL: &str = "https://learn.microsoft.com/visualstudio/subscriptions/vs-alternate-identity#add-an-alternate-account-to-your-subscription";
/// Where an organization asks Microsoft Support to clear the old identity's SSH keys.
pub(crate) const SUPPORT_URL: &str = "https://azure.microsoft.com/support/devops/";
/// Where Microsoft explains personal access tokens.
pub(crate) const PAT_URL: &str = "https://learn.microsoft.com/azure/devops/organizations/accounts/use-personal-access-tokens-to-authenticate";
/// Where Microsoft explains SSH keys for Azure DevOps.
pub(crate) const SSH_KEYS_URL: &str =
    "https://learn.microsoft.com/azure/devops/repos/git/use-ssh-keys-to-authenticate";

/// The `guidance` task.
pub(crate) struct Guidance;

impl Task for Guidance {
    fn id(&self) -> &'static str {
        "guidance"
    }

    fn title(&self) -> &'static str {
        "Steps only you can do"
    }

    fn why(&self) -> &'static str {
        "A few things live in your accounts, not on this computer. ado-cutover tells you which \
         of them apply to you and where to do them."
    }

    fn detect(&self, cx: &Context<'_>, evidence: &mut Evidence) -> Result<Vec<Finding>, TaskError> {
        let mut findings = Vec::new();
        let msa_orgs: Vec<&str> = evidence
            .msa_orgs
            .iter()
            .map(String::as_str)
            .filter(|org| cx.settings.org_in_scope(org))
            .collect();
        if !msa_orgs.is_empty() {
            let orgs = msa_orgs.join(", ");
            findings.push(Finding {
                kind: "user-step",
                target: "rename-personal-account".into(),
                detail: format!(
                    "You used {orgs} with a personal Microsoft account. If that account uses your work e-mail address, give it another address so sign-in stops asking you to choose between two accounts: {RENAME_MSA_URL}"
                ),
                action: Action::NeedsUser,
            });
            findings.push(Finding {
                kind: "user-step",
                target: "move-visual-studio-subscription".into(),
                detail: format!(
                    "If you have a Visual Studio subscription, add your work account to it (or ask your subscription administrator to reassign it) so it follows you to the new sign-in: {VS_SUBSCRIPTION_URL}"
                ),
                action: Action::NeedsUser,
            });
        }
        let source = ssh_use(&cx.paths.ssh_dir).or(evidence
            .ssh_remotes
            .then_some("repositories (their SSH remotes)"));
        if let Some(source) = source {
            findings.push(Finding {
                kind: "user-step",
                target: "clear-old-ssh-keys".into(),
                detail: format!(
                    "Your {source} shows you use SSH with Azure DevOps. Keys added under your old sign-in do not carry over, and Microsoft's procedure has the organization ask Microsoft Support to clear them before the switch ({SUPPORT_URL}): check with your Azure DevOps administrator that this was done, then add your new key: {SSH_KEYS_URL}"
                ),
                action: Action::NeedsUser,
            });
        }
        if evidence.credentials_cleared {
            findings.push(Finding {
                kind: "user-step",
                target: "sign-in-with-work-account".into(),
                detail: "Your saved Azure DevOps sign-ins were removed. The next time Git, Visual Studio or a browser asks, sign in with your work account (not a personal Microsoft account), and choose it again if you are asked which account to use".into(),
                action: Action::NeedsUser,
            });
        }
        // Only for organizations that moved: the configured ones, or (none configured) when
        // credentials of a moved organization were found.
        let moved_here = !evidence.remote_orgs.is_empty()
            && (!cx.settings.organizations().is_empty() || evidence.credentials_cleared);
        if let Some(editor) = vs_code(cx).filter(|_| moved_here) {
            let orgs: Vec<&str> = evidence.remote_orgs.iter().map(String::as_str).collect();
            findings.push(Finding {
                kind: "user-step",
                target: "sign-out-of-vs-code".into(),
                detail: format!(
                    "{editor} keeps its own Microsoft sign-in, which its Azure Repos, Azure DevOps and MCP extensions use for {}. In {editor}, open Accounts (the person icon at the bottom left), sign out of your old account, and sign in again with your work account when an extension asks",
                    orgs.join(", ")
                ),
                action: Action::NeedsUser,
            });
        }
        if moved_here || evidence.credentials_cleared {
            if let Some(why) = broker_in_use(cx) {
                findings.push(Finding {
                    kind: "user-step",
                    target: "disconnect-old-work-account".into(),
                    detail: format!(
                        "Git signs in through Windows ({why}), which keeps work accounts of its own: in Settings > Accounts > Access work or school, disconnect the account of the old organization if it is listed, then let Git ask again and choose your work account"
                    ),
                    action: Action::NeedsUser,
                });
            }
            if let Some(store) = safari_cookies(cx) {
                findings.push(Finding {
                    kind: "user-step",
                    target: "clear-safari-website-data".into(),
                    detail: format!(
                        "Safari keeps Azure DevOps cookies ({store}), which no other program may change: in Safari, open Settings > Privacy > Manage Website Data, search for dev.azure.com and visualstudio.com, and remove them"
                    ),
                    action: Action::NeedsUser,
                });
            }
        }
        if evidence.old_tokens {
            findings.push(Finding {
                kind: "user-step",
                target: "make-new-personal-access-tokens".into(),
                detail: format!(
                    "Personal access tokens made under your old sign-in stop working. Make new ones for your scripts, package feeds and tools, signed in with your work account: {PAT_URL}"
                ),
                action: Action::NeedsUser,
            });
        }
        // Shown once: a step the person already saw on an earlier run stays in the report as a
        // fact, without asking again.
        for finding in &mut findings {
            if evidence.shown_steps.contains(&finding.target) {
                finding.action = Action::Note(crate::report::Status::Info);
                finding.detail = format!("shown on an earlier run: {}", finding.detail);
            }
        }
        Ok(findings)
    }
}

/// Why Git Credential Manager signs in through the Windows account broker (WAM) here, if it
/// does: `credential.msauthUseBroker` in the global configuration, or `GCM_MSAUTH_USEBROKER`.
fn broker_in_use(cx: &Context<'_>) -> Option<&'static str> {
    if !cfg!(windows) {
        return None;
    }
    let on = |v: &str| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "true" | "1" | "yes" | "on"
        )
    };
    if cx.env.get("GCM_MSAUTH_USEBROKER").is_some_and(on) {
        return Some("GCM_MSAUTH_USEBROKER");
    }
    let global = gitconfig::global_files(cx.paths, cx.env);
    gitconfig::values_in_files(&global, "credential.msauthUseBroker")
        .last()
        .is_some_and(|v| on(v))
        .then_some("credential.msauthUseBroker")
}

/// Safari's cookie store, shown, when it holds an Azure DevOps cookie domain. The binary
/// format keeps each domain as a NUL-terminated string, so a byte search finds them.
fn safari_cookies(cx: &Context<'_>) -> Option<String> {
    if !cfg!(target_os = "macos") {
        return None;
    }
    let library = cx.paths.home.join("Library");
    [
        library.join("Containers/com.apple.Safari/Data/Library/Cookies/Cookies.binarycookies"),
        library.join("Cookies/Cookies.binarycookies"),
    ]
    .into_iter()
    .find(|path| {
        crate::agent::fsutil::read_capped(path).is_ok_and(|bytes| {
            [&b"dev.azure.com\0"[..], &b"visualstudio.com\0"[..]]
                .iter()
                .any(|needle| bytes.windows(needle.len()).any(|w| w == *needle))
        })
    })
    .map(|path| cx.paths.display(&path))
}

/// The name of the Visual Studio Code edition whose user data folder exists here, if any.
fn vs_code(cx: &Context<'_>) -> Option<&'static str> {
    [
        ("Code", "Visual Studio Code"),
        ("Code - Insiders", "Visual Studio Code Insiders"),
        ("VSCodium", "VSCodium"),
    ]
    .into_iter()
    .find(|(dir, _)| {
        std::fs::symlink_metadata(cx.paths.config_home.join(dir)).is_ok_and(|m| m.is_dir())
    })
    .map(|(_, name)| name)
}

/// Which file in `~/.ssh` shows SSH use with Azure DevOps, if any.
pub(crate) fn ssh_use(ssh_dir: &Path) -> Option<&'static str> {
    let names_ado = |text: &str, words: fn(&str) -> Vec<&str>| {
        text.lines()
            .map(str::trim)
            .filter(|line| !line.starts_with('#'))
            .flat_map(words)
            .any(|word| {
                let host = word
                    .trim_start_matches('[')
                    .split([']', ':'])
                    .next()
                    .unwrap_or("");
                host.eq_ignore_ascii_case(hosts::SSH_DEV_AZURE)
                    || host.eq_ignore_ascii_case(hosts::VS_SSH)
            })
    };
    let read = |name: &str| crate::agent::fsutil::read_capped_text(&ssh_dir.join(name)).ok();
    // `Host`/`HostName` values in the client configuration.
    if read("config").is_some_and(|text| {
        names_ado(&text, |line| {
            let mut parts = line.split_whitespace();
            match parts.next() {
                Some(k) if k.eq_ignore_ascii_case("host") || k.eq_ignore_ascii_case("hostname") => {
                    parts.collect()
                }
                _ => Vec::new(),
            }
        })
    }) {
        return Some("SSH configuration (~/.ssh/config)");
    }
    // The first field of a known_hosts line lists host names (hashed ones cannot be read).
    if read("known_hosts").is_some_and(|text| {
        names_ado(&text, |line| {
            line.split_whitespace()
                .next()
                .map(|hosts| hosts.split(',').collect())
                .unwrap_or_default()
        })
    }) {
        return Some("list of known SSH hosts (~/.ssh/known_hosts)");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::paths::Paths;
    use crate::agent::tasks::with_context;

    fn detect(paths: &Paths, evidence: &mut Evidence) -> Vec<Finding> {
        with_context(paths, |cx| Guidance.detect(cx, evidence).unwrap())
    }

    #[test]
    fn vs_code_gets_a_step_when_installed_and_a_moved_organization_is_used_here() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::sandboxed(dir.path());
        let step = |evidence: &mut Evidence| {
            detect(&paths, evidence)
                .into_iter()
                .find(|f| f.target == "sign-out-of-vs-code")
        };
        let mut evidence = Evidence {
            credentials_cleared: true,
            ..Evidence::default()
        };
        evidence.remote_orgs.insert("contoso".into());
        assert!(step(&mut evidence.clone()).is_none(), "not installed");
        std::fs::create_dir_all(paths.config_home.join("Code")).unwrap();
        let found = step(&mut evidence.clone()).expect("installed and used");
        assert!(found.detail.contains("Visual Studio Code") && found.detail.contains("contoso"));
        evidence.credentials_cleared = false;
        assert!(
            step(&mut evidence.clone()).is_none(),
            "nothing shows the organization moved"
        );
    }

    /// Windows only: elsewhere Git Credential Manager has no account broker.
    #[cfg(windows)]
    #[test]
    fn git_signing_in_through_the_windows_broker_gets_the_access_work_or_school_step() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::sandboxed(dir.path());
        let step = |evidence: &mut Evidence| {
            detect(&paths, evidence)
                .into_iter()
                .any(|f| f.target == "disconnect-old-work-account")
        };
        let mut evidence = Evidence {
            credentials_cleared: true,
            ..Evidence::default()
        };
        assert!(!step(&mut evidence.clone()), "no broker configured");
        std::fs::create_dir_all(&paths.home).unwrap();
        std::fs::write(
            paths.home.join(".gitconfig"),
            "[credential]\n\tmsauthUseBroker = true\n",
        )
        .unwrap();
        assert!(step(&mut evidence.clone()));
        evidence.credentials_cleared = false;
        assert!(!step(&mut evidence), "nothing moved");
    }

    #[test]
    fn nothing_applies_without_evidence() {
        let dir = tempfile::tempdir().unwrap();
        assert!(detect(&Paths::sandboxed(dir.path()), &mut Evidence::default()).is_empty());
    }

    #[test]
    fn personal_account_steps_follow_msa_evidence() {
        let dir = tempfile::tempdir().unwrap();
        let mut evidence = Evidence::default();
        evidence.msa_orgs.insert("contoso".into());
        let findings = detect(&Paths::sandboxed(dir.path()), &mut evidence);
        let targets: Vec<&str> = findings.iter().map(|f| f.target.as_str()).collect();
        assert_eq!(
            targets,
            ["rename-personal-account", "move-visual-studio-subscription"]
        );
        assert!(findings.iter().all(|f| f.action == Action::NeedsUser));
        assert!(findings[0].detail.contains("contoso"));
        assert!(findings[0].detail.contains(RENAME_MSA_URL));
    }

    #[test]
    fn ssh_step_follows_ssh_use_with_azure_devops() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::sandboxed(dir.path());
        std::fs::create_dir_all(&paths.ssh_dir).unwrap();
        let known = paths.ssh_dir.join("known_hosts");
        std::fs::write(&known, "github.com ssh-ed25519 AAAA\n# ssh.dev.azure.com\n").unwrap();
        std::fs::write(
            paths.ssh_dir.join("config"),
            "Host work\n  HostName ssh.dev.azure.com.evil.example\n",
        )
        .unwrap();
        assert!(detect(&paths, &mut Evidence::default()).is_empty());

        std::fs::write(&known, "ssh.dev.azure.com,20.1.2.3 ssh-rsa AAAA\n").unwrap();
        let findings = detect(&paths, &mut Evidence::default());
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].target, "clear-old-ssh-keys");
        assert!(findings[0].detail.contains("known_hosts"));
        // Microsoft's procedure: the organization asks Microsoft Support, before the switch.
        assert!(findings[0].detail.contains("Microsoft Support"));
        assert!(findings[0].detail.contains(SUPPORT_URL));
        assert!(findings[0].detail.contains("before the switch"));

        std::fs::write(
            paths.ssh_dir.join("config"),
            "Host VS-SSH.visualstudio.com\n",
        )
        .unwrap();
        assert!(
            detect(&paths, &mut Evidence::default())[0]
                .detail
                .contains("~/.ssh/config")
        );
    }

    #[test]
    fn ssh_remotes_found_by_the_remotes_task_count_too() {
        let dir = tempfile::tempdir().unwrap();
        let mut evidence = Evidence {
            ssh_remotes: true,
            ..Evidence::default()
        };
        let findings = detect(&Paths::sandboxed(dir.path()), &mut evidence);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].target, "clear-old-ssh-keys");
        assert!(
            findings[0].detail.contains("SSH remotes"),
            "{}",
            findings[0].detail
        );
    }

    #[test]
    fn sign_in_and_new_token_steps_follow_what_credentials_found() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::sandboxed(dir.path());
        let mut evidence = Evidence {
            credentials_cleared: true,
            ..Evidence::default()
        };
        let targets = |evidence: &mut Evidence| -> Vec<String> {
            detect(&paths, evidence)
                .into_iter()
                .map(|f| f.target)
                .collect()
        };
        assert_eq!(targets(&mut evidence), ["sign-in-with-work-account"]);
        evidence.old_tokens = true;
        assert_eq!(
            targets(&mut evidence),
            [
                "sign-in-with-work-account",
                "make-new-personal-access-tokens"
            ]
        );
        evidence
            .shown_steps
            .insert("sign-in-with-work-account".into());
        let findings = detect(&paths, &mut evidence);
        assert_eq!(
            findings[0].action,
            Action::Note(crate::report::Status::Info),
            "shown once"
        );
        assert_eq!(findings[1].action, Action::NeedsUser);
    }

    #[test]
    fn steps_shown_before_are_kept_as_facts_and_scope_applies() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::sandboxed(dir.path());
        let mut evidence = Evidence::default();
        evidence.msa_orgs.insert("contoso".into());
        evidence
            .shown_steps
            .insert("rename-personal-account".into());
        let findings = detect(&paths, &mut evidence);
        assert_eq!(
            findings[0].action,
            Action::Note(crate::report::Status::Info)
        );
        assert!(findings[0].detail.starts_with("shown on an earlier run: "));
        assert_eq!(findings[1].action, Action::NeedsUser);

        std::fs::create_dir_all(paths.user_config().parent().unwrap()).unwrap();
        std::fs::write(paths.user_config(), "organizations = [\"fabrikam\"]\n").unwrap();
        assert!(
            detect(&paths, &mut evidence).is_empty(),
            "contoso did not move"
        );
    }
}
