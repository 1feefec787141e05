//! Runs the tasks: detect -> plan -> apply -> verify.
//!
//! Planning runs every selected task's read-only `detect`, in registry order, sharing the
//! evidence they gather. Applying carries out exactly the planned actions, each through the
//! path guard ([`guard`]), the journal and the file primitives, then detects again to verify.
//! One task failing never stops the others: every item carries its own status and reason.
//!
//! Every effect lives here, one file per kind: [`files`] (files, stores, git configuration),
//! [`ssh`] (key, registration, `ssh -T`), [`pat`] (a new token and saving it), [`sign_in`]
//! (the run's Entra sign-in). Tasks only look; questions reach the person through the
//! context's [`crate::agent::output::prompt::Prompt`].

mod files;
mod guard;
mod pat;
mod sign_in;
mod ssh;
mod verify;
pub(crate) mod versions;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use uuid::Uuid;

use crate::report::{Item, Status, TaskReport};

use crate::agent::ado::entra::Secret;
use crate::agent::data::journal::{Change, Journal};
use crate::agent::engine::versions::Versions;
use crate::agent::tasks::{
    Action, Context, Evidence, Finding, TASK_IDS, Task, TaskError, registry,
};

/// The tasks a command works on, from `--only` and `--skip`.
pub(super) fn select(
    only: &[String],
    skip: &[String],
) -> Result<(Vec<&'static dyn Task>, Vec<String>), crate::agent::settings::ConfigError> {
    let available = registry();
    let mut warnings = Vec::new();
    for (flag, ids) in [("--only", only), ("--skip", skip)] {
        for id in ids {
            if available.iter().any(|t| t.id() == id) {
                continue;
            }
            if TASK_IDS.contains(&id.as_str()) {
                warnings.push(format!(
                    "{flag} {id}: this version of ado-cutover does not have the `{id}` task yet; ignored"
                ));
            } else {
                let ids: Vec<&str> = available.iter().map(|t| t.id()).collect();
                return Err(crate::agent::settings::ConfigError::new(
                    format!("{flag}: unknown task `{id}`"),
                    format!("the tasks are: {}", ids.join(", ")),
                ));
            }
        }
    }
    let tasks = available
        .into_iter()
        .filter(|t| only.is_empty() || only.iter().any(|id| id == t.id()))
        .filter(|t| !skip.iter().any(|id| id == t.id()))
        .collect();
    Ok((tasks, warnings))
}

/// One task's plan.
pub(super) struct Planned {
    pub task: &'static dyn Task,
    pub findings: Result<Vec<Finding>, TaskError>,
}

impl Planned {
    /// True when `run` would change something for this task.
    pub(super) fn has_changes(&self) -> bool {
        self.findings
            .as_ref()
            .is_ok_and(|findings| findings.iter().any(|f| f.action.changes()))
    }
}

/// Detects every task, in order, starting from what earlier runs learnt. Changes nothing.
/// Returns the plan and the evidence gathered.
pub(super) fn plan(
    cx: &Context<'_>,
    tasks: &[&'static dyn Task],
    mut evidence: Evidence,
) -> (Vec<Planned>, Evidence) {
    let planned = tasks
        .iter()
        .map(|&task| Planned {
            task,
            findings: task.detect(cx, &mut evidence),
        })
        .collect();
    (planned, evidence)
}

/// The plan as report sections.
pub(super) fn plan_report(planned: &[Planned]) -> Vec<TaskReport> {
    planned
        .iter()
        .map(|p| match &p.findings {
            Ok(findings) => {
                let items = findings.iter().map(planned_item).collect();
                task_report(p.task, items)
            }
            Err(err) => failed_task(p.task, err),
        })
        .collect()
}

fn planned_item(finding: &Finding) -> Item {
    let (status, detail) = match &finding.action {
        Action::Note(status) => (*status, finding.detail.clone()),
        Action::NeedsUser => (Status::NeedsUser, finding.detail.clone()),
        Action::DeleteFile(_)
        | Action::DeleteSecret(_)
        | Action::DeleteInternetPassword(_)
        | Action::DeleteCookies { .. }
        | Action::DeleteSiteData { .. }
        | Action::EraseCachedCredential { .. } => (
            Status::Planned,
            format!("will be deleted: {}", finding.detail),
        ),
        Action::SetGitConfig { .. } | Action::UnsetGitConfig { .. } => (
            Status::Planned,
            format!("will be changed: {}", finding.detail),
        ),
        Action::RemoveLines { .. }
        | Action::RemoveMsalAccounts { .. }
        | Action::MoveRegistryKey { .. } => (
            Status::Planned,
            format!("will be removed: {}", finding.detail),
        ),
        Action::CreateSshKey(_) | Action::CompleteSshKey(_) => (
            Status::Planned,
            format!("will be created: {}", finding.detail),
        ),
        Action::WriteFile { .. } => (
            Status::Planned,
            format!("will be changed: {}", finding.detail),
        ),
        Action::RegisterSshKey { api: true, .. } => (
            Status::Planned,
            format!("will be registered: {}", finding.detail),
        ),
        Action::RegisterSshKey { api: false, .. } => (Status::NeedsUser, finding.detail.clone()),
        Action::CreatePat { .. } => (
            Status::Planned,
            format!("will be created: {}", finding.detail),
        ),
        Action::SaveCredential { .. } => (
            Status::Planned,
            format!("will be offered: {}", finding.detail),
        ),
        Action::VerifySsh { .. } | Action::Check { .. } | Action::Conclude { .. } => (
            Status::Info,
            format!("will be checked after the changes: {}", finding.detail),
        ),
    };
    item(finding, status, detail)
}

/// The report item for a finding.
pub(crate) fn item(finding: &Finding, status: Status, detail: String) -> Item {
    Item {
        kind: finding.kind.to_string(),
        target: finding.target.clone(),
        status,
        detail,
    }
}

/// Carries out the plan, then verifies it by detecting again.
pub(super) fn apply(
    cx: &Context<'_>,
    planned: &[Planned],
    journal: &Journal,
    run_id: Uuid,
) -> Vec<TaskReport> {
    // Shared by every task: a file two tasks change (git config, `~/.ssh/config`) composes too.
    let memory = Memory::default();
    let started = std::time::SystemTime::now();
    planned
        .iter()
        .map(|p| {
            let findings = match &p.findings {
                Ok(findings) => findings,
                Err(err) => return failed_task(p.task, err),
            };
            let step = Step {
                cx,
                task: p.task.id(),
                journal,
                run_id,
                memory: &memory,
                started,
            };
            let mut items: Vec<Item> = findings
                .iter()
                .map(|finding| apply_one(&step, finding))
                .collect();
            verify::conclude(&step, findings, &mut items);
            if p.has_changes() {
                verify(cx, p.task, findings, &mut items);
            }
            task_report(p.task, items)
        })
        .collect()
}

/// One action being carried out: the run's context, its journal and what the run holds in
/// memory between actions.
pub(crate) struct Step<'s, 'a> {
    pub(crate) cx: &'s Context<'a>,
    /// The task whose finding this is (journal entries name it).
    pub(crate) task: &'static str,
    pub(crate) journal: &'s Journal,
    pub(crate) run_id: Uuid,
    pub(crate) memory: &'s Memory,
    /// When this run began changing things (the clock of the files, not the report's).
    pub(crate) started: std::time::SystemTime,
}

impl Step<'_, '_> {
    /// Records the intent, makes the change, and confirms it when something changed.
    pub(crate) fn journaled(
        &self,
        change: Change,
        make: impl FnOnce() -> std::io::Result<usize>,
    ) -> std::io::Result<usize> {
        let id = self
            .journal
            .intent(self.run_id, self.cx.now, self.task, change)?;
        let changed = make()?;
        // Nothing changed: leave the intent unconfirmed, so `undo` does not name it.
        if changed > 0 {
            self.journal.commit(id)?;
        }
        Ok(changed)
    }

    /// Checks that a file this step creates does not exist and may be made there.
    pub(crate) fn guard_new(&self, path: &Path) -> Result<(), String> {
        guard::check(self.cx, path, guard::Expect::Nothing)
    }
}

/// What one run holds between actions, in memory only.
#[derive(Default)]
pub(crate) struct Memory {
    /// The checksums this run's own writes produced, per file.
    pub(crate) versions: Versions,
    /// Personal access tokens made in this run, per organization, until they are saved.
    tokens: Mutex<BTreeMap<String, Secret>>,
    /// What the checks of `verify` learnt, per organization.
    pub(crate) checks: verify::Learnt,
}

impl Memory {
    pub(crate) fn keep_token(&self, org: &str, token: Secret) {
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.insert(org.to_ascii_lowercase(), token);
        }
    }

    pub(crate) fn token(&self, org: &str) -> Option<Secret> {
        self.tokens
            .lock()
            .ok()
            .and_then(|tokens| tokens.get(&org.to_ascii_lowercase()).cloned())
    }
}

fn apply_one(step: &Step<'_, '_>, finding: &Finding) -> Item {
    match &finding.action {
        Action::DeleteFile(path) => files::delete(step, finding, path),
        Action::DeleteSecret(secret) => files::delete_secret(step, finding, secret),
        Action::MoveRegistryKey { from, to } => files::move_registry_key(step, finding, from, to),
        Action::DeleteInternetPassword(item) => {
            files::delete_internet_password(step, finding, item)
        }
        Action::RemoveMsalAccounts { place, selection } => {
            files::remove_msal_accounts(step, finding, place, selection)
        }
        Action::EraseCachedCredential { socket, url } => {
            files::erase_cached(step, finding, socket.as_ref(), url)
        }
        Action::DeleteSiteData { profile, expected } => {
            files::delete_site_data(step, finding, profile, *expected)
        }
        Action::DeleteCookies {
            store,
            family,
            scope,
            expected,
        } => files::delete_cookies(step, finding, store, *family, *scope, *expected),
        Action::SetGitConfig {
            repo,
            key,
            value,
            restore,
        } => files::set_git_config(step, finding, repo, key, value, restore.as_ref()),
        Action::UnsetGitConfig { file, key, restore } => {
            files::unset_git_config(step, finding, file, key, restore)
        }
        Action::RemoveLines {
            file,
            lines,
            expected_sha256,
        } => files::remove_lines(step, finding, file, lines, expected_sha256),
        Action::WriteFile {
            needs: Some(needed),
            ..
        } if !needed.is_file() => item(
            finding,
            Status::Skipped,
            format!(
                "not changed: it would name {}, which could not be made",
                step.cx.paths.display(needed)
            ),
        ),
        Action::WriteFile {
            path,
            contents,
            expected_sha256,
            ..
        } => files::write_file(step, finding, path, contents, expected_sha256.as_deref()),
        Action::CreateSshKey(spec) => ssh::create(step, finding, spec),
        Action::CompleteSshKey(path) => ssh::complete(step, finding, path),
        Action::RegisterSshKey { org, key, api } => ssh::register(step, finding, org, key, *api),
        Action::VerifySsh { key } => ssh::check(step.cx, finding, key),
        Action::CreatePat { org } => pat::create(step, finding, org),
        Action::SaveCredential { org, url } => pat::save(step, finding, org, url),
        Action::Check { org, check } => verify::check(step, finding, org, check),
        // Filled in once every check above it has run (see `verify::conclude`).
        Action::Conclude { .. } => planned_item(finding),
        Action::Note(_) | Action::NeedsUser => planned_item(finding),
    }
}

/// Detects again: whatever is still planned for a target that was just changed failed.
fn verify(cx: &Context<'_>, task: &dyn Task, before: &[Finding], items: &mut [Item]) {
    let after = match task.detect(cx, &mut Evidence::default()) {
        Ok(after) => after,
        Err(err) => {
            for item in items.iter_mut().filter(|i| i.status == Status::Done) {
                item.status = Status::Failed;
                item.detail = format!("changed, but could not check the result: {err}");
            }
            return;
        }
    };
    for (finding, item) in before.iter().zip(items.iter_mut()) {
        let still = after
            .iter()
            .any(|a| a.action.changes() && a.kind == finding.kind && a.target == finding.target);
        if item.status == Status::Done && still {
            item.status = Status::Failed;
            item.detail = "the change did not hold: it is still there after the run".to_string();
        }
    }
}

fn failed_task(task: &dyn Task, err: &TaskError) -> TaskReport {
    TaskReport {
        id: task.id().to_string(),
        status: Status::Failed,
        summary: format!("failed: {err}"),
        items: vec![Item {
            kind: "task-error".into(),
            target: task.id().to_string(),
            status: Status::Failed,
            detail: err.to_string(),
        }],
    }
}

fn task_report(task: &dyn Task, items: Vec<Item>) -> TaskReport {
    TaskReport {
        id: task.id().to_string(),
        status: Status::of_items(&items),
        summary: summarize(&items),
        items,
    }
}

/// "1 change planned, 2 steps for you", or "nothing to do".
pub(super) fn summarize(items: &[Item]) -> String {
    let count = |status| items.iter().filter(|i| i.status == status).count();
    let plural = crate::agent::output::words::count;
    let mut parts = Vec::new();
    let planned = count(Status::Planned);
    if planned > 0 {
        parts.push(plural(planned, "change planned", "changes planned"));
    }
    let done = count(Status::Done);
    if done > 0 {
        parts.push(plural(done, "change made", "changes made"));
    }
    let user = count(Status::NeedsUser);
    if user > 0 {
        parts.push(plural(user, "step for you", "steps for you"));
    }
    let failed = count(Status::Failed);
    if failed > 0 {
        parts.push(format!("{failed} failed"));
    }
    let skipped = count(Status::Skipped);
    if skipped > 0 {
        parts.push(format!("{skipped} not checked or not done"));
    }
    if parts.is_empty() {
        "nothing to do".to_string()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::paths::Paths;
    use crate::agent::tasks::with_context;

    /// A task that plans to delete one file and, when `broken`, fails to look at all.
    struct Fake {
        id: &'static str,
        path: std::path::PathBuf,
        broken: bool,
    }

    impl Task for Fake {
        fn id(&self) -> &'static str {
            self.id
        }
        fn title(&self) -> &'static str {
            "fake"
        }
        fn why(&self) -> &'static str {
            "test"
        }
        fn detect(&self, _: &Context<'_>, _: &mut Evidence) -> Result<Vec<Finding>, TaskError> {
            if self.broken {
                return Err(TaskError("cannot look".into()));
            }
            Ok(self
                .path
                .exists()
                .then(|| Finding {
                    kind: "file",
                    target: self.path.display().to_string(),
                    detail: "stale".into(),
                    action: Action::DeleteFile(self.path.clone()),
                })
                .into_iter()
                .collect())
        }
    }

    fn leak(task: Fake) -> &'static dyn Task {
        Box::leak(Box::new(task))
    }

    #[test]
    fn one_failing_task_does_not_stop_the_others_and_changes_are_journaled() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::sandboxed(dir.path());
        let target = paths.home.join("stale-file");
        std::fs::create_dir_all(&paths.home).unwrap();
        std::fs::write(&target, b"x").unwrap();
        let tasks = [
            leak(Fake {
                id: "broken",
                path: target.clone(),
                broken: true,
            }),
            leak(Fake {
                id: "good",
                path: target.clone(),
                broken: false,
            }),
        ];
        let journal = Journal::new(&paths.data_dir);
        with_context(&paths, |cx| {
            let (planned, _) = plan(cx, &tasks, Evidence::default());
            let reports = plan_report(&planned);
            assert_eq!(reports[0].status, Status::Failed);
            assert_eq!(reports[1].status, Status::Planned);
            assert!(target.exists(), "planning changes nothing");

            let reports = apply(cx, &planned, &journal, Uuid::new_v4());
            assert_eq!(reports[0].status, Status::Failed);
            assert_eq!(reports[1].status, Status::Done);
            assert_eq!(reports[1].summary, "1 change made");
        });
        assert!(!target.exists());
        let entries = journal.entries().unwrap();
        assert_eq!(entries.len(), 1);
        assert!(entries[0].committed);
        assert_eq!(entries[0].task, "good");
    }

    #[test]
    fn select_honours_only_and_skip() {
        let (tasks, warnings) = select(&[], &["guidance".into()]).unwrap();
        assert!(tasks.iter().all(|t| t.id() != "guidance"));
        assert!(warnings.is_empty());
        let (tasks, warnings) = select(&["guidance".into(), "ssh-key".into()], &[]).unwrap();
        let ids: Vec<&str> = tasks.iter().map(|t| t.id()).collect();
        assert_eq!(ids, ["ssh-key", "guidance"]);
        assert!(warnings.is_empty());
        let Err(err) = select(&["nope".into()], &[]) else {
            panic!("an unknown task id must be refused");
        };
        assert!(err.hint.contains("gcm-tenant-cache"), "{err}");
    }

    #[test]
    fn summaries_read_naturally() {
        let mk = |status| Item {
            kind: "k".into(),
            target: "t".into(),
            status,
            detail: String::new(),
        };
        assert_eq!(summarize(&[]), "nothing to do");
        assert_eq!(summarize(&[mk(Status::Info)]), "nothing to do");
        assert_eq!(
            summarize(&[
                mk(Status::Planned),
                mk(Status::NeedsUser),
                mk(Status::NeedsUser)
            ]),
            "1 change planned, 2 steps for you"
        );
    }
}
