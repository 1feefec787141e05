//! Has each organization switched to its new tenant yet?
//!
//! Cleaning up before an organization is connected to Microsoft Entra ID breaks a setup that
//! still works: the old credentials are the right ones until the switch. So when the admins
//! named the organizations (`organizations`) and the tenant they move to (`expected_tenant`),
//! every run first asks Azure DevOps, without signing in, which tenant backs each organization
//! (see [`super::tenant`]). Only the organizations on the expected tenant are cleaned; the
//! others wait, and the next run (the logon task) asks again. Offline is not "switched".
//! `run --now` or `wait_for_switch = false` acts without asking.

use crate::agent::ado::tenant::{Backing, Lookup};
use crate::agent::env::Env;
use crate::agent::parallel;
use crate::agent::settings::{Settings, keys};
use crate::report::Switch;

/// One configured organization's state, with the words for the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OrgSwitch {
    /// Lower case.
    pub name: String,
    pub state: Switch,
    pub detail: String,
    /// The other tenant that backs it while it waits (the old one, which a later run's
    /// cleanup needs to know once the organization moved).
    pub before: Option<Before>,
}

/// What backed an organization before its switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Before {
    /// This Entra tenant (lower-case GUID).
    Tenant(String),
    /// Personal Microsoft accounts.
    PersonalAccounts,
}

/// The state of every configured organization; empty when the agent cannot tell or was told
/// not to wait (no `expected_tenant`, no `organizations`, `wait_for_switch = false`), which
/// means every organization in scope is acted on, as before this check existed.
pub(crate) fn check(settings: &Settings, env: &Env, now: bool) -> Vec<OrgSwitch> {
    let Some(expected) = settings.expected_tenant() else {
        return Vec::new();
    };
    let orgs: Vec<String> = settings
        .organizations()
        .iter()
        .map(|org| org.to_ascii_lowercase())
        .collect();
    if orgs.is_empty() {
        return Vec::new();
    }
    if now || !settings.flag(&keys::WAIT_FOR_SWITCH) {
        let why = if now {
            "--now"
        } else {
            "wait_for_switch = false"
        };
        return orgs
            .into_iter()
            .map(|name| OrgSwitch {
                detail: format!("acted on without checking the switch ({why})"),
                name,
                state: Switch::Switched,
                before: None,
            })
            .collect();
    }
    // Each lookup may wait for its timeout when offline: ask them all at once.
    parallel::map(&orgs, |org| {
        let backing = Lookup::new(env).backing(org);
        judge(org, expected, &backing)
    })
}

/// What one lookup means for the organization `org`, expected on tenant `expected`.
fn judge(org: &str, expected: &str, backing: &Backing) -> OrgSwitch {
    let (state, detail) = match backing {
        Backing::Entra(tenant) if tenant == expected => (
            Switch::Switched,
            format!("{org} is connected to the new tenant {expected}"),
        ),
        Backing::Entra(other) => (
            Switch::Waiting,
            format!(
                "{org} has not switched to the new tenant yet (it is on tenant {other}); nothing changed; the next run checks again"
            ),
        ),
        Backing::Msa => (
            Switch::Waiting,
            format!(
                "{org} has not switched to the new tenant yet (it still uses personal Microsoft accounts); nothing changed; the next run checks again"
            ),
        ),
        Backing::NotFound => (
            Switch::NotChecked,
            format!(
                "Azure DevOps has no organization {org}, so ado-cutover cannot tell whether it switched; nothing changed for it (check `organizations`)"
            ),
        ),
        Backing::Unknown(why) => (
            Switch::NotChecked,
            format!(
                "could not check whether {org} switched ({why}); nothing changed for it; the next run checks again"
            ),
        ),
    };
    let before = match backing {
        Backing::Entra(other) if other != expected => Some(Before::Tenant(other.clone())),
        Backing::Msa => Some(Before::PersonalAccounts),
        _ => None,
    };
    OrgSwitch {
        name: org.to_string(),
        state,
        detail,
        before,
    }
}

/// The organizations of `states` that may be cleaned now.
pub(crate) fn switched(states: &[OrgSwitch]) -> Vec<String> {
    states
        .iter()
        .filter(|s| s.state == Switch::Switched)
        .map(|s| s.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEW: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    #[test]
    fn only_the_expected_tenant_is_switched_and_offline_is_not() {
        let at = |backing: Backing| judge("contoso", NEW, &backing).state;
        assert_eq!(at(Backing::Entra(NEW.into())), Switch::Switched);
        assert_eq!(
            at(Backing::Entra(
                "11111111-2222-3333-4444-555555555555".into()
            )),
            Switch::Waiting
        );
        assert_eq!(at(Backing::Msa), Switch::Waiting);
        assert_eq!(at(Backing::NotFound), Switch::NotChecked);
        assert_eq!(at(Backing::Unknown("offline".into())), Switch::NotChecked);
        let waiting = judge("contoso", NEW, &Backing::Msa);
        assert!(
            waiting
                .detail
                .starts_with("contoso has not switched to the new tenant yet"),
            "{}",
            waiting.detail
        );
        assert!(waiting.detail.contains("nothing changed"));
    }
}
