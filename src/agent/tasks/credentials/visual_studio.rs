//! Windows: the Azure DevOps sign-in tokens Visual Studio (and the Office integration, Team
//! Explorer, the old credential providers) keeps in the registry, one key per token under
//! `HKCU\Software\Microsoft\VSCommon\<version>\ClientServices\TokenStorage\VisualStudio\VssApp`
//! with `Url`, `Type` and a DPAPI-protected `Token`. After the switch the old identity's token
//! keeps being offered; Microsoft's own advice is to export and delete that key.
//!
//! Reported with the command by default. With `credentials.clear_visual_studio_tokens` the key
//! of a moved organization is moved, whole, under `HKCU\Software\ado-cutover\Backup` (the token
//! never leaves the registry, so nothing secret is copied anywhere), and `undo` moves it back.

use super::{Candidate, owner_of_url};
use crate::agent::platform;
use crate::agent::secrets;
use crate::agent::settings::keys;
use crate::agent::tasks::{Action, Context, Finding};

/// Where moved keys are kept for `undo`, under `HKCU`.
pub(crate) const BACKUP: &str = r"Software\ado-cutover\Backup";

/// The key under [`BACKUP`] for the token key at `path`: its version and name, so two
/// versions' keys never meet.
fn backup_of(path: &str) -> String {
    let parts: Vec<&str> = path.split('\\').collect();
    // Software\Microsoft\VSCommon\<version>\ClientServices\TokenStorage\VisualStudio\VssApp\<name>
    let version = parts.get(3).copied().unwrap_or("unknown");
    let name = parts.last().copied().unwrap_or("unknown");
    format!(r"{BACKUP}\VSCommon-{version}-VssApp\{name}")
}

/// Visual Studio's token keys for Azure DevOps, each with its owner.
pub(super) fn candidates(cx: &Context<'_>) -> Vec<Candidate> {
    // A sandbox's registry is this machine's: read only when the harness says it is a
    // throwaway one (Wine), as for the OS credential store.
    if cx.paths.sandbox.is_some() && cx.env.get(secrets::SANDBOX_OPT_IN) != Some("1") {
        return Vec::new();
    }
    candidates_of(
        &platform::visual_studio_tokens(),
        cx.settings.flag(&keys::CLEAR_VISUAL_STUDIO_TOKENS),
    )
}

fn candidates_of(tokens: &[(String, String)], clear: bool) -> Vec<Candidate> {
    tokens
        .iter()
        .filter_map(|(path, url)| {
            let owner = owner_of_url(&url::Url::parse(url).ok()?).ok()?;
            let (detail, action) = if clear {
                (
                    format!(
                        "a sign-in token Visual Studio keeps for {url} in the registry; it is moved aside under HKCU\\{BACKUP} (undo puts it back), and Visual Studio asks you to sign in again"
                    ),
                    Action::MoveRegistryKey {
                        from: path.clone(),
                        to: backup_of(path),
                    },
                )
            } else {
                (
                    format!(
                        "a sign-in token Visual Studio keeps for {url} in the registry may be the old account's: close Visual Studio and Excel, then run `reg delete \"HKCU\\{path}\" /f` (or ask your admin about `credentials.clear_visual_studio_tokens`)"
                    ),
                    Action::NeedsUser,
                )
            };
            Some(Candidate {
                owner,
                finding: Finding {
                    kind: "visual-studio-token",
                    target: format!(r"HKCU\{path}"),
                    detail,
                    action,
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::tasks::credentials::Owner;

    const APP: &str =
        r"Software\Microsoft\VSCommon\14.0\ClientServices\TokenStorage\VisualStudio\VssApp";

    #[test]
    fn azure_devops_tokens_are_found_and_moved_aside_only_when_the_admin_chose() {
        let tokens = vec![
            (
                format!(r"{APP}\a1"),
                "https://contoso.visualstudio.com/".to_string(),
            ),
            (
                format!(r"{APP}\b2"),
                "https://dev.azure.com/fabrikam/".to_string(),
            ),
            (format!(r"{APP}\c3"), "https://tfs.example.com/".to_string()),
        ];
        let found = candidates_of(&tokens, false);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].owner, Owner::Org("contoso".into()));
        assert_eq!(found[1].owner, Owner::Org("fabrikam".into()));
        assert_eq!(found[0].finding.action, Action::NeedsUser);
        assert!(
            found[0]
                .finding
                .detail
                .contains(r#"reg delete "HKCU\Software"#)
        );
        let found = candidates_of(&tokens, true);
        assert_eq!(
            found[0].finding.action,
            Action::MoveRegistryKey {
                from: format!(r"{APP}\a1"),
                to: format!(r"{BACKUP}\VSCommon-14.0-VssApp\a1"),
            }
        );
    }
}
