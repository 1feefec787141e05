//! Task `verify`: proof that the person can work again with the new identity, per organization
//! and per channel, after the cleanup. Last in the registry.
//!
//! For every organization in scope: the tenant it answers with, who it says the person is
//! (`connectionData`), `git ls-remote` for each of its HTTPS remotes as git will use it, `ssh -T`
//! when repositories reach it over SSH, and the index of each Azure Artifacts feed the package
//! files name. This task only plans the checks (read from the machine, never changed); the
//! engine runs them after the other tasks' changes ([`crate::agent::engine`]) and ends each
//! organization with one `verified` item: `ok` only when every check passed.

use std::collections::{BTreeMap, BTreeSet};

use super::{Action, Context, Evidence, Finding, Task, TaskError, feeds};
use crate::agent::ado::tenant::{Backing, Lookup};
use crate::agent::repos::{inspect, url};

/// The task id.
pub(crate) const VERIFY_ID: &str = "verify";
/// The kind of the item that concludes an organization.
pub(crate) const CONCLUSION_KIND: &str = "verified";
/// At most this many repositories are checked per organization: one sign-in serves them all,
/// and each check is a round trip.
pub(crate) const MAX_GIT_CHECKS: usize = 25;

/// One check of one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Check {
    /// The organization answers with the expected tenant.
    Tenant,
    /// The organization lets the signed-in account in, and says who it is.
    Identity,
    /// `git ls-remote` of this URL (no credentials in it) works.
    GitHttps { url: String },
    /// `ssh -T` with the user's SSH configuration works.
    Ssh,
    /// The feed's index answers with the person's credential.
    Feed { url: String },
}

impl Check {
    /// The report's item kind.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Check::Tenant => "verify-tenant",
            Check::Identity => "verify-identity",
            Check::GitHttps { .. } => "verify-git-https",
            Check::Ssh => "verify-ssh",
            Check::Feed { .. } => "verify-feed",
        }
    }
}

/// The `verify` task.
pub(crate) struct Verify;

impl Task for Verify {
    fn id(&self) -> &'static str {
        VERIFY_ID
    }

    fn title(&self) -> &'static str {
        "Working again?"
    }

    fn why(&self) -> &'static str {
        "Cleaning up is only half of it: ado-cutover checks that git, SSH and your package feeds \
         work with your work account, and tells you exactly what is still in the way."
    }

    fn detect(&self, cx: &Context<'_>, evidence: &mut Evidence) -> Result<Vec<Finding>, TaskError> {
        let found = Found::gather(cx);
        let orgs = orgs_in_scope(cx, &found, evidence);
        let mut findings = Vec::new();
        for org in &orgs {
            let check = |check: Check, target: String, detail: String| Finding {
                kind: check.kind(),
                target,
                detail,
                action: Action::Check {
                    org: org.clone(),
                    check,
                },
            };
            findings.push(check(
                Check::Tenant,
                org.clone(),
                format!("{org} answers with its new tenant"),
            ));
            findings.push(check(
                Check::Identity,
                org.clone(),
                format!("{org} lets your work account in"),
            ));
            let https = found.https.get(org).map(Vec::as_slice).unwrap_or_default();
            for (shown, git_url) in https.iter().take(MAX_GIT_CHECKS) {
                findings.push(check(
                    Check::GitHttps {
                        url: git_url.clone(),
                    },
                    shown.clone(),
                    "git can reach the repository over HTTPS".into(),
                ));
            }
            if https.len() > MAX_GIT_CHECKS {
                findings.push(Finding {
                    kind: "verify-git-https",
                    target: org.clone(),
                    detail: format!(
                        "{} more repositories of {org} were not checked: the same sign-in serves them",
                        https.len() - MAX_GIT_CHECKS
                    ),
                    action: Action::Note(crate::report::Status::Info),
                });
            }
            if found.ssh.contains(org) || evidence.ssh_orgs.contains(org) {
                findings.push(check(
                    Check::Ssh,
                    format!("ssh -T git@{}", crate::agent::ssh::HOST),
                    format!("git can reach {org} over SSH"),
                ));
            }
            for feed in found.feeds.get(org).into_iter().flatten() {
                findings.push(check(
                    Check::Feed { url: feed.clone() },
                    feed.clone(),
                    "the package feed answers".into(),
                ));
            }
            findings.push(Finding {
                kind: CONCLUSION_KIND,
                target: org.clone(),
                detail: format!("whether you can work with {org} again"),
                action: Action::Conclude { org: org.clone() },
            });
        }
        Ok(findings)
    }
}

/// What the machine says about the organizations: HTTPS remotes (shown, URL for git), SSH use
/// and feeds, per organization (lower case).
#[derive(Default)]
struct Found {
    https: BTreeMap<String, Vec<(String, String)>>,
    ssh: BTreeSet<String>,
    feeds: BTreeMap<String, Vec<String>>,
}

impl Found {
    fn gather(cx: &Context<'_>) -> Found {
        let mut found = Found::default();
        for repo in &cx.repositories().found {
            let Ok((_, remotes)) = inspect::remotes_of(&repo.path) else {
                continue;
            };
            for remote in remotes
                .iter()
                .take(crate::agent::tasks::remotes::MAX_REMOTES)
            {
                let Some(ado) = remote.fetch.as_deref().and_then(url::classify) else {
                    continue;
                };
                match ado.transport {
                    url::Transport::Ssh => {
                        found.ssh.insert(ado.org.clone());
                    }
                    url::Transport::Https => {
                        let shown = format!("{} ({})", cx.paths.display(&repo.path), remote.name);
                        let git_url = ado.modern();
                        let list = found.https.entry(ado.org.clone()).or_default();
                        if !list.iter().any(|(_, u)| *u == git_url) {
                            list.push((shown, git_url));
                        }
                    }
                }
            }
        }
        for (org, feed) in feeds::feed_urls(cx) {
            found.feeds.entry(org).or_default().push(feed);
        }
        found
    }
}

/// The organizations this machine uses (its remotes, SSH use and feeds) that moved: of the
/// configured ones (those that switched), or, when none are configured, the ones Azure DevOps
/// shows on Microsoft Entra ID (on `expected_tenant` when set). An organization configured for
/// the fleet but never used here has nothing to prove on this machine.
fn orgs_in_scope(cx: &Context<'_>, found: &Found, evidence: &Evidence) -> Vec<String> {
    let seen: BTreeSet<&String> = found
        .https
        .keys()
        .chain(&found.ssh)
        .chain(found.feeds.keys())
        .chain(&evidence.ssh_orgs)
        .collect();
    if seen.is_empty() {
        return Vec::new();
    }
    let configured = cx.settings.organizations();
    if !configured.is_empty() {
        return seen
            .into_iter()
            .filter(|org| configured.iter().any(|c| c.eq_ignore_ascii_case(org)))
            .cloned()
            .collect();
    }
    let mut lookup = Lookup::new(cx.env);
    let expected = cx.settings.expected_tenant();
    seen.into_iter()
        .filter(|org| {
            matches!(lookup.backing(org), Backing::Entra(tenant) if expected.is_none_or(|e| e == tenant))
        })
        .cloned()
        .collect()
}
