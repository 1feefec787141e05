//! Azure DevOps credentials in the OS credential store, and which organization each is for.
//!
//! Git Credential Manager names its items `<namespace>:https://dev.azure.com/<org>` (or
//! `…://<org>.visualstudio.com`) with the account beside it; on Windows the target may carry the
//! account as `git:https://alice_contoso.com@dev.azure.com/contoso`. git's own helpers store the
//! URL's parts: wincred as a `git:https://[user@]host[/path]` target, libsecret as `protocol`,
//! `server`, `port`, `user` and `object` attributes. The shared Microsoft sign-in cache (MSAL)
//! is handled by [`super::msal`].

use std::collections::BTreeSet;

use super::{Candidate, Owner, msal, owner_of_url};
use crate::agent::secrets::{Item, Store};
use crate::agent::tasks::{Action, Context, Finding};
use crate::report::{Status, redact};

/// What one store item is.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Class {
    /// A saved credential for Azure DevOps: its name (safe to show), who wrote it, its owner.
    Credential {
        name: String,
        writer: &'static str,
        owner: Owner,
    },
    /// The shared Microsoft sign-in cache.
    Msal,
    /// Not ours.
    Other,
}

/// The store's Azure DevOps items, each with its owner, and the shared Microsoft sign-in cache's
/// items (planned by [`msal`], which needs to know what moved first).
pub(super) fn candidates(
    cx: &Context<'_>,
    namespaces: &BTreeSet<String>,
) -> (Vec<Candidate>, Vec<Item>) {
    // A store that cannot be used is said once, as a note, and nothing else is looked at.
    let note = |detail: String, status: Status| {
        vec![Candidate {
            owner: Owner::Everyone,
            finding: Finding {
                kind: Store::KIND,
                target: Store::NAME.to_string(),
                detail,
                action: Action::Note(status),
            },
        }]
    };
    let store = match cx.secret_store() {
        Ok(Some(store)) => store,
        Ok(None) => return (Vec::new(), Vec::new()),
        Err(why) => {
            return (
                note(format!("not checked: {why}"), Status::Skipped),
                Vec::new(),
            );
        }
    };
    let items = match store.candidates() {
        Ok(items) => items,
        Err(why) => {
            return (
                note(format!("could not be searched: {why}"), Status::Failed),
                Vec::new(),
            );
        }
    };
    let mut found = Vec::new();
    let mut msal_items = Vec::new();
    for item in items {
        match classify(&item, namespaces) {
            Class::Credential {
                name,
                writer,
                owner,
            } => {
                let whose = match &owner {
                    Owner::Org(org) => format!(" for {org}"),
                    _ => String::new(),
                };
                found.push(Candidate {
                    owner,
                    finding: Finding {
                        kind: Store::KIND,
                        target: name,
                        detail: format!("a credential saved by {writer}{whose} in {}", Store::NAME),
                        action: Action::DeleteSecret(item),
                    },
                });
            }
            Class::Msal => msal_items.push(item),
            Class::Other => {}
        }
    }
    (found, msal_items)
}

/// Decides what an item is from its attributes alone.
pub(super) fn classify(item: &Item, namespaces: &BTreeSet<String>) -> Class {
    if msal::is_msal_item(item) {
        return Class::Msal;
    }
    // Git Credential Manager (service + account) or a Windows target (GCM or wincred).
    let (named, account) = if !item.get("target_name").is_empty() {
        (item.get("target_name"), item.get("username"))
    } else {
        (item.get("service"), item.get("account"))
    };
    let named = named.strip_prefix("LegacyGeneric:target=").unwrap_or(named);
    // The Azure CLI's devops extension, through Python's keyring (`azdevops-cli:<url>`, user
    // `Personal Access Token`; the Secret Service item has `username` instead of `account`).
    if named.starts_with(super::azure_cli::KEY_PREFIX) {
        return match super::azure_cli::owner_of_key(named) {
            Some(owner) => Class::Credential {
                name: redact::url(named),
                writer: "the Azure CLI (az devops login)",
                owner,
            },
            None => Class::Other,
        };
    }
    if let Some((namespace, rest)) = named.split_once(':')
        && namespaces.contains(namespace)
        && (rest.starts_with("https://") || rest.starts_with("http://"))
    {
        // Only Git Credential Manager writes `service` items; a Windows target may also be
        // git's wincred helper, which uses the same `git:` form.
        let writer = if item.get("service").is_empty() {
            "Git Credential Manager or Git's wincred helper"
        } else {
            "Git Credential Manager"
        };
        let shown = match account {
            "" => redact::url(named),
            account => format!("{} ({account})", redact::url(named)),
        };
        return credential(rest, account, &shown, writer);
    }
    // git's libsecret helper.
    let server = item.get("server");
    let protocol = item.get("protocol");
    if !server.is_empty() && matches!(protocol, "https" | "http") {
        let port = match item.get("port") {
            "" | "0" => String::new(),
            port => format!(":{port}"),
        };
        let object = item.get("object").trim_start_matches('/');
        let text = format!("{protocol}://{server}{port}/{object}");
        let user = item.get("user");
        let shown = if user.is_empty() {
            text.clone()
        } else {
            format!("{text} ({user})")
        };
        return credential(&text, user, &shown, "Git's libsecret helper");
    }
    Class::Other
}

fn credential(url: &str, account: &str, shown: &str, writer: &'static str) -> Class {
    let Ok(mut url) = url::Url::parse(url) else {
        return Class::Other;
    };
    if url.username().is_empty() && !account.is_empty() {
        // The account may be an organization name (git's helpers on `https://contoso@dev.azure.com`).
        let _ = url.set_username(account);
    }
    let Ok(owner) = owner_of_url(&url) else {
        return Class::Other;
    };
    Class::Credential {
        name: shown.to_string(),
        writer,
        owner,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn item(pairs: &[(&str, &str)]) -> Item {
        Item {
            attributes: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    fn owner(pairs: &[(&str, &str)]) -> Option<Owner> {
        let namespaces = BTreeSet::from(["git".to_string(), "corp".to_string()]);
        match classify(&item(pairs), &namespaces) {
            Class::Credential { owner, .. } => Some(owner),
            _ => None,
        }
    }

    fn org(name: &str) -> Option<Owner> {
        Some(Owner::Org(name.into()))
    }

    /// A host-wide item saved for a user name that may be an organization (decided later).
    fn maybe(name: &str) -> Option<Owner> {
        Some(Owner::MaybeOrg(name.into()))
    }

    #[test]
    fn the_azure_cli_s_tokens_belong_to_the_org_in_their_key() {
        // Python's keyring on the Secret Service, on Windows and in the macOS keychain.
        let secret_service = owner(&[
            ("xdg:schema", "org.freedesktop.Secret.Generic"),
            ("application", "Python keyring library"),
            ("service", "azdevops-cli:https://dev.azure.com/contoso"),
            ("username", "Personal Access Token"),
        ]);
        assert_eq!(secret_service, org("contoso"));
        let windows = owner(&[
            (
                "target_name",
                "azdevops-cli:https://fabrikam.visualstudio.com",
            ),
            ("username", "Personal Access Token"),
        ]);
        assert_eq!(windows, org("fabrikam"));
        let macos = owner(&[
            ("service", "azdevops-cli: default"),
            ("account", "Personal Access Token"),
        ]);
        assert_eq!(macos, Some(Owner::Unknown));
        // Other Python keyring items are not ours.
        assert_eq!(
            owner(&[
                ("xdg:schema", "org.freedesktop.Secret.Generic"),
                ("service", "some-app"),
                ("username", "me"),
            ]),
            None
        );
    }

    #[test]
    fn gcm_items_belong_to_the_org_in_their_service() {
        let gcm = |service, account| {
            owner(&[
                ("xdg:schema", "com.microsoft.GitCredentialManager"),
                ("service", service),
                ("account", account),
            ])
        };
        assert_eq!(
            gcm("git:https://dev.azure.com/contoso", "a@contoso.com"),
            org("contoso")
        );
        assert_eq!(
            gcm("corp:https://dev.azure.com/Contoso", "a@x.com"),
            org("contoso")
        );
        assert_eq!(
            gcm("git:https://fabrikam.visualstudio.com", "a@x.com"),
            org("fabrikam")
        );
        assert_eq!(gcm("other:https://dev.azure.com/contoso", "a@x.com"), None);
        assert_eq!(
            gcm("git:https://dev.azure.com.evil.example/contoso", "a"),
            None
        );
        assert_eq!(gcm("git:https://notdev.azure.com/contoso", "a"), None);
        assert_eq!(gcm("git:https://dev.azure.com:8443/contoso", "a"), None);
        assert_eq!(gcm("git:https://github.com", "a"), None);
        assert_eq!(
            gcm("git:https://dev.azure.com", "a@contoso.com"),
            Some(Owner::Unknown)
        );
    }

    #[test]
    fn windows_targets_of_gcm_and_wincred() {
        let win = |target, user| owner(&[("target_name", target), ("username", user)]);
        assert_eq!(
            win(
                "git:https://alice_contoso.com@dev.azure.com/contoso",
                "alice@contoso.com"
            ),
            org("contoso")
        );
        assert_eq!(
            win(
                "LegacyGeneric:target=git:https://dev.azure.com/contoso",
                "a"
            ),
            org("contoso")
        );
        assert_eq!(
            win("git:https://contoso@dev.azure.com", "contoso"),
            maybe("contoso")
        );
        assert_eq!(win("git:https://dev.azure.com", "jdoe"), maybe("jdoe"));
        assert_eq!(
            win("git:https://dev.azure.com", "alice@contoso.com"),
            Some(Owner::Unknown)
        );
        assert_eq!(win("git:https://github.com", "alice"), None);
        assert_eq!(win("MicrosoftAccount:user=alice", "alice"), None);
    }

    #[test]
    fn libsecret_items_by_their_parts() {
        let lib = |server, user, object, port| {
            owner(&[
                ("xdg:schema", "org.git.Password"),
                ("protocol", "https"),
                ("server", server),
                ("user", user),
                ("object", object),
                ("port", port),
            ])
        };
        assert_eq!(lib("dev.azure.com", "contoso", "", "0"), maybe("contoso"));
        assert_eq!(
            lib("dev.azure.com", "x", "contoso/p/_git/r", "0"),
            org("contoso")
        );
        assert_eq!(
            lib("dev.azure.com", "alice@contoso.com", "", "0"),
            Some(Owner::Unknown)
        );
        assert_eq!(lib("dev.azure.com", "contoso", "", "8443"), None);
        assert_eq!(
            lib("contoso.visualstudio.com", "x", "", "0"),
            org("contoso")
        );
        assert_eq!(lib("github.com", "contoso", "", "0"), None);
        assert_eq!(lib("dev.azure.com.evil.example", "contoso", "", "0"), None);
    }

    #[test]
    fn the_msal_cache_is_recognised_and_nothing_else_is() {
        let namespaces = BTreeSet::from(["git".to_string()]);
        let msal = item(&[
            ("xdg:schema", "msal.cache"),
            ("MsalClientID", "Microsoft.Developer.IdentityService"),
        ]);
        assert_eq!(classify(&msal, &namespaces), Class::Msal);
        let other = item(&[
            ("xdg:schema", "org.freedesktop.Secret.Generic"),
            ("app", "x"),
        ]);
        assert_eq!(classify(&other, &namespaces), Class::Other);
    }
}
