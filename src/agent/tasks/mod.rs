//! The documented user tasks: one module each, one trait, one ordered registry.
//!
//! A task only looks. `detect` reads the machine and returns [`Finding`]s, each carrying the
//! [`Action`] that would fix it. The engine carries the actions out through the safety layer, so
//! `run` applies exactly what `plan` showed and no task can skip the journal or the atomic-write
//! rules. The CLI's `--only`/`--skip`, the plan, the report and the docs all come from
//! [`registry`].

pub(super) mod browser_sign_out;
pub(super) mod credentials;
pub(super) mod feeds;
pub(super) mod guidance;
pub(super) mod inventory;
pub(super) mod pinned_tenants;
pub(super) mod remotes;
pub(super) mod ssh_key;
pub(super) mod switch;
pub(super) mod tenant_cache;
pub(super) mod verify;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::OnceLock;

use time::OffsetDateTime;

use crate::report::Status;

use crate::agent::browsers::Family;
use crate::agent::browsers::cookies::Scope;
use crate::agent::env::Env;
use crate::agent::output::prompt::{Nobody, Prompt};
use crate::agent::paths::Paths;
use crate::agent::repos::discover::{self, Discovery, Skip};
use crate::agent::secrets;
use crate::agent::settings::{Settings, keys};

/// What a task reads: locations, configuration and the environment. Passed in, never global.
pub(super) struct Context<'a> {
    pub paths: &'a Paths,
    pub settings: &'a Settings,
    pub env: &'a Env,
    /// When this run started.
    pub now: OffsetDateTime,
    /// Where a long step shows how far it is.
    pub progress: &'a dyn Progress,
    /// Who the engine asks (a passphrase, whether to save a token) and tells (sign-in steps).
    /// Tasks never use it: they only look.
    pub prompt: &'a dyn Prompt,
    /// The git repositories under the scan roots, searched once per run when a task first asks.
    repos: OnceLock<Discovery>,
    /// The OS credential store, opened once per run when first needed.
    secrets: OnceLock<Result<Option<secrets::Store>, String>>,
    /// Who is there to answer: nobody, a person at a terminal, or a person in the guided run.
    pub interaction: Interaction,
    /// Whether each configured organization has switched, asked once before the run (empty
    /// when the agent acts on every organization in scope).
    pub switch: &'a [crate::agent::ado::switch::OrgSwitch],
    /// The Entra sign-in, made once per run when first needed, kept in memory only.
    pub(crate) sign_in:
        std::sync::Mutex<Option<Result<crate::agent::ado::entra::SignedIn, String>>>,
}

/// Who can answer questions and sign in during a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Interaction {
    /// Device management or a script: no questions, no sign-in, no browser.
    Silent,
    /// `run` from a terminal: sign-in in the browser or with a device code, no other questions.
    Attended,
    /// The guided run for a person: sign-in, and questions such as a key's passphrase.
    Guided,
}

impl<'a> Context<'a> {
    pub(super) fn new(
        paths: &'a Paths,
        settings: &'a Settings,
        env: &'a Env,
        now: OffsetDateTime,
        progress: &'a dyn Progress,
    ) -> Context<'a> {
        Context {
            paths,
            settings,
            env,
            now,
            progress,
            prompt: &Nobody,
            repos: OnceLock::new(),
            secrets: OnceLock::new(),
            interaction: Interaction::Silent,
            switch: &[],
            sign_in: std::sync::Mutex::new(None),
        }
    }

    /// The same context, knowing which organizations switched.
    pub(super) fn with_switch(
        mut self,
        switch: &'a [crate::agent::ado::switch::OrgSwitch],
    ) -> Context<'a> {
        self.switch = switch;
        self
    }

    /// The same context for a run where someone can answer, through `prompt`.
    pub(super) fn with_interaction(
        mut self,
        interaction: Interaction,
        prompt: &'a dyn Prompt,
    ) -> Context<'a> {
        self.interaction = interaction;
        self.prompt = prompt;
        self
    }

    /// The OS credential store: `Ok(None)` when a test sandbox keeps it out, `Err` (in words)
    /// when it cannot be reached.
    pub(super) fn secret_store(&self) -> Result<Option<&secrets::Store>, &str> {
        match self
            .secrets
            .get_or_init(|| secrets::Store::open(self.paths, self.env))
        {
            Ok(store) => Ok(store.as_ref()),
            Err(why) => Err(why),
        }
    }

    /// The git repositories under the scan roots (`remotes.roots`, default the home folder).
    pub(super) fn repositories(&self) -> &Discovery {
        self.repos.get_or_init(|| {
            let skip = Skip::defaults(&self.paths.home, self.settings.list(&keys::REMOTES_SKIP));
            let found = discover::discover(&self.scan_roots(), &skip, &|folders, repos| {
                self.progress.show(&format!(
                    "Searching for repositories: {folders} folders, {repos} found"
                ));
            });
            self.progress.clear();
            found
        })
    }

    /// The scan roots: configured (`~/` is home, relative paths are under home), or home.
    pub(super) fn scan_roots(&self) -> Vec<PathBuf> {
        let configured = self.settings.list(&keys::REMOTES_ROOTS);
        if configured.is_empty() {
            return vec![self.paths.home.clone()];
        }
        configured
            .iter()
            .map(|root| {
                let rest = root.strip_prefix("~/").or_else(|| root.strip_prefix("~\\"));
                match rest {
                    Some(rest) => self.paths.home.join(rest),
                    None if root == "~" => self.paths.home.clone(),
                    None => self.paths.home.join(root),
                }
            })
            .collect()
    }
}

/// A one-line, ever-changing status for long steps (a scan of the home folder).
pub(super) trait Progress: Sync {
    /// Shows `text` in place of the previous status.
    fn show(&self, text: &str);
    /// Removes the status line.
    fn clear(&self);
}

/// No progress display: silent runs, output that is not a terminal, tests.
pub(super) struct NoProgress;

impl Progress for NoProgress {
    fn show(&self, _: &str) {}
    fn clear(&self) {}
}

/// What should happen to one finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Action {
    /// Nothing: a fact (`Info`), already fine (`Ok`) or left alone on purpose (`Skipped`).
    Note(Status),
    /// Only the user can do this; the finding's detail says how.
    NeedsUser,
    /// Delete this regular file (not reversible; the plan names it first).
    DeleteFile(PathBuf),
    /// Set `key` in the repository's own git configuration to `value`. With `restore`, `undo`
    /// puts that value back; without (the old value held a secret), it cannot.
    SetGitConfig {
        repo: PathBuf,
        key: String,
        value: String,
        restore: Option<String>,
    },
    /// Remove `key` from the git configuration file `file`; `undo` sets `restore` back.
    UnsetGitConfig {
        file: PathBuf,
        key: String,
        restore: String,
    },
    /// Remove these exact lines from a git credential-store file, keeping every other line byte
    /// for byte, under git's lock file; only if the file is still as planned (`expected_sha256`).
    /// The lines hold secrets: not reversible, and never shown.
    RemoveLines {
        file: PathBuf,
        lines: Vec<String>,
        expected_sha256: String,
    },
    /// Erase what git's credential-cache daemon (at `socket`, or git's default) holds for
    /// exactly `url` (not reversible: the secret is never read; the plan names the URL).
    EraseCachedCredential {
        socket: Option<PathBuf>,
        url: String,
    },
    /// Remove the entries `selection` takes (old accounts and their tokens) from the MSAL token
    /// cache at `place`, keeping every other entry and the way the cache is kept (not
    /// reversible: the tokens are never copied; the plan names the accounts).
    RemoveMsalAccounts {
        place: crate::agent::msal::place::Place,
        selection: crate::agent::msal::Selection,
    },
    /// Delete this macOS keychain internet password (git's osxkeychain helper's), named by
    /// every attribute (not reversible: the secret is never read). Planned on macOS only.
    #[cfg_attr(not(target_os = "macos"), allow(dead_code))]
    DeleteInternetPassword(credentials::InetItem),
    /// Move the registry key `HKCU\<from>` with everything in it to `HKCU\<to>`; `undo` moves
    /// it back.
    MoveRegistryKey { from: String, to: String },
    /// Delete this item from the OS credential store (not reversible: the secret is never read,
    /// so it cannot be put back; the plan names the item first).
    DeleteSecret(secrets::Item),
    /// Make a new SSH key pair (never over an existing file; the key files stay on `undo`).
    CreateSshKey(crate::agent::ssh::keygen::Spec),
    /// Write the missing `.pub` of the private key at this path, which a run killed between
    /// the two files made (the journal names it with its fingerprint); stays on `undo` like the
    /// key.
    CompleteSshKey(PathBuf),
    /// Replace (or create) the text file `path` with `contents`, only if it is still as planned
    /// (`expected_sha256`, `None` for a file that did not exist) and the file it refers to
    /// exists (`needs`: a configuration naming a key is not written when the key could not be
    /// made); `undo` puts it back.
    WriteFile {
        path: PathBuf,
        contents: String,
        expected_sha256: Option<String>,
        needs: Option<PathBuf>,
    },
    /// Register the SSH public key of `key` with the organization `org`: through the API after
    /// an Entra sign-in (`api`), or by showing the user how (the key on the clipboard, the
    /// organization's SSH keys page opened).
    RegisterSshKey {
        org: String,
        key: PathBuf,
        api: bool,
    },
    /// Check with `ssh -T` that Azure DevOps accepts the key (changes nothing).
    VerifySsh { key: PathBuf },
    /// Create a personal access token for `org` after an Entra sign-in and show it to the
    /// person once (the token stays in the run's memory, never on disk).
    CreatePat { org: String },
    /// Offer to save the token made for `org` in this run where git keeps credentials for
    /// `url` (the OS credential store, through git's helper); saved only if the person says yes.
    /// `undo` names it and where to remove it.
    SaveCredential { org: String, url: String },
    /// Check, after the changes, that one channel works for `org` (changes nothing).
    Check { org: String, check: verify::Check },
    /// Sum up the checks of `org` above it: `ok` only when every one passed.
    Conclude { org: String },
    /// Delete the Azure DevOps origins' site data in this browser profile (not reversible;
    /// only while the browser is closed). `expected` is how many origins the plan counted.
    DeleteSiteData {
        profile: crate::agent::browsers::Profile,
        expected: usize,
    },
    /// Delete the matching cookies in this browser cookie store (not reversible). `expected` is
    /// how many the plan counted.
    DeleteCookies {
        store: PathBuf,
        family: Family,
        scope: Scope,
        expected: usize,
    },
}

impl Action {
    /// True when the engine changes something for it.
    pub(super) fn changes(&self) -> bool {
        matches!(
            self,
            Action::DeleteFile(_)
                | Action::DeleteSecret(_)
                | Action::DeleteInternetPassword(_)
                | Action::EraseCachedCredential { .. }
                | Action::DeleteCookies { .. }
                | Action::DeleteSiteData { .. }
                | Action::SetGitConfig { .. }
                | Action::UnsetGitConfig { .. }
                | Action::RemoveLines { .. }
                | Action::RemoveMsalAccounts { .. }
                | Action::MoveRegistryKey { .. }
                | Action::CreateSshKey(_)
                | Action::CompleteSshKey(_)
                | Action::WriteFile { .. }
                | Action::RegisterSshKey { api: true, .. }
                | Action::CreatePat { .. }
                | Action::SaveCredential { .. }
        )
    }
}

/// One thing a task found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Finding {
    /// The report's item kind, e.g. `tenant-cache`.
    pub kind: &'static str,
    /// What it is about, safe to show (see [`crate::report::redact`]).
    pub target: String,
    /// Why, in plain words.
    pub detail: String,
    pub action: Action,
}

/// Facts one task learns that a later task needs, gathered while planning and remembered
/// between runs (see [`crate::agent::data::state`]).
#[derive(Debug, Clone, Default)]
pub(super) struct Evidence {
    /// Organizations the user used while they were backed by personal Microsoft accounts.
    pub msa_orgs: BTreeSet<String>,
    /// The Entra tenant each organization was on before it moved (lower-case GUIDs), as the
    /// tenant cache or an earlier run's switch check saw it.
    pub old_tenants: BTreeMap<String, String>,
    /// Organizations seen on personal Microsoft accounts before they moved (the switch check
    /// saw it; says nothing of whether this person used them so).
    pub msa_backed: BTreeSet<String>,
    /// User steps the person was already shown on an earlier run.
    pub shown_steps: BTreeSet<String>,
    /// A repository uses SSH with Azure DevOps (found by `remotes`).
    pub ssh_remotes: bool,
    /// The organizations repositories reach over SSH (found by `remotes`).
    pub ssh_orgs: BTreeSet<String>,
    /// The organizations in scope that this machine's repositories' remotes use.
    pub remote_orgs: BTreeSet<String>,
    /// Saved Azure DevOps credentials are cleared in this run (found by `credentials`): the
    /// person signs in again with the work account.
    pub credentials_cleared: bool,
    /// Old tokens were found (saved credentials, tokens in feed and shell files): scripts and
    /// feeds need new personal access tokens.
    pub old_tokens: bool,
    /// Every Azure DevOps remote in scope, by its report target (`<repository> (<remote>)`,
    /// `, push` for a push URL), for the inventory (found by `remotes`).
    pub remotes: BTreeMap<String, RemoteFacts>,
    /// The organizations each repository's remotes use, by the repository as the report shows
    /// it (found by `remotes`).
    pub repo_orgs: BTreeMap<String, BTreeSet<String>>,
}

/// What one Azure DevOps remote shows about how it is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RemoteFacts {
    pub org: String,
    /// Reached over SSH.
    pub ssh: bool,
    /// On a legacy `*.visualstudio.com` host.
    pub legacy: bool,
    /// Carries a password or token in the URL.
    pub secret: bool,
}

/// A task failed to look; its detail goes into the report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(super) struct TaskError(pub String);

/// One documented user task.
pub(super) trait Task: Sync {
    /// The stable id used by flags, reports and the dashboard.
    fn id(&self) -> &'static str;
    /// A short title for people.
    fn title(&self) -> &'static str;
    /// Why it matters, in plain words, for the guided run.
    fn why(&self) -> &'static str;
    /// Looks at the machine and says what should change. Never changes anything.
    fn detect(&self, cx: &Context<'_>, evidence: &mut Evidence) -> Result<Vec<Finding>, TaskError>;
}

/// Every task id, stable across versions, in the order tasks run. Some belong to tasks a later
/// version adds; naming one of those in `--only`/`--skip` is accepted with a warning, so IT can
/// write its scripts once.
pub(super) const TASK_IDS: &[&str] = &[
    "switch",
    "gcm-tenant-cache",
    "pinned-tenants",
    "credentials",
    "remotes",
    "ssh-key",
    "browser-sign-out",
    "guidance",
    "verify",
];

/// The tasks this version has, in the order they run. `switch` is first: it says which
/// organizations the others may clean. `guidance` comes after the cleanup: it uses the evidence
/// the others gathered. `verify` is last: it proves the cleanup worked.
pub(super) fn registry() -> Vec<&'static dyn Task> {
    vec![
        &switch::Switch,
        &tenant_cache::TenantCache,
        &pinned_tenants::PinnedTenants,
        &credentials::Credentials,
        &remotes::Remotes,
        &ssh_key::SshKey,
        &browser_sign_out::BrowserSignOut,
        &guidance::Guidance,
        &verify::Verify,
    ]
}

/// Runs `f` with a context for `paths`, the settings read from that sandbox's files (tests).
#[cfg(test)]
pub(crate) fn with_context<R>(paths: &Paths, f: impl FnOnce(&Context<'_>) -> R) -> R {
    let env = Env::default();
    let settings = Settings::resolve(paths, &env, &Default::default()).expect("test settings");
    f(&Context::new(
        paths,
        &settings,
        &env,
        OffsetDateTime::UNIX_EPOCH,
        &NoProgress,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_follows_the_stable_order_from_switch_to_verify() {
        let ids: Vec<&str> = registry().iter().map(|t| t.id()).collect();
        let positions: Vec<usize> = ids
            .iter()
            .map(|id| {
                TASK_IDS
                    .iter()
                    .position(|known| known == id)
                    .expect("unknown id")
            })
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        assert_eq!(ids.len(), TASK_IDS.len(), "every stable id has its task");
        assert_eq!(ids.first(), Some(&"switch"));
        assert_eq!(ids.last(), Some(&"verify"));
    }
}
