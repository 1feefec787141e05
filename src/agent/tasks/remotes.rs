//! Task `remotes`: find every Azure DevOps repository, check its remotes and its unsaved work.
//!
//! Finds: remotes on the legacy `*.visualstudio.com` / `vs-ssh.visualstudio.com` hosts; passwords
//! and tokens written into remote URLs (shown as `***`, never the secret); user names in URLs that
//! pin another account; commits not pushed to the Azure DevOps upstream; stashes, uncommitted
//! changes, branches with no upstream; TFVC workspaces (reported, never touched).
//!
//! Fixes, each opt-in (`remotes.fix_legacy_hosts`, `remotes.remove_url_credentials`): the
//! remote's configured URL is set to its modern form. A host rewrite is journaled for `undo`;
//! removing credentials is not restorable, since keeping the old URL would keep the secret. A
//! URL made by a `url.<base>.insteadOf` rule is left to the user: the rule is what to change.
//! Never touches the working tree, the index, refs or history.

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::{Action, Context, Evidence, Finding, RemoteFacts, Task, TaskError};
use crate::agent::ado::tenant::{Backing, Lookup};
use crate::agent::output::words::count;
use crate::agent::parallel;
use crate::agent::repos::discover::Kind;
use crate::agent::repos::gitconfig;
use crate::agent::repos::inspect::{self, Remote};
use crate::agent::repos::url::{self, AdoUrl, Embedded};
use crate::agent::settings::keys;
use crate::report::Status;

/// The `remotes` task.
pub(crate) struct Remotes;

impl Task for Remotes {
    fn id(&self) -> &'static str {
        "remotes"
    }

    fn title(&self) -> &'static str {
        "Git remotes and unsaved work"
    }

    fn why(&self) -> &'static str {
        "Some of your repositories may still point at the old visualstudio.com addresses or keep \
         an old token inside their address, and some may hold work that was never pushed. \
         ado-cutover finds them, and fixes the addresses where your organization allows it."
    }

    fn detect(&self, cx: &Context<'_>, evidence: &mut Evidence) -> Result<Vec<Finding>, TaskError> {
        let roots = cx.scan_roots();
        let found = cx.repositories();
        let mut totals = Totals {
            folders: found.folders_scanned,
            ..Totals::default()
        };
        let mut findings = Vec::new();
        // Repositories are read in parallel; the report keeps the search's order.
        let examined = parallel::map(&found.found, |repo| match repo.kind {
            Kind::Tfvc => Examined::tfvc(cx, &repo.path),
            Kind::Linked if is_linked_worktree(&repo.path) => Examined::worktree(cx, &repo.path),
            _ => examine(cx, &repo.path),
        });
        for repo in examined {
            findings.extend(repo.findings);
            totals.add(repo.totals);
        }
        for warning in &found.warnings {
            findings.push(Finding {
                kind: "scan-warning",
                target: "scan".into(),
                detail: warning.clone(),
                action: Action::Note(Status::Info),
            });
        }
        evidence.ssh_remotes |= !totals.ssh_orgs.is_empty();
        evidence.remotes.extend(std::mem::take(&mut totals.remotes));
        for (repo, orgs) in std::mem::take(&mut totals.repo_orgs) {
            evidence.repo_orgs.entry(repo).or_default().extend(orgs);
        }
        evidence.ssh_orgs.extend(totals.ssh_orgs.iter().cloned());
        evidence.remote_orgs.extend(
            totals
                .orgs
                .iter()
                .filter(|org| cx.settings.org_in_scope(org))
                .cloned(),
        );
        findings.extend(organizations(cx, &totals.orgs));
        let shown_roots: Vec<String> = roots.iter().map(|r| cx.paths.display(r)).collect();
        findings.push(Finding {
            kind: "remotes-summary",
            target: shown_roots.join(", "),
            detail: totals.describe(),
            action: Action::Note(Status::Info),
        });
        Ok(findings)
    }
}

/// How the report names a remote's fetch or push URL.
fn remote_target(shown_repo: &str, remote: &str, push: bool) -> String {
    if push {
        format!("{shown_repo} ({remote}, push)")
    } else {
        format!("{shown_repo} ({remote})")
    }
}

/// Counts for the report.
#[derive(Debug, Default)]
struct Totals {
    folders: usize,
    repos: usize,
    ado_repos: usize,
    legacy: usize,
    credentials: usize,
    unpushed: usize,
    tfvc: usize,
    /// The Azure DevOps organizations the remotes use.
    orgs: BTreeSet<String>,
    /// The organizations some remote reaches over SSH.
    ssh_orgs: BTreeSet<String>,
    /// Every Azure DevOps remote in scope, by its report target.
    remotes: BTreeMap<String, RemoteFacts>,
    /// The organizations each repository uses, by the repository as shown.
    repo_orgs: BTreeMap<String, BTreeSet<String>>,
}

impl Totals {
    fn add(&mut self, other: Totals) {
        self.repos += other.repos;
        self.ado_repos += other.ado_repos;
        self.legacy += other.legacy;
        self.credentials += other.credentials;
        self.unpushed += other.unpushed;
        self.tfvc += other.tfvc;
        self.orgs.extend(other.orgs);
        self.ssh_orgs.extend(other.ssh_orgs);
        self.remotes.extend(other.remotes);
        for (repo, orgs) in other.repo_orgs {
            self.repo_orgs.entry(repo).or_default().extend(orgs);
        }
    }

    fn describe(&self) -> String {
        format!(
            "searched {}: {}, {} on Azure DevOps; {}, {}, {} with unpushed commits, {}",
            count(self.folders, "folder", "folders"),
            count(self.repos, "repository", "repositories"),
            self.ado_repos,
            count(self.legacy, "legacy URL", "legacy URLs"),
            count(
                self.credentials,
                "URL with credentials",
                "URLs with credentials"
            ),
            count(self.unpushed, "repository", "repositories"),
            count(self.tfvc, "TFVC workspace", "TFVC workspaces"),
        )
    }
}

/// Which tenant backs each organization the remotes use: one unauthenticated lookup per
/// organization per run. Offline, each says it could not be checked.
fn organizations(cx: &Context<'_>, orgs: &BTreeSet<String>) -> Vec<Finding> {
    if orgs.is_empty() {
        return Vec::new();
    }
    let mut lookup = Lookup::new(cx.env);
    let expected = cx.settings.expected_tenant();
    orgs.iter()
        .map(|org| {
            let (detail, action) = match lookup.backing(org) {
                Backing::Msa => (
                    format!(
                        "{org} still signs in with personal Microsoft accounts: it has not moved to Microsoft Entra ID yet. Its repositories keep working as they are; run ado-cutover again once your administrator has moved it"
                    ),
                    Action::NeedsUser,
                ),
                Backing::Entra(tenant) if expected.is_some_and(|e| e != tenant) => (
                    format!(
                        "{org} is connected to Microsoft Entra tenant {tenant}, not to {} as configured; ask your administrator which is right",
                        expected.unwrap_or_default()
                    ),
                    Action::NeedsUser,
                ),
                Backing::Entra(tenant) => (
                    format!("{org} is connected to Microsoft Entra tenant {tenant}"),
                    Action::Note(Status::Info),
                ),
                Backing::NotFound => (
                    format!("Azure DevOps has no organization {org}: was it renamed or deleted? Check the remotes that use it"),
                    Action::Note(Status::Info),
                ),
                Backing::Unknown(why) => (
                    format!("could not check which tenant {org} uses: {why}"),
                    Action::Note(Status::Info),
                ),
            };
            Finding {
                kind: "organization",
                target: org.clone(),
                detail,
                action,
            }
        })
        .collect()
}

/// One repository's part of the report, worked out on its own so that repositories can be read
/// in parallel.
#[derive(Default)]
struct Examined {
    findings: Vec<Finding>,
    totals: Totals,
}

impl Examined {
    fn tfvc(cx: &Context<'_>, path: &Path) -> Examined {
        Examined {
            findings: vec![Finding {
                kind: "tfvc-workspace",
                target: cx.paths.display(path),
                detail: "a TFVC workspace: ado-cutover leaves it alone; after the move, sign in to it again from Visual Studio".into(),
                action: Action::Note(Status::Info),
            }],
            totals: Totals {
                tfvc: 1,
                ..Totals::default()
            },
        }
    }

    /// A linked worktree shares its repository's remotes and branches, which are reported with
    /// the repository; only its own uncommitted changes are its own.
    fn worktree(cx: &Context<'_>, path: &Path) -> Examined {
        let mut examined = Examined {
            totals: Totals {
                repos: 1,
                ..Totals::default()
            },
            ..Examined::default()
        };
        let Ok((repo, _)) = inspect::remotes_of(path) else {
            return examined;
        };
        let work = inspect::work_of(&repo);
        if work.uncommitted > 0 {
            examined.findings.push(Finding {
                kind: "local-work",
                target: cx.paths.display(path),
                detail: format!(
                    "work that exists only here: {}",
                    count(
                        work.uncommitted,
                        "changed or untracked file",
                        "changed or untracked files"
                    )
                ),
                action: Action::Note(Status::Info),
            });
        }
        examined
    }
}

/// True when the `.git` file in `path` points into another repository's `.git/worktrees/`
/// (a submodule's points into `.git/modules/`: a repository of its own).
fn is_linked_worktree(path: &Path) -> bool {
    crate::agent::fsutil::read_capped_text(&path.join(".git")).is_ok_and(|text| {
        text.trim()
            .strip_prefix("gitdir:")
            .map(|dir| dir.trim().replace('\\', "/"))
            .is_some_and(|dir| dir.contains("/.git/worktrees/"))
    })
}

fn examine(cx: &Context<'_>, path: &Path) -> Examined {
    let mut examined = Examined {
        totals: Totals {
            repos: 1,
            ..Totals::default()
        },
        ..Examined::default()
    };
    let findings = &mut examined.findings;
    let totals = &mut examined.totals;
    let shown_repo = cx.paths.display(path);
    let (repo, remotes) = match inspect::remotes_of(path) {
        Ok(found) => found,
        Err(err) => {
            findings.push(Finding {
                kind: "repository",
                target: shown_repo,
                detail: format!("could not be read: {err}"),
                action: Action::Note(Status::Skipped),
            });
            return examined;
        }
    };
    let mut ado_remotes = BTreeSet::new();
    if remotes.len() > MAX_REMOTES {
        findings.push(Finding {
            kind: "repository",
            target: shown_repo.clone(),
            detail: format!(
                "has {} remotes; only the first {MAX_REMOTES} were checked (no repository needs so many: look at its .git/config)",
                remotes.len()
            ),
            action: Action::Note(Status::Skipped),
        });
    }
    // The configured URLs, read once for every remote (the values before any insteadOf rule).
    let configured = OnceCell::new();
    for remote in remotes.iter().take(MAX_REMOTES) {
        for push in [false, true] {
            let url = if push {
                remote.push.as_deref()
            } else {
                remote.fetch.as_deref()
            };
            let Some(ado) = url.and_then(url::classify) else {
                continue;
            };
            if !cx.settings.org_in_scope(&ado.org) {
                continue;
            }
            totals.orgs.insert(ado.org.clone());
            if ado.transport == url::Transport::Ssh {
                totals.ssh_orgs.insert(ado.org.clone());
            }
            totals.remotes.insert(
                remote_target(&shown_repo, &remote.name, push),
                RemoteFacts {
                    org: ado.org.clone(),
                    ssh: ado.transport == url::Transport::Ssh,
                    legacy: ado.legacy_host,
                    secret: ado.embedded == Embedded::Secret,
                },
            );
            totals
                .repo_orgs
                .entry(shown_repo.clone())
                .or_default()
                .insert(ado.org.clone());
            ado_remotes.insert(remote.name.clone());
            let configured = configured.get_or_init(|| configured_urls(path));
            if let Some(finding) = check_url(
                cx,
                path,
                &shown_repo,
                remote,
                push,
                &ado,
                configured,
                totals,
            ) {
                findings.push(finding);
            }
        }
    }
    if ado_remotes.is_empty() {
        return examined;
    }
    totals.ado_repos += 1;
    let work = inspect::work_of(&repo);
    let mut unpushed = false;
    for ahead in work
        .ahead
        .iter()
        .filter(|a| ado_remotes.contains(&a.remote))
    {
        unpushed = true;
        let noun = if ahead.commits == 1 {
            "commit"
        } else {
            "commits"
        };
        findings.push(Finding {
            kind: "unpushed-work",
            target: format!("{shown_repo} ({})", ahead.branch),
            detail: format!(
                "branch {} has {} {noun} not pushed to {}; push (git -C \"{}\" push) so the work is not left behind",
                ahead.branch,
                ahead.commits,
                ahead.upstream,
                path.display()
            ),
            action: Action::NeedsUser,
        });
    }
    if unpushed {
        totals.unpushed += 1;
    }
    let mut notes = Vec::new();
    if work.uncommitted > 0 {
        notes.push(count(
            work.uncommitted,
            "changed or untracked file",
            "changed or untracked files",
        ));
    }
    if work.stashes > 0 {
        notes.push(count(work.stashes, "stash", "stashes"));
    }
    if !work.no_upstream.is_empty() {
        notes.push(format!(
            "branches with no upstream: {}",
            work.no_upstream.join(", ")
        ));
    }
    if !notes.is_empty() {
        findings.push(Finding {
            kind: "local-work",
            target: shown_repo,
            detail: format!("work that exists only here: {}", notes.join("; ")),
            action: Action::Note(Status::Info),
        });
    }
    examined
}

/// What to do about one Azure DevOps URL of a remote: worked out from the URL git uses, the
/// value configured for the remote (before any `insteadOf` rule) and the two opt-ins, with no
/// machine access, so every case is a unit test.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Remedy {
    /// Nothing is wrong with it.
    Fine,
    /// It names an account that may be the old sign-in: said, never changed.
    NamesAccount { user: String, without: String },
    /// Set the configured value to `value`; `restore` is what `undo` puts back (`None` when
    /// the old value held a secret).
    Set {
        problem: &'static str,
        value: String,
        restore: Option<String>,
    },
    /// Only the person can fix it, as `how` says.
    Yours { problem: &'static str, how: How },
}

/// Why a URL is left to the person.
#[derive(Debug, Clone, PartialEq, Eq)]
enum How {
    /// A `url.<base>.insteadOf` rule makes this address: the rule is what to change.
    InsteadOfRule { modern: String },
    /// The opt-in that would let ado-cutover fix it is off.
    OptIn {
        modern: String,
        setting: &'static str,
    },
}

/// The opt-ins that let `remotes` change a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fixes {
    legacy_hosts: bool,
    url_credentials: bool,
}

fn remedy(ado: &AdoUrl, configured: Option<&str>, fixes: Fixes) -> Remedy {
    let secret = ado.embedded == Embedded::Secret;
    if !ado.legacy_host && !secret {
        return match ado.user_is_not_org() {
            Some(user) => Remedy::NamesAccount {
                user: user.to_string(),
                without: ado
                    .modern()
                    .replacen(&format!("{}@", user.replace('@', "%40")), "", 1),
            },
            None => Remedy::Fine,
        };
    }
    let problem = match (ado.legacy_host, secret) {
        (true, true) => "uses an old visualstudio.com address and has a password or token in it",
        (true, false) => "uses an old visualstudio.com address",
        _ => "has a password or token in it, which no longer works and leaks into logs",
    };
    let configured_ado = configured.and_then(url::classify);
    let fixable = configured_ado.as_ref().is_some_and(|c| {
        c.legacy_host == ado.legacy_host && (c.embedded == Embedded::Secret) == secret
    });
    let modern = configured_ado
        .as_ref()
        .map_or_else(|| ado.modern(), AdoUrl::modern);
    let allowed = (!ado.legacy_host || fixes.legacy_hosts) && (!secret || fixes.url_credentials);
    if !fixable {
        return Remedy::Yours {
            problem,
            how: How::InsteadOfRule { modern },
        };
    }
    if !allowed {
        // The opt-in that is missing (both may be; the host's is named first).
        let setting = if ado.legacy_host && !fixes.legacy_hosts {
            "remotes.fix_legacy_hosts"
        } else {
            "remotes.remove_url_credentials"
        };
        return Remedy::Yours {
            problem,
            how: How::OptIn { modern, setting },
        };
    }
    Remedy::Set {
        problem,
        value: modern,
        // Keeping a URL that holds a secret would keep the secret: not restorable.
        restore: if secret {
            None
        } else {
            configured.map(str::to_string)
        },
    }
}

/// Remotes checked per repository; more are reported, not checked (a repository with
/// thousands would otherwise take minutes).
pub(crate) const MAX_REMOTES: usize = 1000;

/// The repository's own `remote.<name>.url` and `.pushurl` values, by key as git prints it.
fn configured_urls(repo: &Path) -> BTreeMap<String, String> {
    gitconfig::local_file(repo)
        .and_then(|file| gitconfig::entries_in_file(&file, r"^remote\..*\.(url|pushurl)$"))
        .map(|entries| entries.into_iter().collect())
        .unwrap_or_default()
}

/// The finding for one Azure DevOps URL of a remote, if it needs anything.
#[allow(clippy::too_many_arguments)]
fn check_url(
    cx: &Context<'_>,
    repo: &Path,
    shown_repo: &str,
    remote: &Remote,
    push: bool,
    ado: &AdoUrl,
    configured: &BTreeMap<String, String>,
    totals: &mut Totals,
) -> Option<Finding> {
    let target = remote_target(shown_repo, &remote.name, push);
    // The configured value, before any `insteadOf` rule: only that can be set.
    let key = if push {
        format!("remote.{}.pushurl", remote.name)
    } else {
        format!("remote.{}.url", remote.name)
    };
    let set_url = |url: &str| {
        format!(
            "git -C \"{}\" remote set-url{} {} {url}",
            repo.display(),
            if push { " --push" } else { "" },
            remote.name
        )
    };
    let needs_config = ado.legacy_host || ado.embedded == Embedded::Secret;
    let configured = if needs_config {
        configured.get(&key).cloned()
    } else {
        None
    };
    let fixes = Fixes {
        legacy_hosts: cx.settings.flag(&keys::FIX_LEGACY_HOSTS),
        url_credentials: cx.settings.flag(&keys::REMOVE_URL_CREDENTIALS),
    };
    let remedy = remedy(ado, configured.as_deref(), fixes);
    if needs_config {
        totals.legacy += usize::from(ado.legacy_host);
        totals.credentials += usize::from(ado.embedded == Embedded::Secret);
    }
    let (detail, action) = match remedy {
        Remedy::Fine => return None,
        Remedy::NamesAccount { user, without } => (
            format!(
                "{} names the account {user}; if that is your old sign-in, remove the name: {}",
                ado.shown,
                set_url(&without)
            ),
            Action::Note(Status::Info),
        ),
        Remedy::Set {
            problem,
            value,
            restore,
        } => (
            format!("{} {problem}; it becomes {value}", ado.shown),
            Action::SetGitConfig {
                repo: repo.to_path_buf(),
                key,
                value,
                restore,
            },
        ),
        Remedy::Yours {
            problem,
            how: How::InsteadOfRule { modern },
        } => (
            format!(
                "{} {problem}; a url.<base>.insteadOf rule in your git configuration makes this address; change that rule (the address should be {modern})",
                ado.shown
            ),
            Action::NeedsUser,
        ),
        Remedy::Yours {
            problem,
            how: How::OptIn { modern, setting },
        } => (
            format!(
                "{} {problem}; fix it with: {} (or let ado-cutover do it: {setting} = true)",
                ado.shown,
                set_url(&modern)
            ),
            Action::NeedsUser,
        ),
    };
    Some(Finding {
        kind: "remote-url",
        target,
        detail,
        action,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: Fixes = Fixes {
        legacy_hosts: false,
        url_credentials: false,
    };
    const ALL: Fixes = Fixes {
        legacy_hosts: true,
        url_credentials: true,
    };

    fn ado(url: &str) -> AdoUrl {
        url::classify(url).expect("an Azure DevOps URL")
    }

    #[test]
    fn a_modern_url_is_fine_and_an_account_in_it_is_only_said() {
        let modern = "https://dev.azure.com/contoso/p/_git/r";
        assert_eq!(remedy(&ado(modern), Some(modern), ALL), Remedy::Fine);
        let pinned = "https://alice%40contoso.com@dev.azure.com/contoso/p/_git/r";
        assert_eq!(
            remedy(&ado(pinned), Some(pinned), ALL),
            Remedy::NamesAccount {
                user: "alice@contoso.com".into(),
                without: modern.into(),
            }
        );
        // The organization as the user name is how Azure DevOps writes clone URLs: fine.
        let org_user = "https://contoso@dev.azure.com/contoso/p/_git/r";
        assert_eq!(remedy(&ado(org_user), Some(org_user), ALL), Remedy::Fine);
    }

    #[test]
    fn a_legacy_host_is_fixed_only_when_allowed_and_undo_can_restore_it() {
        let legacy = "https://contoso.visualstudio.com/p/_git/r";
        let modern = "https://dev.azure.com/contoso/p/_git/r";
        assert_eq!(
            remedy(&ado(legacy), Some(legacy), ALL),
            Remedy::Set {
                problem: "uses an old visualstudio.com address",
                value: modern.into(),
                restore: Some(legacy.into()),
            }
        );
        assert_eq!(
            remedy(&ado(legacy), Some(legacy), NONE),
            Remedy::Yours {
                problem: "uses an old visualstudio.com address",
                how: How::OptIn {
                    modern: modern.into(),
                    setting: "remotes.fix_legacy_hosts",
                },
            }
        );
    }

    #[test]
    fn a_url_with_a_secret_is_fixed_only_when_allowed_and_never_restorable() {
        let secret = "https://alice:pat123@dev.azure.com/contoso/p/_git/r";
        let Remedy::Set { value, restore, .. } = remedy(&ado(secret), Some(secret), ALL) else {
            panic!("allowed: set");
        };
        assert_eq!(value, "https://dev.azure.com/contoso/p/_git/r");
        assert_eq!(restore, None, "keeping the old URL would keep the secret");
        let only_hosts = Fixes {
            legacy_hosts: true,
            url_credentials: false,
        };
        let legacy_with_secret = "https://alice:pat123@contoso.visualstudio.com/p/_git/r";
        let only_credentials = Fixes {
            legacy_hosts: false,
            url_credentials: true,
        };
        assert!(
            matches!(
                remedy(
                    &ado(legacy_with_secret),
                    Some(legacy_with_secret),
                    only_credentials
                ),
                Remedy::Yours {
                    how: How::OptIn {
                        setting: "remotes.fix_legacy_hosts",
                        ..
                    },
                    ..
                }
            ),
            "the opt-in that is missing is the one named"
        );
        assert!(matches!(
            remedy(&ado(secret), Some(secret), only_hosts),
            Remedy::Yours {
                how: How::OptIn {
                    setting: "remotes.remove_url_credentials",
                    ..
                },
                ..
            }
        ));
    }

    #[test]
    fn an_address_made_by_an_instead_of_rule_is_left_to_the_rule() {
        let legacy = "https://contoso.visualstudio.com/p/_git/r";
        for configured in [
            None,
            Some("ado:p/_git/r"),
            Some("https://dev.azure.com/contoso/p/_git/r"),
        ] {
            assert!(
                matches!(
                    remedy(&ado(legacy), configured, ALL),
                    Remedy::Yours {
                        how: How::InsteadOfRule { .. },
                        ..
                    }
                ),
                "{configured:?}"
            );
        }
    }
}
