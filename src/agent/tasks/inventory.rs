//! The inventory a report carries (`report.inventory`, turned on by `report.send_plans`): what
//! the old identity left, sorted into the categories the dashboard counts, each entry naming one
//! organization and where it is (never a value).
//!
//! It is made from a report's items and what planning learnt ([`Evidence`]), so the same rules
//! serve before the switch (the items of a plan: what a run would clean, or what the person
//! will have to replace) and after it (the items of the run: what is still open once it
//! changed what it could). An item that is `ok` or `done` is not open; unsaved work is open
//! while it is there; SSH use and a personal account are open before the switch, and after it
//! until SSH works again (no `ssh-key` item left open) and the organization was verified working.

use std::collections::BTreeSet;
use std::path::Path;

use super::Evidence;
use super::verify::{CONCLUSION_KIND, VERIFY_ID};
use crate::report::{Category, Found, Item, Status, TaskReport};

/// Item kinds that hold an old token or a saved password.
const OLD_TOKEN_KINDS: &[&str] = &[
    "credential-store",
    "gcm-plaintext-store",
    "gcm-dpapi-store",
    "gcm-gpg-store",
    "macos-keychain-internet-password",
    "secret-service",
    "macos-keychain",
    "windows-credential-manager",
    "os-credential-store",
    "credential-cache",
    "azure-cli-devops-token",
    "token-elsewhere",
];

/// Item kinds of sign-in caches other programs share.
const SHARED_SIGN_IN_KINDS: &[&str] = &[
    "visual-studio-token",
    "azure-cli-sign-in",
    "msal-cache",
    "artifacts-session-tokens",
];

/// Item kinds of work that exists only on this machine.
const LOCAL_WORK_KINDS: &[&str] = &["unpushed-work", "local-work"];

/// What the inventory covers: these organizations (lower case), before or after their switch.
pub(crate) struct Scope<'a> {
    pub orgs: &'a [String],
    pub switched: bool,
    /// The user's SSH directory (where `~/.ssh/config` may name Azure DevOps).
    pub ssh_dir: &'a Path,
}

/// The inventory of `tasks` (a plan's or a run's report sections) for `scope`, sorted and
/// without duplicates.
pub(crate) fn take(scope: &Scope<'_>, evidence: &Evidence, tasks: &[TaskReport]) -> Vec<Found> {
    let mut found = BTreeSet::new();
    let mut add = |category: Category, orgs: &[&String], target: &str, kind: &str| {
        for org in orgs {
            found.insert(Found {
                category,
                organization: (*org).clone(),
                target: target.to_string(),
                kind: kind.to_string(),
            });
        }
    };
    let all: Vec<&String> = scope.orgs.iter().collect();
    for item in tasks.iter().flat_map(|t| &t.items) {
        let kind = item.kind.as_str();
        let local_work = LOCAL_WORK_KINDS.contains(&kind);
        if !(open(item.status) || local_work && item.status == Status::Info) {
            continue;
        }
        if kind == "remote-url" {
            let Some(facts) = evidence.remotes.get(&item.target) else {
                continue;
            };
            let Some(org) = scope
                .orgs
                .iter()
                .find(|o| o.eq_ignore_ascii_case(&facts.org))
            else {
                continue;
            };
            if facts.legacy {
                add(Category::LegacyRemote, &[org], &item.target, kind);
            }
            if facts.secret {
                add(Category::OldToken, &[org], &item.target, kind);
            }
            continue;
        }
        let category = if local_work {
            Category::LocalWork
        } else if OLD_TOKEN_KINDS.contains(&kind) {
            Category::OldToken
        } else if SHARED_SIGN_IN_KINDS.contains(&kind) {
            Category::SharedSignIn
        } else if kind == "pinned-tenant" {
            Category::PinnedTenant
        } else {
            continue;
        };
        let orgs = if local_work {
            repository_orgs(scope, evidence, &item.target)
        } else {
            named_orgs(scope, item)
        };
        add(
            category,
            if orgs.is_empty() { &all } else { &orgs },
            &item.target,
            kind,
        );
    }
    let ssh_open = !scope.switched
        || tasks
            .iter()
            .filter(|t| t.id == "ssh-key")
            .flat_map(|t| &t.items)
            .any(|item| open(item.status));
    if ssh_open {
        for (target, facts) in evidence.remotes.iter().filter(|(_, f)| f.ssh) {
            if let Some(org) = scope
                .orgs
                .iter()
                .find(|o| o.eq_ignore_ascii_case(&facts.org))
            {
                add(Category::Ssh, &[org], target, "remote-url");
            }
        }
        if let Some(source) = super::guidance::ssh_use(scope.ssh_dir) {
            add(Category::Ssh, &all, source, "ssh-config");
        }
    }
    for org in scope.orgs {
        let used_personal = evidence
            .msa_orgs
            .iter()
            .any(|msa| msa.eq_ignore_ascii_case(org));
        if used_personal && !(scope.switched && verified(tasks, org)) {
            add(
                Category::PersonalAccount,
                &[org],
                "used with a personal Microsoft account",
                "personal-account",
            );
        }
    }
    found.into_iter().collect()
}

/// Open: something a run would change, or the person must do, or that could not be done.
fn open(status: Status) -> bool {
    matches!(
        status,
        Status::Planned | Status::NeedsUser | Status::Failed | Status::Skipped
    )
}

/// True when the run's `verify` task concluded that `org` works.
fn verified(tasks: &[TaskReport], org: &str) -> bool {
    tasks
        .iter()
        .filter(|t| t.id == VERIFY_ID)
        .flat_map(|t| &t.items)
        .any(|i| {
            i.kind == CONCLUSION_KIND
                && i.target.eq_ignore_ascii_case(org)
                && i.status == Status::Ok
        })
}

/// The organizations in scope a repository's remotes use; `target` is the repository as shown,
/// or it followed by ` (<branch>)`.
fn repository_orgs<'s>(scope: &Scope<'s>, evidence: &Evidence, target: &str) -> Vec<&'s String> {
    let repo = evidence.repo_orgs.get(target).or_else(|| {
        let (repo, _) = target.rsplit_once(" (")?;
        evidence.repo_orgs.get(repo)
    });
    let Some(used) = repo else {
        return Vec::new();
    };
    scope
        .orgs
        .iter()
        .filter(|org| used.iter().any(|u| u.eq_ignore_ascii_case(org)))
        .collect()
}

/// The organizations in scope an item names by address (`dev.azure.com/<org>` and its
/// subdomains such as `pkgs.`, `<org>.visualstudio.com`) in its target or detail, or as a feed
/// token's owner ("... for <org>;"); none when it names none (a store every organization
/// shares).
fn named_orgs<'s>(scope: &Scope<'s>, item: &Item) -> Vec<&'s String> {
    // A Windows path names `dev.azure.com\<org>` (GCM's stores keep one folder per host).
    let text = format!("{} {}", item.target, item.detail)
        .to_ascii_lowercase()
        .replace('\\', "/");
    scope
        .orgs
        .iter()
        .filter(|org| {
            let org = org.to_ascii_lowercase();
            mentions(&text, &format!("dev.azure.com/{org}"), true)
                || mentions(&text, &format!("{org}.visualstudio.com"), false)
                || item.kind == "token-elsewhere" && text.contains(&format!(" for {org};"))
        })
        .collect()
}

/// True when `text` has `needle` with no name character right after it and none right before
/// it (nor a dot, unless `subdomains`): `dev.azure.com/contoso` is not in
/// `dev.azure.com/contoso-labs`, `contoso.visualstudio.com` not in `a.contoso.visualstudio.com`.
fn mentions(text: &str, needle: &str, subdomains: bool) -> bool {
    let name_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    text.match_indices(needle).any(|(at, _)| {
        let after = text[at + needle.len()..].chars().next();
        let before = text[..at].chars().next_back();
        !after.is_some_and(name_char)
            && !before.is_some_and(|c| name_char(c) || c == '.' && !subdomains)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::tasks::RemoteFacts;

    fn item(kind: &str, target: &str, status: Status, detail: &str) -> Item {
        Item {
            kind: kind.into(),
            target: target.into(),
            status,
            detail: detail.into(),
        }
    }

    fn task(id: &str, items: Vec<Item>) -> TaskReport {
        TaskReport {
            id: id.into(),
            status: Status::of_items(&items),
            summary: String::new(),
            items,
        }
    }

    fn entries(found: &[Found]) -> Vec<(&str, &str, &str)> {
        found
            .iter()
            .map(|f| {
                (
                    f.category.as_str(),
                    f.organization.as_str(),
                    f.target.as_str(),
                )
            })
            .collect()
    }

    #[test]
    fn each_item_counts_for_the_organizations_it_names_or_for_all_when_shared() {
        let dir = tempfile::tempdir().unwrap();
        let orgs = vec!["contoso".to_string(), "fabrikam".to_string()];
        let scope = Scope {
            orgs: &orgs,
            switched: false,
            ssh_dir: dir.path(),
        };
        let mut evidence = Evidence::default();
        evidence.remotes.insert(
            "~/src/app (origin)".into(),
            RemoteFacts {
                org: "Contoso".into(),
                ssh: true,
                legacy: true,
                secret: false,
            },
        );
        evidence
            .repo_orgs
            .insert("~/src/app".into(), ["contoso".to_string()].into());
        evidence.msa_orgs.insert("fabrikam".into());
        let tasks = [
            task(
                "credentials",
                vec![
                    item(
                        "secret-service",
                        "git:https://dev.azure.com/fabrikam",
                        Status::Planned,
                        "",
                    ),
                    item(
                        "credential-store",
                        "~/.git-credentials",
                        Status::Planned,
                        "1 saved for dev.azure.com/contoso-labs",
                    ),
                    item(
                        "azure-cli-sign-in",
                        "~/.azure/msal_token_cache.json",
                        Status::NeedsUser,
                        "",
                    ),
                    item("credential-store", "~/.other", Status::Ok, "nothing"),
                ],
            ),
            task(
                "remotes",
                vec![
                    item("remote-url", "~/src/app (origin)", Status::NeedsUser, ""),
                    item("unpushed-work", "~/src/app (main)", Status::NeedsUser, ""),
                    item("local-work", "~/src/app", Status::Info, ""),
                    item("remotes-summary", "~/src", Status::Info, ""),
                ],
            ),
        ];
        let found = take(&scope, &evidence, &tasks);
        assert_eq!(
            entries(&found),
            [
                ("ssh", "contoso", "~/src/app (origin)"),
                ("old-token", "contoso", "~/.git-credentials"),
                (
                    "old-token",
                    "fabrikam",
                    "git:https://dev.azure.com/fabrikam"
                ),
                ("old-token", "fabrikam", "~/.git-credentials"),
                ("local-work", "contoso", "~/src/app"),
                ("local-work", "contoso", "~/src/app (main)"),
                ("legacy-remote", "contoso", "~/src/app (origin)"),
                (
                    "personal-account",
                    "fabrikam",
                    "used with a personal Microsoft account"
                ),
                (
                    "shared-sign-in",
                    "contoso",
                    "~/.azure/msal_token_cache.json"
                ),
                (
                    "shared-sign-in",
                    "fabrikam",
                    "~/.azure/msal_token_cache.json"
                ),
            ]
        );
    }

    #[test]
    fn after_the_switch_only_what_is_still_open_stays() {
        let dir = tempfile::tempdir().unwrap();
        let orgs = vec!["contoso".to_string()];
        let scope = Scope {
            orgs: &orgs,
            switched: true,
            ssh_dir: dir.path(),
        };
        let mut evidence = Evidence::default();
        evidence.remotes.insert(
            "~/src/app (origin)".into(),
            RemoteFacts {
                org: "contoso".into(),
                ssh: true,
                legacy: false,
                secret: true,
            },
        );
        evidence.msa_orgs.insert("contoso".into());
        let mut tasks = vec![
            task(
                "credentials",
                vec![item(
                    "secret-service",
                    "git:https://dev.azure.com/contoso",
                    Status::Done,
                    "",
                )],
            ),
            task(
                "remotes",
                vec![item("remote-url", "~/src/app (origin)", Status::Done, "")],
            ),
            task(
                "ssh-key",
                vec![item("ssh-verify", "contoso", Status::Ok, "")],
            ),
            task(
                "verify",
                vec![item(CONCLUSION_KIND, "contoso", Status::Ok, "")],
            ),
        ];
        assert!(
            take(&scope, &evidence, &tasks).is_empty(),
            "all cleaned and working"
        );

        tasks[2] = task(
            "ssh-key",
            vec![item("ssh-verify", "contoso", Status::Failed, "")],
        );
        tasks[3] = task(
            "verify",
            vec![item(CONCLUSION_KIND, "contoso", Status::Failed, "")],
        );
        assert_eq!(
            entries(&take(&scope, &evidence, &tasks)),
            [
                ("ssh", "contoso", "~/src/app (origin)"),
                (
                    "personal-account",
                    "contoso",
                    "used with a personal Microsoft account"
                ),
            ]
        );
    }

    #[test]
    fn an_organization_is_named_only_as_a_whole_word() {
        let org = "dev.azure.com/contoso";
        assert!(mentions("https://dev.azure.com/contoso/x", org, true));
        assert!(mentions(
            "//pkgs.dev.azure.com/contoso/_packaging",
            org,
            true
        ));
        assert!(!mentions("https://dev.azure.com/contoso-labs", org, true));
        assert!(!mentions("https://notdev.azure.com/contoso", org, true));
        let host = "contoso.visualstudio.com";
        assert!(mentions("https://contoso.visualstudio.com/", host, false));
        assert!(!mentions("my-contoso.visualstudio.com", host, false));
        assert!(!mentions("a.contoso.visualstudio.com", host, false));
    }
}
