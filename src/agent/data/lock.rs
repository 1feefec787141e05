//! The per-user run lock: one agent changes things at a time.
//!
//! An operating-system file lock on `run.lock` in the agent's data folder. The OS releases it
//! when the process ends, however it ends, so a killed run never leaves a stale lock behind.

use std::fs::{self, File, OpenOptions};

use crate::agent::fsutil;
use std::io;
use std::path::{Path, PathBuf};

use fs4::fs_std::FileExt;

/// Held while a run, plan or undo is in progress; released on drop.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    pid_file: PathBuf,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another ado-cutover is already running for this user{}",
        .pid.map(|p| format!(" (process {p})")).unwrap_or_default()
    )]
    Held { pid: Option<u32> },
    #[error("cannot create the run lock {}: {source}", .path.display())]
    Io { path: PathBuf, source: io::Error },
}

impl LockError {
    /// What to do about it.
    pub(crate) fn hint(&self) -> &'static str {
        match self {
            LockError::Held { .. } => "wait for it to finish, then run this again",
            LockError::Io { .. } => "check that this folder is writable by this user",
        }
    }
}

impl RunLock {
    /// Takes the lock in `data_dir`, or fails at once if another process holds it.
    pub fn acquire(data_dir: &Path) -> Result<RunLock, LockError> {
        let path = data_dir.join("run.lock");
        let io_err = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        fs::create_dir_all(data_dir).map_err(io_err)?;
        let file = fsutil::open_own(
            OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true),
            &path,
        )
        .map_err(io_err)?;
        // Windows locks are mandatory, so the holder's pid lives in a separate file others can read.
        let pid_file = data_dir.join("run.pid");
        match file.try_lock_exclusive() {
            Ok(true) => {}
            Ok(false) => {
                return Err(LockError::Held {
                    pid: read_pid(&pid_file),
                });
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                return Err(LockError::Held {
                    pid: read_pid(&pid_file),
                });
            }
            Err(err) => return Err(io_err(err)),
        }
        // Best effort: the pid only makes the message friendlier. Never through a link.
        let _ = fsutil::open_own(
            OpenOptions::new().create(true).write(true).truncate(true),
            &pid_file,
        )
        .and_then(|mut f| {
            std::io::Write::write_all(&mut f, std::process::id().to_string().as_bytes())
        });
        Ok(RunLock {
            _file: file,
            pid_file,
        })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.pid_file);
    }
}

fn read_pid(path: &Path) -> Option<u32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_fails_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path()).unwrap();
        let err = RunLock::acquire(dir.path()).unwrap_err();
        assert!(
            matches!(err, LockError::Held { pid: Some(p) } if p == std::process::id()),
            "{err:?}"
        );
        assert!(err.hint().contains("wait for it to finish"), "{err}");
        drop(first);
        RunLock::acquire(dir.path()).unwrap();
    }
}
