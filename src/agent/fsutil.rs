//! File primitives every write goes through: atomic replacement, no following of symbolic links,
//! private permissions for the agent's own state.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Replaces `path` with `contents` atomically: written to a temporary file in the same folder,
/// flushed to disk, then renamed over the old file. A crash leaves the old or the new file,
/// never half of one. An existing file's permissions are kept; a new file gets `new_mode`
/// (Unix permission bits; ignored elsewhere). A symbolic link at `path` is refused, not followed.
pub(super) fn write_atomic(path: &Path, contents: &[u8], new_mode: u32) -> io::Result<()> {
    let existing = match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(io::Error::other(format!(
                "{} is a symbolic link; it is left alone rather than followed",
                path.display()
            )));
        }
        Ok(meta) if !meta.is_file() => {
            return Err(io::Error::other(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        Ok(meta) => Some(meta.permissions()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => None,
        Err(err) => return Err(err),
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMPORARY_PREFIX)
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    match existing {
        Some(permissions) => fs::set_permissions(tmp.path(), permissions)?,
        None => set_mode(tmp.path(), new_mode)?,
    }
    tmp.persist(path).map_err(|err| err.error)?;
    Ok(())
}

/// The name every temporary file of [`write_atomic`] and [`create_new`] starts with.
const TEMPORARY_PREFIX: &str = ".ado-cutover-";

/// Removes the temporary files a killed run left in `dir` (a run killed between writing its
/// temporary file and renaming it leaves one, which may hold a copy of what it was writing).
/// Only regular files named as this agent names them are removed; links and anything else stay.
/// Call it only under the run lock, when no other agent can be writing in `dir`.
pub(crate) fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(TEMPORARY_PREFIX)
            && name.ends_with(".tmp")
            && entry.file_type().is_ok_and(|t| t.is_file())
        {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The most the agent reads of any one file it looks at (a credential store, a cache, an SSH
/// or npm configuration): no real one comes near it, and a damaged or hostile one (a sparse
/// file of gigabytes) must not take the machine's memory.
pub(crate) const MAX_READ: u64 = 16 * 1024 * 1024;

/// Reads a whole file of at most [`MAX_READ`] bytes; a larger one is an error that says so,
/// and nothing beyond the limit is read.
pub(crate) fn read_capped(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let file = File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_READ + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_READ {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!(
                "it is larger than {} MiB, which no real one is, so it was not read",
                MAX_READ / (1024 * 1024)
            ),
        ));
    }
    Ok(bytes)
}

/// [`read_capped`] as UTF-8 text.
pub(crate) fn read_capped_text(path: &Path) -> io::Result<String> {
    String::from_utf8(read_capped(path)?).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Creates `path` with `contents`, atomically, failing with `AlreadyExists` if anything
/// (a file, a link) is there: written to a temporary file in the same folder, flushed, then
/// moved into place only while the name is still free, so nothing is ever replaced. The new
/// file gets `mode` (Unix permission bits; ignored elsewhere) before it has any content.
pub(super) fn create_new(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMPORARY_PREFIX)
        .suffix(".tmp")
        .tempfile_in(dir)?;
    set_mode(tmp.path(), mode)?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    tmp.persist_noclobber(path).map_err(|err| err.error)?;
    Ok(())
}

/// Deletes the regular file at `path`. A symbolic link or anything that is not a regular file
/// is refused. Returns `Ok(false)` when there was nothing to delete.
pub(super) fn delete_file(path: &Path) -> io::Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(io::Error::other(format!(
            "{} is a symbolic link; it is left alone rather than followed",
            path.display()
        ))),
        Ok(meta) if !meta.is_file() => Err(io::Error::other(format!(
            "{} is not a regular file",
            path.display()
        ))),
        Ok(_) => {
            fs::remove_file(path)?;
            Ok(true)
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(err),
    }
}

/// What [`remove_lines`] did: how many lines went, and the file's checksum before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Removed {
    pub count: usize,
    pub before_sha256: String,
    pub after_sha256: String,
}

/// Removes every line of `path` equal to one of `lines`, keeping all other bytes as they were
/// (line endings, a missing final newline, the file mode). Takes git's lock (`<path>.lock`,
/// created exclusively) as git's credential-store does, and refuses when the file is no longer
/// the one that was planned (`still_planned` says no to its checksum).
pub(super) fn remove_lines(
    path: &Path,
    lines: &[String],
    still_planned: &dyn Fn(&str) -> bool,
) -> io::Result<Removed> {
    let lock = take_git_lock(path)?;
    let result = (|| {
        let content = read_capped(path)?;
        let before_sha256 = crate::agent::data::journal::sha256_hex(&content);
        if !still_planned(&before_sha256) {
            return Err(io::Error::other(
                "the file changed since the plan was made; run ado-cutover again",
            ));
        }
        let mut kept = Vec::with_capacity(content.len());
        let mut count = 0;
        for piece in content.split_inclusive(|&b| b == b'\n') {
            let line = piece.strip_suffix(b"\n").unwrap_or(piece);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if lines.iter().any(|l| l.as_bytes() == line) {
                count += 1;
            } else {
                kept.extend_from_slice(piece);
            }
        }
        if count > 0 {
            write_atomic(path, &kept, 0o600)?;
        }
        Ok(Removed {
            count,
            before_sha256,
            after_sha256: crate::agent::data::journal::sha256_hex(&kept),
        })
    })();
    let _ = fs::remove_file(&lock);
    result
}

/// What the agent writes into the git lock it holds, so a later run can tell its own lock, left by
/// a run that was killed, from git's (git writes the file's new content into its lock).
const GIT_LOCK_MARK: &[u8] = b"ado-cutover is removing lines from this file\n";

/// Takes git's lock on `path` (`<path>.lock`, made whole with [`create_new`], so it never exists
/// without the mark). A lock with the agent's mark was left by a killed run, since the engine
/// runs under the run lock: it is taken over, where leaving it would keep git's credential
/// store locked for good. Any other lock is git's or another program's, and is respected.
fn take_git_lock(path: &Path) -> io::Result<std::path::PathBuf> {
    let mut lock_name = path.as_os_str().to_os_string();
    lock_name.push(".lock");
    let lock = std::path::PathBuf::from(lock_name);
    let locked = |err: io::Error| {
        io::Error::other(format!(
            "{} is locked by another program ({err}); try again when git is done",
            path.display()
        ))
    };
    match create_new(&lock, GIT_LOCK_MARK, 0o600) {
        Ok(()) => Ok(lock),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
            let ours = fs::symlink_metadata(&lock).is_ok_and(|m| m.is_file())
                && read_capped(&lock).is_ok_and(|content| content == GIT_LOCK_MARK);
            if !ours {
                return Err(locked(err));
            }
            fs::remove_file(&lock)?;
            create_new(&lock, GIT_LOCK_MARK, 0o600).map_err(locked)?;
            Ok(lock)
        }
        Err(err) => Err(locked(err)),
    }
}

/// Opens `path` for appending, creating it (and its folder) private to this user.
pub(super) fn open_append_private(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    open_own(&mut options, path)
}

/// Opens one of the agent's own files (created 0600) without following a symbolic link: a link
/// planted in the agent's folder is refused, never written through. On Unix the kernel refuses
/// it (`O_NOFOLLOW`); elsewhere a link is refused before the open.
pub(crate) fn open_own(options: &mut OpenOptions, path: &Path) -> io::Result<File> {
    if fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_symlink()) {
        return Err(link_refused(path));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path).map_err(|err| {
        // O_NOFOLLOW on a link that appeared meanwhile: ELOOP.
        #[cfg(unix)]
        let looped = err.raw_os_error() == Some(libc::ELOOP);
        #[cfg(not(unix))]
        let looped = false;
        if looped { link_refused(path) } else { err }
    })
}

fn link_refused(path: &Path) -> io::Error {
    io::Error::other(format!(
        "{} is a symbolic link; ado-cutover does not write through links",
        path.display()
    ))
}

/// Sets Unix permission bits; nothing elsewhere.
pub(super) fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("file");
        write_atomic(&path, b"one", 0o600).unwrap();
        write_atomic(&path, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("file")]);
    }

    #[cfg(unix)]
    #[test]
    fn atomic_write_keeps_existing_mode_and_sets_new_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let existing = dir.path().join("existing");
        fs::write(&existing, b"x").unwrap();
        fs::set_permissions(&existing, fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&existing, b"y", 0o600).unwrap();
        let mode = fs::metadata(&existing).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let new = dir.path().join("new");
        write_atomic(&new, b"y", 0o600).unwrap();
        assert_eq!(
            fs::metadata(&new).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[cfg(unix)]
    #[test]
    fn symbolic_links_are_refused_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        fs::write(&target, b"precious").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(write_atomic(&link, b"overwritten", 0o600).is_err());
        assert!(delete_file(&link).is_err());
        assert_eq!(fs::read(&target).unwrap(), b"precious");
        assert!(fs::symlink_metadata(&link).is_ok());
    }

    #[test]
    fn remove_lines_keeps_everything_else_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".git-credentials");
        let content =
            b"https://a:x@github.com\r\nhttps://b:y@dev.azure.com/contoso\nlast-without-newline";
        fs::write(&path, content).unwrap();
        let sha = crate::agent::data::journal::sha256_hex(content);
        let line = ["https://b:y@dev.azure.com/contoso".to_string()];
        let wrong = remove_lines(&path, &line, &|s| s == "stale");
        assert!(wrong.is_err());
        assert_eq!(
            fs::read(&path).unwrap(),
            content,
            "a refused file is untouched"
        );
        let removed = remove_lines(&path, &line, &|s| s == sha).unwrap();
        assert_eq!(removed.count, 1);
        assert_eq!(removed.before_sha256, sha);
        assert_eq!(
            fs::read(&path).unwrap(),
            b"https://a:x@github.com\r\nlast-without-newline"
        );
        assert_eq!(
            removed.after_sha256,
            crate::agent::data::journal::sha256_hex(&fs::read(&path).unwrap())
        );
        assert!(!dir.path().join(".git-credentials.lock").exists());
    }

    #[test]
    fn remove_lines_respects_git_s_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".git-credentials");
        fs::write(&path, b"x\n").unwrap();
        fs::write(dir.path().join(".git-credentials.lock"), b"").unwrap();
        let sha = crate::agent::data::journal::sha256_hex(b"x\n");
        let err = remove_lines(&path, &["x".into()], &|s| s == sha).unwrap_err();
        assert!(err.to_string().contains("locked"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"x\n");
    }

    #[test]
    fn a_lock_a_killed_run_left_is_taken_over_and_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".git-credentials");
        let lock = dir.path().join(".git-credentials.lock");
        fs::write(&path, b"x\ny\n").unwrap();
        fs::write(&lock, GIT_LOCK_MARK).unwrap();
        let sha = crate::agent::data::journal::sha256_hex(b"x\ny\n");
        let removed = remove_lines(&path, &["x".into()], &|s| s == sha).unwrap();
        assert_eq!(removed.count, 1);
        assert_eq!(fs::read(&path).unwrap(), b"y\n");
        assert!(!lock.exists(), "released");
        // A lock holding anything else (git writes the new content into it) is git's.
        fs::write(&lock, b"https://u:p@example.com\n").unwrap();
        let sha = crate::agent::data::journal::sha256_hex(b"y\n");
        let err = remove_lines(&path, &["y".into()], &|s| s == sha).unwrap_err();
        assert!(err.to_string().contains("locked"), "{err}");
        assert_eq!(fs::read(&lock).unwrap(), b"https://u:p@example.com\n");
    }

    #[cfg(unix)]
    #[test]
    fn the_agent_s_own_files_are_never_opened_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::write(&outside, b"keep").unwrap();
        let link = dir.path().join("journal.jsonl");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        let err = open_append_private(&link).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(fs::read(&outside).unwrap(), b"keep");
        // A dangling link is not created through either.
        let dangling = dir.path().join("run.pid");
        std::os::unix::fs::symlink(dir.path().join("made-elsewhere"), &dangling).unwrap();
        assert!(open_own(OpenOptions::new().create(true).write(true), &dangling).is_err());
        assert!(!dir.path().join("made-elsewhere").exists());
    }

    #[test]
    fn a_file_over_the_read_limit_is_refused_without_being_read() {
        let dir = tempfile::tempdir().unwrap();
        let sparse = dir.path().join("tenant.cache");
        // Two gigabytes that take no disk: reading it whole would take the memory.
        File::create(&sparse)
            .unwrap()
            .set_len(2 * 1024 * 1024 * 1024)
            .unwrap();
        let err = read_capped(&sparse).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        assert!(err.to_string().contains("larger than 16 MiB"), "{err}");
        let exact = dir.path().join("exact");
        File::create(&exact).unwrap().set_len(MAX_READ).unwrap();
        assert_eq!(read_capped(&exact).unwrap().len() as u64, MAX_READ);
    }

    #[test]
    fn create_new_never_replaces_anything() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        create_new(&path, b"first", 0o600).unwrap();
        let again = create_new(&path, b"second", 0o600).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&path).unwrap(), b"first");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            let link = dir.path().join("link");
            std::os::unix::fs::symlink(dir.path().join("nowhere"), &link).unwrap();
            let err = create_new(&link, b"x", 0o600).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
            assert!(
                !dir.path().join("nowhere").exists(),
                "a dangling link is not followed"
            );
        }
        let leftovers = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".tmp")
            })
            .count();
        assert_eq!(leftovers, 0);
    }

    #[test]
    fn a_killed_run_s_temporary_files_are_swept_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join(".ado-cutover-XqTAh5.tmp");
        fs::write(&stale, "half of a config").unwrap();
        let keep = [
            ".ado-cutover-notes.txt",
            "other.tmp",
            "config",
            ".ado-cutover-",
        ];
        for name in keep {
            fs::write(dir.path().join(name), "theirs").unwrap();
        }
        fs::create_dir(dir.path().join(".ado-cutover-dir.tmp")).unwrap();
        remove_stale_temporaries(dir.path());
        assert!(!stale.exists());
        for name in keep {
            assert!(dir.path().join(name).exists(), "{name}");
        }
        assert!(dir.path().join(".ado-cutover-dir.tmp").is_dir());
        remove_stale_temporaries(&dir.path().join("missing"));
    }

    #[test]
    fn delete_reports_whether_something_was_there() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"x").unwrap();
        assert!(delete_file(&path).unwrap());
        assert!(!delete_file(&path).unwrap());
        assert!(delete_file(dir.path()).is_err(), "a folder is not deleted");
    }
}
