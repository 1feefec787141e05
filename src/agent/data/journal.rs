//! The journal: every change the agent makes, written down before it is made, so `undo` can
//! restore what is reversible and a run killed halfway is understood by the next one.
//!
//! It is an append-only JSON-lines file in the agent's data folder, private to the user. Each
//! change is recorded as an intent before it happens and confirmed after. Reversible changes
//! keep the previous content in `backups/`; deleted secrets are never backed up (that would
//! defeat deleting them), so their entries only say what was deleted.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::agent::fsutil;

/// One change, as the journal records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub(crate) enum Change {
    /// A file was deleted for good.
    FileDeleted { path: PathBuf },
    /// Entries were deleted for good from a store (cookies from a browser's cookie store).
    EntriesDeleted { path: PathBuf, what: String },
    /// A key in a repository's own git configuration was changed; `undo` sets `before` back as
    /// long as the key still holds `after`. Never used when `before` holds a secret.
    GitConfigSet {
        repo: PathBuf,
        key: String,
        before: String,
        after: String,
    },
    /// A key was removed from a git configuration file (`~/.gitconfig`); `undo` sets it back
    /// as long as nobody set it again.
    GitConfigUnset {
        file: PathBuf,
        key: String,
        before: String,
    },
    /// A new SSH key pair was made. Never removed by `undo`: a key may be in use by then.
    KeyCreated { path: PathBuf, fingerprint: String },
    /// An SSH key was registered with Azure DevOps. `undo` cannot sign in to take it back; it
    /// says where to remove it.
    KeyRegistered {
        path: PathBuf,
        org: String,
        fingerprint: String,
    },
    /// A personal access token was created (its value is never recorded). `undo` says where
    /// to revoke it.
    TokenCreated { path: PathBuf, org: String },
    /// A new token was saved for git in the OS credential store (`path` is the URL it is for;
    /// the value is never recorded). `undo` leaves it, and says where to remove it.
    CredentialSaved { path: PathBuf, org: String },
    /// A file was replaced (or created, when `backup` is `None`); `undo` puts the old content
    /// back as long as nobody changed the file since.
    FileWritten {
        path: PathBuf,
        backup: Option<String>,
        after_sha256: String,
    },
    /// A registry key (under `HKEY_CURRENT_USER`) was moved whole from `from` to `to`; `undo`
    /// moves it back as long as nothing took its old place.
    RegistryKeyMoved { from: String, to: String },
}

impl Change {
    /// True when `undo` can restore it.
    pub(crate) fn is_reversible(&self) -> bool {
        matches!(
            self,
            Change::FileWritten { .. }
                | Change::GitConfigSet { .. }
                | Change::GitConfigUnset { .. }
                | Change::RegistryKeyMoved { .. }
        )
    }

    /// The path the change is about.
    pub(crate) fn path(&self) -> &Path {
        match self {
            Change::RegistryKeyMoved { from, .. } => Path::new(from.as_str()),
            Change::FileDeleted { path }
            | Change::EntriesDeleted { path, .. }
            | Change::FileWritten { path, .. }
            | Change::KeyCreated { path, .. }
            | Change::KeyRegistered { path, .. }
            | Change::TokenCreated { path, .. }
            | Change::CredentialSaved { path, .. } => path,
            Change::GitConfigSet { repo, .. } => repo,
            Change::GitConfigUnset { file, .. } => file,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "kebab-case")]
enum Record {
    Intent {
        id: Uuid,
        run_id: Uuid,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
        task: String,
        change: Change,
    },
    Committed {
        id: Uuid,
    },
    /// `undo` has dealt with the change: restored it, or told the user it cannot be restored.
    Settled {
        id: Uuid,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
        restored: bool,
    },
}

/// A change read back from the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub id: Uuid,
    pub run_id: Uuid,
    pub task: String,
    pub change: Change,
    /// Confirmed after it happened. An unconfirmed intent comes from a run that was killed.
    pub committed: bool,
    /// An earlier `undo` dealt with it.
    pub settled: bool,
}

/// What undoing one entry did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UndoResult {
    Restored,
    /// Created by the agent and removed again.
    Removed,
    /// The run was killed before the change happened; nothing to restore.
    NeverHappened,
    /// Changed by someone else since; left as it is.
    Conflict(String),
    Failed(String),
}

/// The journal file and its backups folder.
#[derive(Debug, Clone)]
pub(crate) struct Journal {
    dir: PathBuf,
}

impl Journal {
    /// The journal kept in `data_dir`.
    pub(crate) fn new(data_dir: &Path) -> Journal {
        Journal {
            dir: data_dir.to_path_buf(),
        }
    }

    fn file(&self) -> PathBuf {
        self.dir.join("journal.jsonl")
    }

    fn backups(&self) -> PathBuf {
        self.dir.join("backups")
    }

    fn append(&self, record: &Record) -> io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut file = fsutil::open_append_private(&self.file())?;
        file.write_all(&line)?;
        file.sync_data()
    }

    /// Records the intent to make `change`; call [`Journal::commit`] once it is made.
    pub(crate) fn intent(
        &self,
        run_id: Uuid,
        at: OffsetDateTime,
        task: &str,
        change: Change,
    ) -> io::Result<Uuid> {
        let id = Uuid::new_v4();
        self.append(&Record::Intent {
            id,
            run_id,
            at,
            task: task.to_string(),
            change,
        })?;
        Ok(id)
    }

    /// Confirms that the change `id` was made.
    pub(crate) fn commit(&self, id: Uuid) -> io::Result<()> {
        self.append(&Record::Committed { id })
    }

    /// Keeps `contents` as the backup of a file about to be replaced; returns its name.
    pub(crate) fn backup(&self, contents: &[u8]) -> io::Result<String> {
        let name = Uuid::new_v4().to_string();
        fsutil::write_atomic(&self.backups().join(&name), contents, 0o600)?;
        Ok(name)
    }

    /// Every change recorded, oldest first. A torn last line (a crash mid-append) is skipped.
    pub(crate) fn entries(&self) -> io::Result<Vec<Entry>> {
        let file = match fs::File::open(self.file()) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(err),
        };
        let mut entries = Vec::new();
        let mut index = HashMap::new();
        let mut committed = HashSet::new();
        let mut settled = HashSet::new();
        for line in io::BufReader::new(file).lines() {
            let Ok(record) = serde_json::from_str::<Record>(&line?) else {
                continue;
            };
            match record {
                Record::Intent {
                    id,
                    run_id,
                    task,
                    change,
                    ..
                } => {
                    index.insert(id, entries.len());
                    entries.push(Entry {
                        id,
                        run_id,
                        task,
                        change,
                        committed: false,
                        settled: false,
                    });
                }
                Record::Committed { id } => {
                    committed.insert(id);
                }
                Record::Settled { id, .. } => {
                    settled.insert(id);
                }
            }
        }
        for entry in &mut entries {
            entry.committed = committed.contains(&entry.id);
            entry.settled = settled.contains(&entry.id);
        }
        Ok(entries)
    }

    /// Records that `undo` told the user an irreversible change cannot be restored, so it is not
    /// listed again.
    pub(crate) fn settle_irreversible(&self, entry: &Entry, at: OffsetDateTime) -> io::Result<()> {
        self.append(&Record::Settled {
            id: entry.id,
            at,
            restored: false,
        })
    }

    /// Reverses one reversible entry and records that it was settled (unless it conflicted or
    /// failed, so a later `undo` can try again).
    pub(crate) fn undo(&self, entry: &Entry, at: OffsetDateTime) -> UndoResult {
        let result = match &entry.change {
            Change::FileWritten {
                path,
                backup,
                after_sha256,
            } => self.undo_file(entry.committed, path, backup.as_deref(), after_sha256),
            Change::GitConfigSet {
                repo,
                key,
                before,
                after,
            } => undo_git_config(entry.committed, repo, key, before, after),
            Change::GitConfigUnset { file, key, before } => {
                match crate::agent::repos::gitconfig::get_in_file(file, key) {
                    Ok(None) => {
                        match crate::agent::repos::gitconfig::set_in_file(file, key, before) {
                            Ok(()) => UndoResult::Restored,
                            Err(err) => UndoResult::Failed(err),
                        }
                    }
                    Ok(Some(current)) if current == *before && !entry.committed => {
                        UndoResult::NeverHappened
                    }
                    Ok(Some(_)) => UndoResult::Conflict(format!(
                        "{key} was set again after ado-cutover removed it; left as it is"
                    )),
                    Err(err) => UndoResult::Failed(err),
                }
            }
            Change::RegistryKeyMoved { from, to } => {
                if crate::agent::platform::user_key_exists(from) {
                    UndoResult::Conflict(format!(
                        r"HKCU\{from} was made again after ado-cutover moved it aside; the old one stays at HKCU\{to}"
                    ))
                } else {
                    match crate::agent::platform::move_user_key(to, from) {
                        Ok(true) => UndoResult::Restored,
                        Ok(false) if !entry.committed => UndoResult::NeverHappened,
                        Ok(false) => {
                            UndoResult::Conflict(format!(r"HKCU\{to} is gone; nothing to put back"))
                        }
                        Err(err) => UndoResult::Failed(err),
                    }
                }
            }
            _ => return UndoResult::Failed("this change cannot be undone".into()),
        };
        if matches!(
            result,
            UndoResult::Restored | UndoResult::Removed | UndoResult::NeverHappened
        ) {
            let record = Record::Settled {
                id: entry.id,
                at,
                restored: result != UndoResult::NeverHappened,
            };
            if let Err(err) = self.append(&record) {
                return UndoResult::Failed(format!(
                    "restored, but the journal could not be updated: {err}"
                ));
            }
        }
        result
    }

    fn undo_file(
        &self,
        committed: bool,
        path: &Path,
        backup: Option<&str>,
        after_sha256: &str,
    ) -> UndoResult {
        let current = match fs::read(path) {
            Ok(bytes) => Some(bytes),
            Err(err) if err.kind() == io::ErrorKind::NotFound => None,
            Err(err) => return UndoResult::Failed(format!("cannot read it: {err}")),
        };
        let matches_after = current.as_deref().map(sha256_hex).as_deref() == Some(after_sha256);
        if !matches_after {
            return if committed {
                UndoResult::Conflict(
                    "it was changed after ado-cutover wrote it; left as it is".into(),
                )
            } else {
                UndoResult::NeverHappened
            };
        }
        let restored = match backup {
            Some(name) => fs::read(self.backups().join(name))
                .and_then(|old| fsutil::write_atomic(path, &old, 0o600))
                .map(|()| UndoResult::Restored),
            None => fsutil::delete_file(path).map(|_| UndoResult::Removed),
        };
        restored.unwrap_or_else(|err| UndoResult::Failed(err.to_string()))
    }
}

fn undo_git_config(
    committed: bool,
    repo: &Path,
    key: &str,
    before: &str,
    after: &str,
) -> UndoResult {
    match crate::agent::repos::gitconfig::get(repo, key) {
        Ok(Some(current)) if current == after => {
            match crate::agent::repos::gitconfig::set(repo, key, before) {
                Ok(()) => UndoResult::Restored,
                Err(err) => UndoResult::Failed(err),
            }
        }
        Ok(Some(current)) if current == before && !committed => UndoResult::NeverHappened,
        Ok(_) => UndoResult::Conflict(format!(
            "{key} was changed after ado-cutover set it; left as it is"
        )),
        Err(err) => UndoResult::Failed(err),
    }
}

/// The SHA-256 of `bytes`, in lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH
    }

    fn written(
        journal: &Journal,
        path: &Path,
        old: Option<&[u8]>,
        new: &[u8],
        commit: bool,
    ) -> Entry {
        let backup = old.map(|old| journal.backup(old).unwrap());
        let id = journal
            .intent(
                Uuid::new_v4(),
                now(),
                "test",
                Change::FileWritten {
                    path: path.to_path_buf(),
                    backup,
                    after_sha256: sha256_hex(new),
                },
            )
            .unwrap();
        fsutil::write_atomic(path, new, 0o600).unwrap();
        if commit {
            journal.commit(id).unwrap();
        }
        journal
            .entries()
            .unwrap()
            .into_iter()
            .find(|e| e.id == id)
            .unwrap()
    }

    #[test]
    fn undo_restores_the_previous_content_once() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(&dir.path().join("data"));
        let path = dir.path().join("config");
        fs::write(&path, b"old").unwrap();
        let entry = written(&journal, &path, Some(b"old"), b"new", true);
        assert!(entry.committed && !entry.settled);
        assert_eq!(journal.undo(&entry, now()), UndoResult::Restored);
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert!(journal.entries().unwrap()[0].settled);
    }

    #[test]
    fn undo_removes_a_file_the_agent_created() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path());
        let path = dir.path().join("created");
        let entry = written(&journal, &path, None, b"new", true);
        assert_eq!(journal.undo(&entry, now()), UndoResult::Removed);
        assert!(!path.exists());
    }

    #[test]
    fn undo_leaves_a_file_changed_since_alone() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path());
        let path = dir.path().join("config");
        fs::write(&path, b"old").unwrap();
        let entry = written(&journal, &path, Some(b"old"), b"new", true);
        fs::write(&path, b"edited by the user").unwrap();
        assert!(matches!(
            journal.undo(&entry, now()),
            UndoResult::Conflict(_)
        ));
        assert_eq!(fs::read(&path).unwrap(), b"edited by the user");
        assert!(
            !journal.entries().unwrap()[0].settled,
            "a later undo may try again"
        );
    }

    #[test]
    fn an_intent_from_a_killed_run_is_understood() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path());
        let path = dir.path().join("config");
        fs::write(&path, b"old").unwrap();
        // Killed after the write but before the commit: the write is recognised and undone.
        let entry = written(&journal, &path, Some(b"old"), b"new", false);
        assert!(!entry.committed);
        assert_eq!(journal.undo(&entry, now()), UndoResult::Restored);
        // Killed before the write: nothing to restore, and the file is untouched.
        let id = journal
            .intent(
                Uuid::new_v4(),
                now(),
                "test",
                Change::FileWritten {
                    path: path.clone(),
                    backup: Some(journal.backup(b"old").unwrap()),
                    after_sha256: sha256_hex(b"never written"),
                },
            )
            .unwrap();
        let entry = journal
            .entries()
            .unwrap()
            .into_iter()
            .find(|e| e.id == id)
            .unwrap();
        assert_eq!(journal.undo(&entry, now()), UndoResult::NeverHappened);
        assert_eq!(fs::read(&path).unwrap(), b"old");
    }

    #[test]
    fn a_torn_last_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path());
        journal
            .intent(
                Uuid::new_v4(),
                now(),
                "t",
                Change::FileDeleted { path: "x".into() },
            )
            .unwrap();
        let mut file = fsutil::open_append_private(&journal.file()).unwrap();
        file.write_all(b"{\"record\":\"intent\",\"id\":").unwrap();
        let entries = journal.entries().unwrap();
        assert_eq!(entries.len(), 1);
        assert!(!entries[0].change.is_reversible());
    }
}
