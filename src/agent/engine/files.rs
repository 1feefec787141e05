//! The file, store and configuration effects: deleting a file, removing credential lines,
//! replacing a text file, changing git configuration, deleting a secret or cookies. Each passes
//! the path guard, is journaled before it happens, and reports what became of its finding.

use std::path::{Path, PathBuf};

use super::guard::{self, Expect};
use super::{Step, item};
use crate::agent::browsers::Family;
use crate::agent::browsers::cookies::{self, Scope};
use crate::agent::browsers::running::Processes;
use crate::agent::browsers::{Profile, site_data};
use crate::agent::data::journal::{Change, sha256_hex};
use crate::agent::fsutil;
use crate::agent::msal::{self, place::Place};
use crate::agent::repos::gitconfig;
use crate::agent::secrets;
use crate::agent::tasks::Finding;
use crate::report::{Item, Status};

/// Deletes a regular file.
pub(super) fn delete(step: &Step<'_, '_>, finding: &Finding, path: &Path) -> Item {
    if let Err(why) = guard::check(step.cx, path, Expect::File) {
        return refused(finding, why);
    }
    let change = Change::FileDeleted {
        path: path.to_path_buf(),
    };
    let result = step.journaled(change, || fsutil::delete_file(path).map(usize::from));
    gone(finding, result, "deleted", "delete")
}

/// The OS credential store for an action on one of its items, or the item that says why
/// there is none (not in use: skipped; unusable: failed, "could not `verb` it").
fn open_store<'s>(
    step: &'s Step<'_, '_>,
    finding: &Finding,
    verb: &str,
) -> Result<&'s secrets::Store, Item> {
    match step.cx.secret_store() {
        Ok(Some(store)) => Ok(store),
        Ok(None) => Err(item(
            finding,
            Status::Skipped,
            "the OS credential store is not in use".into(),
        )),
        Err(why) => Err(item(
            finding,
            Status::Failed,
            format!("could not {verb} it: {why}"),
        )),
    }
}

/// Deletes an item from the OS credential store.
pub(super) fn delete_secret(
    step: &Step<'_, '_>,
    finding: &Finding,
    secret: &secrets::Item,
) -> Item {
    let store = match open_store(step, finding, "delete") {
        Ok(store) => store,
        Err(item) => return item,
    };
    let change = Change::EntriesDeleted {
        path: PathBuf::from(secrets::Store::NAME),
        what: format!("the credential {}", finding.target),
    };
    let result = step.journaled(change, || {
        store.delete(secret).map_err(std::io::Error::other)
    });
    gone(finding, result, "deleted", "delete")
}

/// Removes the selected accounts' entries from an MSAL token cache, under MSAL's lock, written
/// back as it was kept; journaled as gone for good (the tokens are never copied).
pub(super) fn remove_msal_accounts(
    step: &Step<'_, '_>,
    finding: &Finding,
    place: &Place,
    selection: &msal::Selection,
) -> Item {
    let store = match place {
        Place::File { path, .. } => {
            if let Err(why) = guard::check(step.cx, path, Expect::File) {
                return refused(finding, why);
            }
            None
        }
        Place::Secret { .. } => match open_store(step, finding, "change") {
            Ok(store) => Some(store),
            Err(item) => return item,
        },
    };
    let change = Change::EntriesDeleted {
        path: match place {
            Place::File { path, .. } => path.clone(),
            Place::Secret { .. } => PathBuf::from(secrets::Store::NAME),
        },
        what: format!("old accounts' sign-ins in {}", finding.target),
    };
    let result = step.journaled(change, || {
        place
            .rewrite(store, |json| {
                msal::rewrite(json, selection)
                    .map(|new| new.map(|(bytes, removed)| (bytes, removed.entries)))
                    .map_err(|e| e.to_string())
            })
            .map(Option::unwrap_or_default)
            .map_err(std::io::Error::other)
    });
    gone(finding, result, "removed", "remove")
}

/// Deletes one macOS keychain internet password with `security delete-internet-password`,
/// named by every attribute it has.
pub(super) fn delete_internet_password(
    step: &Step<'_, '_>,
    finding: &Finding,
    inet: &crate::agent::tasks::credentials::InetItem,
) -> Item {
    let change = Change::EntriesDeleted {
        path: inet.keychain.clone(),
        what: format!("the internet password {}", finding.target),
    };
    let result = step.journaled(change, || {
        let status = std::process::Command::new("security")
            .args(inet.delete_args())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()?;
        // 44 is errSecItemNotFound: already gone.
        match status.code() {
            Some(0) => Ok(1),
            Some(44) => Ok(0),
            _ => Err(std::io::Error::other(format!(
                "security stopped with {status}"
            ))),
        }
    });
    gone(finding, result, "deleted", "delete")
}

/// Moves a registry key aside, journaled so `undo` moves it back.
pub(super) fn move_registry_key(
    step: &Step<'_, '_>,
    finding: &Finding,
    from: &str,
    to: &str,
) -> Item {
    let change = Change::RegistryKeyMoved {
        from: from.to_string(),
        to: to.to_string(),
    };
    let result = step.journaled(change, || {
        crate::agent::platform::move_user_key(from, to)
            .map(usize::from)
            .map_err(std::io::Error::other)
    });
    gone(finding, result, "moved aside", "move")
}

/// Erases what git's credential-cache daemon holds for exactly `url`
/// (`git credential-cache erase`), journaled as gone for good.
pub(super) fn erase_cached(
    step: &Step<'_, '_>,
    finding: &Finding,
    socket: Option<&PathBuf>,
    url: &str,
) -> Item {
    let Some(input) = crate::agent::tasks::credentials::erase_request(url) else {
        return item(
            finding,
            Status::Failed,
            "not an address git can erase".into(),
        );
    };
    let change = Change::EntriesDeleted {
        path: PathBuf::from("git credential-cache"),
        what: format!("the credential it held for {url}"),
    };
    let result = step.journaled(change, || {
        let mut child = crate::agent::tasks::credentials::cache_helper(step.cx, socket, "erase")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write as _;
            stdin.write_all(input.as_bytes())?;
        }
        let status = child.wait()?;
        if status.success() {
            Ok(1)
        } else {
            Err(std::io::Error::other(format!(
                "git credential-cache stopped with {status}"
            )))
        }
    });
    gone(finding, result, "erased", "erase")
}

/// Deletes the Azure DevOps origins' site data in one browser profile, if its browser is
/// still closed.
pub(super) fn delete_site_data(
    step: &Step<'_, '_>,
    finding: &Finding,
    profile: &Profile,
    expected: usize,
) -> Item {
    if let Err(why) = guard::check(step.cx, &profile.dir, Expect::Folder) {
        return refused(finding, why);
    }
    // The plan saw it closed; a browser started since holds the data open.
    if let Some(why) = Processes::snapshot().holding(profile, &step.cx.paths.home) {
        return item(
            finding,
            Status::NeedsUser,
            format!(
                "{why}; close {} completely, then run ado-cutover again",
                profile.browser.name
            ),
        );
    }
    let change = Change::EntriesDeleted {
        path: profile.dir.clone(),
        what: "Azure DevOps site data".into(),
    };
    let result = step.journaled(change, || {
        site_data::delete(&profile.dir, profile.browser.family).map_err(std::io::Error::other)
    });
    match result {
        Ok(n) if n == expected || n == 0 => gone(finding, Ok(n), "deleted", "delete"),
        Ok(n) => item(
            finding,
            Status::Done,
            format!(
                "deleted the data of {n} sites (the plan counted {expected}): {}",
                finding.detail
            ),
        ),
        Err(err) => gone(finding, Err(err), "deleted", "delete"),
    }
}

/// Deletes the Azure DevOps cookies in one browser cookie store.
pub(super) fn delete_cookies(
    step: &Step<'_, '_>,
    finding: &Finding,
    store: &Path,
    family: Family,
    scope: Scope,
    expected: usize,
) -> Item {
    if let Err(why) = guard::check(step.cx, store, Expect::File) {
        return refused(finding, why);
    }
    let change = Change::EntriesDeleted {
        path: store.to_path_buf(),
        what: "Azure DevOps cookies".into(),
    };
    let result = step.journaled(change, || {
        cookies::delete(store, family, scope).map_err(|e| std::io::Error::other(e.to_string()))
    });
    match result {
        Ok(0) => item(
            finding,
            Status::Ok,
            "no Azure DevOps cookies were left".to_string(),
        ),
        Ok(n) if n == expected => item(
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

/// Sets a key in a repository's own git configuration.
pub(super) fn set_git_config(
    step: &Step<'_, '_>,
    finding: &Finding,
    repo: &Path,
    key: &str,
    value: &str,
    restore: Option<&String>,
) -> Item {
    if let Err(why) = guard::check(step.cx, repo, Expect::Folder) {
        return refused(finding, why);
    }
    // The file libgit2 writes: a `.git` file may point the git directory anywhere.
    let file = match gitconfig::local_file(repo) {
        Ok(file) => file,
        Err(why) => return item(finding, Status::Failed, format!("could not open it: {why}")),
    };
    if let Err(why) = guard::check(step.cx, &file, Expect::File) {
        return refused(finding, why);
    }
    let change = match restore {
        Some(before) => Change::GitConfigSet {
            repo: repo.to_path_buf(),
            key: key.to_string(),
            before: before.clone(),
            after: value.to_string(),
        },
        None => Change::EntriesDeleted {
            path: repo.to_path_buf(),
            what: format!("the credentials in {key}"),
        },
    };
    config_change(step, finding, &file, change, || {
        gitconfig::set(repo, key, value)
    })
}

/// Removes a key from a git configuration file.
pub(super) fn unset_git_config(
    step: &Step<'_, '_>,
    finding: &Finding,
    file: &Path,
    key: &str,
    restore: &str,
) -> Item {
    if let Err(why) = guard::check(step.cx, file, Expect::File) {
        return refused(finding, why);
    }
    let change = Change::GitConfigUnset {
        file: file.to_path_buf(),
        key: key.to_string(),
        before: restore.to_string(),
    };
    config_change(step, finding, file, change, || {
        gitconfig::unset_in_file(file, key)
    })
}

/// Removes exact lines from a credential-store file, if it is still as planned (or as this
/// run's own writes left it).
pub(super) fn remove_lines(
    step: &Step<'_, '_>,
    finding: &Finding,
    file: &Path,
    lines: &[String],
    expected_sha256: &str,
) -> Item {
    if let Err(why) = guard::check(step.cx, file, Expect::File) {
        return refused(finding, why);
    }
    let change = Change::EntriesDeleted {
        path: file.to_path_buf(),
        what: "stored Azure DevOps credentials".into(),
    };
    let planned = Some(expected_sha256.to_string());
    let versions = &step.memory.versions;
    let result = step.journaled(change, || {
        let still_planned = |now: &str| versions.accepts(file, &planned, &Some(now.to_string()));
        let removed = fsutil::remove_lines(file, lines, &still_planned)?;
        versions.record(
            file,
            Some(removed.before_sha256),
            Some(removed.after_sha256),
        );
        Ok(removed.count)
    });
    gone(finding, result, "removed", "remove")
}

/// Replaces a text file if it is still as planned, keeping the old content for `undo`.
pub(super) fn write_file(
    step: &Step<'_, '_>,
    finding: &Finding,
    path: &Path,
    contents: &str,
    expected_sha256: Option<&str>,
) -> Item {
    if let Err(why) = guard::check(step.cx, path, Expect::File) {
        return refused(finding, why);
    }
    let current = match fsutil::read_capped(path) {
        Ok(bytes) => Some(bytes),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => {
            return item(finding, Status::Failed, format!("could not read it: {err}"));
        }
    };
    let current_sha = current.as_deref().map(sha256_hex);
    let versions = &step.memory.versions;
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
            .map(|old| step.journal.backup(old))
            .transpose()?;
        let change = Change::FileWritten {
            path: path.to_path_buf(),
            backup,
            after_sha256: sha256_hex(contents.as_bytes()),
        };
        step.journaled(change, || {
            fsutil::write_atomic(path, contents.as_bytes(), 0o600)?;
            versions.record(path, current_sha, Some(sha256_hex(contents.as_bytes())));
            Ok(1)
        })
    })();
    changed(finding, result)
}

/// The item for a change the path guard refused: the person's to make, if it is right (a
/// dotfile manager's link, a repository kept elsewhere), never made through the link.
fn refused(finding: &Finding, why: String) -> Item {
    item(
        finding,
        Status::NeedsUser,
        format!(
            "{why}. What ado-cutover would have done: {}; do it yourself if it is right",
            finding.detail
        ),
    )
}

/// The item for a removal: nothing was there (already gone), it went (`done`), or it could
/// not (`verb`).
fn gone(finding: &Finding, result: std::io::Result<usize>, done: &str, verb: &str) -> Item {
    match result {
        Ok(0) => item(finding, Status::Ok, "already gone".to_string()),
        Ok(_) => item(finding, Status::Done, format!("{done}: {}", finding.detail)),
        Err(err) => item(
            finding,
            Status::Failed,
            format!("could not {verb} it: {err}"),
        ),
    }
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
    step: &Step<'_, '_>,
    finding: &Finding,
    file: &Path,
    change: Change,
    make: impl FnOnce() -> Result<(), String>,
) -> Item {
    clear_stale_lock(step, file);
    let result = step.journaled(change, || make().map(|()| 1).map_err(std::io::Error::other));
    changed(finding, result)
}

/// Removes the `<file>.lock` that an earlier run of ours left when it was killed while libgit2
/// wrote `file` (libgit2, as git, writes the new file into the lock and renames it): the journal
/// holds that run's unconfirmed intent for this file, and the lock is older than this run (git
/// holds its lock for milliseconds while it writes). Left, it would lock the file for git and
/// for every later run; removed, the file is as it was before that write, which this run makes
/// again. Any other lock is git's or another program's, and stays.
fn clear_stale_lock(step: &Step<'_, '_>, file: &Path) {
    let mut name = file.as_os_str().to_os_string();
    name.push(".lock");
    let lock = std::path::PathBuf::from(name);
    let Ok(meta) = std::fs::symlink_metadata(&lock) else {
        return;
    };
    let older = meta.modified().is_ok_and(|at| at < step.started);
    if !meta.is_file() || !older {
        return;
    }
    let names_file = |change: &Change| match change {
        Change::GitConfigUnset { file: f, .. } => f == file,
        Change::GitConfigSet { repo, .. } | Change::EntriesDeleted { path: repo, .. } => {
            repo.is_dir() && gitconfig::local_file(repo).is_ok_and(|f| f == file)
        }
        _ => false,
    };
    let interrupted = step.journal.entries().is_ok_and(|entries| {
        entries
            .iter()
            .any(|e| !e.committed && !e.settled && e.run_id != step.run_id && names_file(&e.change))
    });
    if interrupted {
        let _ = std::fs::remove_file(&lock);
    }
}
