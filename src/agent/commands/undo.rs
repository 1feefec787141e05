//! `undo`: restores every reversible change in the journal that no earlier `undo` dealt with.
//!
//! Irreversible changes (deleted caches and secrets, which are never backed up) are named once,
//! so the user knows what `undo` cannot bring back.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::report::{Item, Mode, Status, TaskReport};

use super::cli::Common;
use super::session::Session;
use super::{Failure, exit, failure, print_report, write_stdout};
use crate::agent::data::journal::{Change, Journal, UndoResult};
use crate::agent::engine::summarize;
use crate::agent::env::Env;
use crate::agent::paths::Paths;

/// The `undo` command.
pub(super) fn command(common: &Common, env: &Env, json: bool) -> Result<u8, Failure> {
    let session = Session::prepare(common, env)?;
    let _lock = session.lock()?;
    let started = OffsetDateTime::now_utc();
    let journal = Journal::new(&session.paths.data_dir);
    let tasks = undo(&session.paths, &journal, started).map_err(|err| {
        failure(
            exit::FAILED,
            format!(
                "cannot read the journal in {}: {err}",
                session.paths.display(&session.paths.data_dir)
            ),
        )
        .hint("check that the folder is readable by this user".to_string())
    })?;
    let (report, _) = session.finish(Mode::Undo, started, tasks);
    session.log(&report);
    if !json && report.tasks.is_empty() {
        write_stdout("Nothing reversible was changed; there is nothing to undo.\n")?;
    } else {
        print_report(&session, &report, json)?;
    }
    Ok(exit::for_report(&report))
}

/// Undoes what can be undone and reports every entry it looked at, grouped by task.
fn undo(paths: &Paths, journal: &Journal, now: OffsetDateTime) -> std::io::Result<Vec<TaskReport>> {
    let mut by_task: BTreeMap<String, Vec<Item>> = BTreeMap::new();
    // Newest first, so a file changed twice ends up as it was before the first change.
    for entry in journal.entries()?.into_iter().rev().filter(|e| !e.settled) {
        let target = paths.display(entry.change.path());
        let item = if entry.change.is_reversible() {
            let (status, detail) = match journal.undo(&entry, now) {
                UndoResult::Restored => (Status::Done, "restored".to_string()),
                UndoResult::Removed => (
                    Status::Done,
                    "removed (ado-cutover had created it)".to_string(),
                ),
                UndoResult::NeverHappened => continue,
                UndoResult::Conflict(why) => (Status::NeedsUser, why),
                UndoResult::Failed(why) => (Status::Failed, format!("could not restore it: {why}")),
            };
            Item {
                kind: "undo".into(),
                target,
                status,
                detail,
            }
        } else {
            if !entry.committed {
                continue;
            }
            journal.settle_irreversible(&entry, now)?;
            Item {
                kind: "undo".into(),
                target,
                status: Status::Info,
                detail: irreversible(&entry.change),
            }
        };
        by_task.entry(entry.task.clone()).or_default().push(item);
    }
    Ok(by_task
        .into_iter()
        .map(|(id, items)| {
            let restored = items.iter().filter(|i| i.status == Status::Done).count();
            let summary = if restored == 0 && items.iter().all(|i| i.status == Status::Info) {
                "nothing reversible was changed".to_string()
            } else {
                summarize(&items)
            };
            TaskReport {
                id,
                status: Status::of_items(&items),
                summary,
                items,
            }
        })
        .collect())
}

/// What `undo` says about a change it does not reverse.
fn irreversible(change: &Change) -> String {
    match change {
        Change::KeyCreated { fingerprint, .. } => format!(
            "kept: the SSH key ({fingerprint}) stays, because ado-cutover never deletes a key; delete it yourself if you do not use it"
        ),
        Change::KeyRegistered { org, .. } => format!(
            "kept: the key stays registered with {org}; remove it on {} if you do not use it",
            crate::agent::tasks::ssh_key::keys_page(org)
        ),
        Change::TokenCreated { org, .. } => format!(
            "kept: the personal access token for {org} stays valid; revoke it on https://dev.azure.com/{org}/_usersSettings/tokens if you do not use it"
        ),
        Change::CredentialSaved { path, .. } => format!(
            "kept: the new token stays saved for git in this computer's credential store; if you do not use it, remove the entry for {} there (or run `git credential reject` with that address)",
            path.display()
        ),
        Change::EntriesDeleted { what, .. } => format!(
            "{what} were deleted and cannot be restored: deleted caches, cookies and credentials are not kept"
        ),
        _ => "it was deleted and cannot be restored: deleted caches, cookies and credentials are not kept".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::data::journal::sha256_hex;
    use crate::agent::fsutil;
    use uuid::Uuid;

    #[test]
    fn restores_reversible_changes_and_names_irreversible_ones_once() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::sandboxed(dir.path());
        let journal = Journal::new(&paths.data_dir);
        let now = OffsetDateTime::UNIX_EPOCH;
        let run = Uuid::new_v4();

        let config = paths.ssh_dir.join("config");
        fsutil::write_atomic(&config, b"before", 0o600).unwrap();
        let backup = journal.backup(b"before").unwrap();
        let id = journal
            .intent(
                run,
                now,
                "remotes",
                Change::FileWritten {
                    path: config.clone(),
                    backup: Some(backup),
                    after_sha256: sha256_hex(b"after"),
                },
            )
            .unwrap();
        fsutil::write_atomic(&config, b"after", 0o600).unwrap();
        journal.commit(id).unwrap();
        let id = journal
            .intent(
                run,
                now,
                "gcm-tenant-cache",
                Change::FileDeleted {
                    path: paths.local_data.join("x"),
                },
            )
            .unwrap();
        journal.commit(id).unwrap();

        let reports = undo(&paths, &journal, now).unwrap();
        assert_eq!(std::fs::read(&config).unwrap(), b"before");
        let ids: Vec<&str> = reports.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["gcm-tenant-cache", "remotes"]);
        assert_eq!(reports[0].summary, "nothing reversible was changed");
        assert_eq!(reports[1].status, Status::Done);

        assert!(
            undo(&paths, &journal, now).unwrap().is_empty(),
            "a second undo has nothing left"
        );
    }
}
