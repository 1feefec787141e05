//! Runs the tasks: detect -> plan -> apply -> verify.
//!
//! Planning runs every selected task's read-only `detect`, in registry order, sharing the
//! evidence they gather. Applying carries out exactly the planned actions, each through the
//! journal and the file primitives, then detects again to verify. One task failing never stops
//! the others: every item carries its own status and reason.

use std::path::{Path, PathBuf};

use uuid::Uuid;

use crate::report::{Item, Status, TaskReport};

use super::browsers::cookies;
use super::fsutil;
use super::gitconfig;
use super::journal::{Change, Journal, sha256_hex};
use super::secrets;
use super::tasks::{
    Action, Context, Evidence, Finding, TASK_IDS, Task, TaskError, registry, ssh_key,
};
use super::versions::Versions;

/// The tasks a command works on, from `--only` and `--skip`.
pub fn select(
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
pub struct Planned {
    pub task: &'static dyn Task,
    pub findings: Result<Vec<Finding>, TaskError>,
}

impl Planned {
    /// True when `run` would change something for this task.
    pub fn has_changes(&self) -> bool {
        self.findings
            .as_ref()
            .is_ok_and(|findings| findings.iter().any(|f| f.action.changes()))
    }
}

/// Detects every task, in order, starting from what earlier runs learnt. Changes nothing.
/// Returns the plan and the evidence gathered.
pub fn plan(
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
pub fn plan_report(planned: &[Planned]) -> Vec<TaskReport> {
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
        Action::DeleteFile(_) | Action::DeleteSecret(_) | Action::DeleteCookies { .. } => (
            Status::Planned,
            format!("will be deleted: {}", finding.detail),
        ),
        Action::SetGitConfig { .. } | Action::UnsetGitConfig { .. } => (
            Status::Planned,
            format!("will be changed: {}", finding.detail),
        ),
        Action::RemoveLines { .. } => (
            Status::Planned,
            format!("will be removed: {}", finding.detail),
        ),
        Action::CreateSshKey(_) => (
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
        Action::VerifySsh { .. } => (
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
pub fn apply(
    cx: &Context<'_>,
    planned: &[Planned],
    journal: &Journal,
    run_id: Uuid,
) -> Vec<TaskReport> {
    // Shared by every task: a file two tasks change (git config, `~/.ssh/config`) composes too.
    let versions = Versions::default();
    planned
        .iter()
        .map(|p| {
            let findings = match &p.findings {
                Ok(findings) => findings,
                Err(err) => return failed_task(p.task, err),
            };
            let mut items: Vec<Item> = findings
                .iter()
                .map(|finding| apply_one(cx, p.task.id(), finding, journal, run_id, &versions))
                .collect();
            if p.has_changes() {
                verify(cx, p.task, findings, &mut items);
            }
            task_report(p.task, items)
        })
        .collect()
}

fn apply_one(
    cx: &Context<'_>,
    task: &str,
    finding: &Finding,
    journal: &Journal,
    run_id: Uuid,
    versions: &Versions,
) -> Item {
    match &finding.action {
        Action::DeleteFile(path) => match delete(cx, task, path, journal, run_id) {
            Ok(true) => item(
                finding,
                Status::Done,
                format!("deleted: {}", finding.detail),
            ),
            Ok(false) => item(finding, Status::Ok, "already gone".to_string()),
            Err(err) => item(
                finding,
                Status::Failed,
                format!("could not delete it: {err}"),
            ),
        },
        Action::DeleteSecret(secret) => {
            let store = match cx.secret_store() {
                Ok(Some(store)) => store,
                Ok(None) => {
                    return item(
                        finding,
                        Status::Skipped,
                        "the OS credential store is not in use".into(),
                    );
                }
                Err(why) => {
                    return item(
                        finding,
                        Status::Failed,
                        format!("could not delete it: {why}"),
                    );
                }
            };
            let change = Change::EntriesDeleted {
                path: PathBuf::from(secrets::Store::NAME),
                what: format!("the credential {}", finding.target),
            };
            let result = journaled(cx, task, change, journal, run_id, || {
                store.delete(secret).map_err(std::io::Error::other)
            });
            match result {
                Ok(0) => item(finding, Status::Ok, "already gone".to_string()),
                Ok(_) => item(
                    finding,
                    Status::Done,
                    format!("deleted: {}", finding.detail),
                ),
                Err(err) => item(
                    finding,
                    Status::Failed,
                    format!("could not delete it: {err}"),
                ),
            }
        }
        Action::DeleteCookies {
            store,
            family,
            scope,
            expected,
        } => {
            let change = Change::EntriesDeleted {
                path: store.clone(),
                what: "Azure DevOps cookies".into(),
            };
            let result = journaled(cx, task, change, journal, run_id, || {
                cookies::delete(store, *family, *scope)
                    .map_err(|e| std::io::Error::other(e.to_string()))
            });
            match result {
                Ok(0) => item(
                    finding,
                    Status::Ok,
                    "no Azure DevOps cookies were left".to_string(),
                ),
                Ok(n) if n == *expected => item(
                    finding,
                    Status::Done,
                    format!("deleted: {}", finding.detail),
                ),
                Ok(n) => item(
                    finding,
                    Status::Done,
                    format!(
                        "deleted {n} {} (the plan counted {expected}): {}",
                        if n == 1 { "cookie" } else { "cookies" },
                        finding.detail
                    ),
                ),
                Err(err) => item(
                    finding,
                    Status::Failed,
                    format!("could not delete them: {err}"),
                ),
            }
        }
        Action::SetGitConfig {
            repo,
            key,
            value,
            restore,
        } => {
            let change = match restore {
                Some(before) => Change::GitConfigSet {
                    repo: repo.clone(),
                    key: key.clone(),
                    before: before.clone(),
                    after: value.clone(),
                },
                None => Change::EntriesDeleted {
                    path: repo.clone(),
                    what: format!("the credentials in {key}"),
                },
            };
            config_change(cx, task, finding, change, journal, run_id, || {
                gitconfig::set(repo, key, value)
            })
        }
        Action::UnsetGitConfig { file, key, restore } => {
            let change = Change::GitConfigUnset {
                file: file.clone(),
                key: key.clone(),
                before: restore.clone(),
            };
            config_change(cx, task, finding, change, journal, run_id, || {
                gitconfig::unset_in_file(file, key)
            })
        }
        Action::RemoveLines {
            file,
            lines,
            expected_sha256,
        } => {
            let change = Change::EntriesDeleted {
                path: file.clone(),
                what: "stored Azure DevOps credentials".into(),
            };
            let planned = Some(expected_sha256.clone());
            let result = journaled(cx, task, change, journal, run_id, || {
                let still_planned =
                    |now: &str| versions.accepts(file, &planned, &Some(now.to_string()));
                let removed = fsutil::remove_lines(file, lines, &still_planned)?;
                versions.record(
                    file,
                    Some(removed.before_sha256),
                    Some(removed.after_sha256),
                );
                Ok(removed.count)
            });
            match result {
                Ok(0) => item(finding, Status::Ok, "already gone".to_string()),
                Ok(_) => item(
                    finding,
                    Status::Done,
                    format!("removed: {}", finding.detail),
                ),
                Err(err) => item(
                    finding,
                    Status::Failed,
                    format!("could not remove it: {err}"),
                ),
            }
        }
        Action::WriteFile {
            needs: Some(needed),
            ..
        } if !needed.is_file() => item(
            finding,
            Status::Skipped,
            format!(
                "not changed: it would name {}, which could not be made",
                cx.paths.display(needed)
            ),
        ),
        Action::WriteFile {
            path,
            contents,
            expected_sha256,
            ..
        } => write_file(
            cx,
            task,
            finding,
            path,
            contents,
            expected_sha256.as_deref(),
            journal,
            run_id,
            versions,
        ),
        Action::CreateSshKey(_)
        | Action::RegisterSshKey { .. }
        | Action::VerifySsh { .. }
        | Action::CreatePat { .. } => ssh_key::apply(cx, task, finding, journal, run_id),
        _ => planned_item(finding),
    }
}

/// Replaces a text file if it is still as planned, keeping the old content for `undo`.
#[allow(clippy::too_many_arguments)]
fn write_file(
    cx: &Context<'_>,
    task: &str,
    finding: &Finding,
    path: &Path,
    contents: &str,
    expected_sha256: Option<&str>,
    journal: &Journal,
    run_id: Uuid,
    versions: &Versions,
) -> Item {
    let current = match std::fs::read(path) {
        Ok(bytes) => Some(bytes),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => {
            return item(finding, Status::Failed, format!("could not read it: {err}"));
        }
    };
    let current_sha = current.as_deref().map(sha256_hex);
    if !versions.accepts(path, &expected_sha256.map(str::to_string), &current_sha) {
        return item(
            finding,
            Status::Failed,
            "it changed after the plan was made; left as it is (run ado-cutover again)".into(),
        );
    }
    let result = (|| {
        let backup = current
            .as_deref()
            .map(|old| journal.backup(old))
            .transpose()?;
        let change = Change::FileWritten {
            path: path.to_path_buf(),
            backup,
            after_sha256: sha256_hex(contents.as_bytes()),
        };
        journaled(cx, task, change, journal, run_id, || {
            fsutil::write_atomic(path, contents.as_bytes(), 0o600)?;
            versions.record(path, current_sha, Some(sha256_hex(contents.as_bytes())));
            Ok(1)
        })
    })();
    changed(finding, result)
}

/// The report item for a change that was made, or not.
fn changed(finding: &Finding, result: std::io::Result<usize>) -> Item {
    match result {
        Ok(_) => item(
            finding,
            Status::Done,
            format!("changed: {}", finding.detail),
        ),
        Err(err) => item(
            finding,
            Status::Failed,
            format!("could not change it: {err}"),
        ),
    }
}

/// Makes one journaled git-configuration change and reports it.
fn config_change(
    cx: &Context<'_>,
    task: &str,
    finding: &Finding,
    change: Change,
    journal: &Journal,
    run_id: Uuid,
    make: impl FnOnce() -> Result<(), String>,
) -> Item {
    let result = journaled(cx, task, change, journal, run_id, || {
        make().map(|()| 1).map_err(std::io::Error::other)
    });
    changed(finding, result)
}

/// Records the intent, makes the change, and confirms it when something changed.
pub(crate) fn journaled(
    cx: &Context<'_>,
    task: &str,
    change: Change,
    journal: &Journal,
    run_id: Uuid,
    make: impl FnOnce() -> std::io::Result<usize>,
) -> std::io::Result<usize> {
    let id = journal.intent(run_id, cx.now, task, change)?;
    let changed = make()?;
    // Nothing changed: leave the intent unconfirmed, so `undo` does not name it.
    if changed > 0 {
        journal.commit(id)?;
    }
    Ok(changed)
}

fn delete(
    cx: &Context<'_>,
    task: &str,
    path: &Path,
    journal: &Journal,
    run_id: Uuid,
) -> std::io::Result<bool> {
    let change = Change::FileDeleted {
        path: path.to_path_buf(),
    };
    journaled(cx, task, change, journal, run_id, || {
        fsutil::delete_file(path).map(usize::from)
    })
    .map(|n| n > 0)
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
pub fn summarize(items: &[Item]) -> String {
    let count = |status| items.iter().filter(|i| i.status == status).count();
    let plural = super::words::count;
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
        let target = dir.path().join("stale-file");
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
