//! The shared Microsoft sign-in cache (MSAL, `.IdentityService`): used by Git Credential Manager,
//! Visual Studio, Azure PowerShell and the Azure Artifacts credential provider.
//!
//! It keeps the old account signed in, and those tools go on picking it after the switch
//! (TF400813, sign-in loops), but it also holds every other account the person uses, so it is
//! never deleted whole by default. When the old identity is known, the cache is read and only
//! the old accounts go, with their tokens (see [`crate::agent::msal`]): the accounts whose home
//! is the tenant a moved organization was on before (the tenant cache or an earlier run's switch
//! check saw it), their entries issued for that tenant, and, for an organization that used
//! personal Microsoft accounts, the personal account that carries the work e-mail's domain.
//! Accounts of the new tenant and every unrelated account stay signed in. The cache is written
//! back in place, as it was kept (plain, DPAPI-protected, or in the OS store).
//!
//! When the old identity is not known, or the cache cannot be read, it is reported and left
//! alone, unless the admin set `credentials.clear_msal_cache`: then it is deleted whole, and the
//! plan says first what that costs.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::agent::ado::tenant::{Backing, Lookup};
use crate::agent::identity;
use crate::agent::msal::place::Place;
use crate::agent::msal::{self, Account, Selection};
use crate::agent::secrets::{Item, Store};
use crate::agent::settings::keys;
use crate::agent::tasks::{Action, Context, Evidence, Finding};
use crate::report::Status;

const KIND: &str = "msal-cache";
const COST: &str = "deleting it signs you out of Visual Studio, Azure PowerShell and other Microsoft developer tools until you sign in again";

/// True for the cache's item in the OS store: the Secret Service item MSAL writes on Linux
/// (schema `msal.cache`, client id `Microsoft.Developer.IdentityService`) or the keychain item
/// `Microsoft.Developer.IdentityService` / `MSALCache` on macOS.
pub(super) fn is_msal_item(item: &Item) -> bool {
    item.get("MsalClientID") == "Microsoft.Developer.IdentityService"
        || (item.get("service") == "Microsoft.Developer.IdentityService"
            && item.get("account") == "MSALCache")
}

/// The cache file: `%LocalAppData%\.IdentityService\msal.cache` on Windows (DPAPI-protected); on
/// macOS and Linux `~/.local/.IdentityService/msal.cache` (a marker beside the OS store's item,
/// or the cache itself when no keyring exists).
fn cache_file(cx: &Context<'_>) -> PathBuf {
    let base = if cfg!(windows) {
        cx.paths.local_data.clone()
    } else {
        cx.paths.home.join(".local")
    };
    base.join(".IdentityService").join("msal.cache")
}

/// The identity the moved organizations left behind.
#[derive(Debug, Clone, Default)]
pub(super) struct OldIdentity {
    /// The Entra tenants they were on before (lower-case GUIDs).
    pub tenants: BTreeSet<String>,
    /// Some of them used personal Microsoft accounts.
    pub personal: bool,
    /// The tenants they are on now: never taken from.
    pub new: BTreeSet<String>,
    /// The domain of the person's work identity, when the machine knows it.
    pub work_domain: Option<String>,
}

impl OldIdentity {
    pub(super) fn is_known(&self) -> bool {
        !self.tenants.is_empty() || self.personal
    }
}

/// What the moved organizations (`moved`, and the configured ones) were on before.
pub(super) fn old_identity(
    cx: &Context<'_>,
    evidence: &Evidence,
    moved: &BTreeSet<String>,
    lookup: &mut Lookup,
) -> OldIdentity {
    let orgs: BTreeSet<String> = moved
        .iter()
        .cloned()
        .chain(
            cx.settings
                .organizations()
                .iter()
                .map(|o| o.to_ascii_lowercase()),
        )
        .collect();
    let mut old = OldIdentity::default();
    for org in &orgs {
        old.personal |= evidence.msa_orgs.contains(org) || evidence.msa_backed.contains(org);
        let Some(before) = evidence.old_tenants.get(org) else {
            continue;
        };
        // The tenant it is on now: the one the admins named, or else Azure DevOps's answer.
        let now = match cx.settings.expected_tenant() {
            Some(tenant) => Some(tenant.to_ascii_lowercase()),
            None => match lookup.backing(org) {
                Backing::Entra(tenant) => Some(tenant),
                _ => None,
            },
        };
        if let Some(now) = now {
            if &now != before {
                old.tenants.insert(before.clone());
            }
            old.new.insert(now);
        }
    }
    if let Some(tenant) = cx.settings.expected_tenant() {
        old.new.insert(tenant.to_ascii_lowercase());
    }
    old.tenants.retain(|t| !old.new.contains(t));
    if old.personal {
        old.work_domain = identity::learn(cx.paths, cx.env, cx.settings)
            .and_then(|found| domain(&found.upn).map(str::to_string));
    }
    old
}

fn domain(username: &str) -> Option<&str> {
    username
        .rsplit_once('@')
        .map(|(_, d)| d)
        .filter(|d| !d.is_empty())
}

/// What goes from a cache holding `accounts`, and the personal accounts that stay although an
/// organization used personal accounts (nothing tells they were the ones it used).
pub(super) fn select(accounts: &[Account], old: &OldIdentity) -> (Selection, Vec<String>) {
    // The work domain: the machine's, or the one of the new tenant's accounts here.
    let mut work_domains: BTreeSet<String> = old.work_domain.iter().cloned().collect();
    work_domains.extend(
        accounts
            .iter()
            .filter(|a| old.new.contains(&a.home_tenant))
            .filter_map(|a| domain(&a.username))
            .map(str::to_ascii_lowercase),
    );
    let mut selection = Selection {
        realms: old.tenants.clone(),
        keep_homes: old.new.clone(),
        ..Selection::default()
    };
    let mut kept_personal = Vec::new();
    for account in accounts {
        if old.tenants.contains(&account.home_tenant) {
            selection.homes.insert(account.home_account_id.clone());
        } else if old.personal && account.is_personal() {
            let work = domain(&account.username)
                .is_some_and(|d| work_domains.contains(&d.to_ascii_lowercase()));
            if work {
                selection.homes.insert(account.home_account_id.clone());
            } else {
                kept_personal.push(account.username.clone());
            }
        }
    }
    kept_personal.sort();
    kept_personal.dedup();
    (selection, kept_personal)
}

/// The findings for the shared cache: its file (when it holds a cache) and its OS store items.
pub(super) fn findings(cx: &Context<'_>, old: &OldIdentity, items: Vec<Item>) -> Vec<Finding> {
    let path = cache_file(cx);
    // With the cache in the OS store, the file is MSAL's marker (empty, or a stand-in).
    let marker = !items.is_empty();
    let mut places = Vec::new();
    if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
        places.push((
            cx.paths.display(&path),
            Place::File {
                path: path.clone(),
                protected: cfg!(windows),
            },
        ));
    }
    for item in items {
        places.push((
            format!("{}: Microsoft.Developer.IdentityService", Store::NAME),
            Place::Secret {
                item,
                marker: path.clone(),
            },
        ));
    }
    let store = cx.secret_store().ok().flatten();
    places
        .into_iter()
        .flat_map(|(target, place)| {
            let is_marker = marker && matches!(place, Place::File { .. });
            plan_place(cx, old, store, target, place, is_marker)
        })
        .collect()
}

fn plan_place(
    cx: &Context<'_>,
    old: &OldIdentity,
    store: Option<&Store>,
    target: String,
    place: Place,
    is_marker: bool,
) -> Vec<Finding> {
    let json = match place.read(store) {
        Ok(Some(json)) if !json.iter().all(u8::is_ascii_whitespace) => json,
        // Not there, a marker file beside the OS store's item, or an empty cache.
        Ok(_) => return Vec::new(),
        Err(_) if is_marker => return Vec::new(),
        Err(why) => return vec![whole(cx, old, target, place, Some(&why))],
    };
    let accounts = match msal::accounts(&json) {
        Ok(accounts) => accounts,
        Err(_) if is_marker => return Vec::new(),
        Err(why) => return vec![whole(cx, old, target, place, Some(&why.to_string()))],
    };
    if !old.is_known() {
        return vec![whole(cx, old, target, place, None)];
    }
    let (selection, kept_personal) = select(&accounts, old);
    let mut findings = Vec::new();
    // What a rewrite would take now (the cache was read whole above, so it parses).
    if let Ok(Some((_, removed))) = msal::rewrite(&json, &selection) {
        let who: Vec<String> = removed
            .accounts
            .iter()
            .map(|a| {
                if !selection.homes.contains(&a.home_account_id) {
                    format!("{}'s sign-in to the old tenant {}", a.username, a.realm)
                } else if a.is_personal() {
                    format!("{} (personal Microsoft account)", a.username)
                } else {
                    format!("{} (old tenant {})", a.username, a.home_tenant)
                }
            })
            .collect();
        findings.push(Finding {
            kind: KIND,
            target: target.clone(),
            detail: format!(
                "the shared Microsoft sign-in cache keeps the old identity signed in: {}; Git, Visual Studio and NuGet would go on using it. Only those sign-ins ({} entries) are removed; every other account stays signed in",
                who.join(", "),
                removed.entries
            ),
            action: Action::RemoveMsalAccounts { place, selection },
        });
    }
    if !kept_personal.is_empty() {
        findings.push(Finding {
            kind: KIND,
            target,
            detail: format!(
                "the shared Microsoft sign-in cache keeps the personal Microsoft account {}; an organization used personal accounts before it moved, but nothing shows this one was it, so it stays. If Git or Visual Studio signs in with it, sign out of it there",
                kept_personal.join(", ")
            ),
            action: Action::Note(Status::Info),
        });
    }
    findings
}

/// A cache the old identity cannot be picked out of (`why` it cannot be read, or nobody knows
/// the old identity): deleted whole only when the admin chose so.
fn whole(
    cx: &Context<'_>,
    old: &OldIdentity,
    target: String,
    place: Place,
    why: Option<&str>,
) -> Finding {
    let reason = match why {
        Some(why) => format!("its accounts cannot be read ({why})"),
        None if old.new.is_empty() => "the old identity is not known".to_string(),
        None => "the tenant the organizations were on before is not known (no tenant cache, and no run saw them before the switch)".to_string(),
    };
    if cx.settings.flag(&keys::CLEAR_MSAL_CACHE) {
        let action = match place {
            Place::File { path, .. } => Action::DeleteFile(path),
            Place::Secret { item, .. } => Action::DeleteSecret(item),
        };
        Finding {
            kind: KIND,
            target,
            detail: format!(
                "the shared Microsoft sign-in cache, which may hold your old account; {reason}, and your admin chose to clear it whole ({COST})"
            ),
            action,
        }
    } else {
        Finding {
            kind: KIND,
            target,
            detail: format!(
                "the shared Microsoft sign-in cache may still hold your old account; {reason}, so it is left alone ({COST}). If Git signs in as the old account, sign out of it in Visual Studio (or ask your admin about `credentials.clear_msal_cache`)"
            ),
            action: Action::Note(Status::Info),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "11111111-1111-1111-1111-111111111111";
    const NEW: &str = "22222222-2222-2222-2222-222222222222";

    fn account(username: &str, home_tenant: &str) -> Account {
        Account {
            username: username.into(),
            home_account_id: format!("{username}.{home_tenant}"),
            home_tenant: home_tenant.into(),
            realm: home_tenant.into(),
        }
    }

    #[test]
    fn the_old_tenant_and_the_work_domain_personal_account_go_and_nothing_else() {
        let accounts = [
            account("alice@contoso.com", OLD),
            account("alice@contoso.com", NEW),
            account("alice@contoso.com", msal::CONSUMERS_TENANT),
            account("alice@outlook.com", msal::CONSUMERS_TENANT),
            account(
                "alice@partner.example",
                "33333333-3333-3333-3333-333333333333",
            ),
        ];
        let old = OldIdentity {
            tenants: BTreeSet::from([OLD.to_string()]),
            personal: true,
            new: BTreeSet::from([NEW.to_string()]),
            work_domain: None,
        };
        let (selection, kept) = select(&accounts, &old);
        assert_eq!(
            selection.homes,
            BTreeSet::from([
                format!("alice@contoso.com.{OLD}"),
                format!("alice@contoso.com.{}", msal::CONSUMERS_TENANT),
            ])
        );
        assert_eq!(kept, ["alice@outlook.com"]);
        assert_eq!(selection.keep_homes, old.new);
        // Without personal-account use, personal accounts are not even looked at.
        let old = OldIdentity {
            personal: false,
            ..old
        };
        let (selection, kept) = select(&accounts, &old);
        assert_eq!(selection.homes.len(), 1);
        assert!(kept.is_empty());
    }
}
