//! The one path guard: every action that changes a file passes it first. A path is changed only
//! when it lies inside a folder this run may change (the home folder and the platform's
//! per-user folders, the agent's own folders, the repository scan roots), it is
//! reached without following a symbolic link below that folder, and what is there is what the
//! action expects (a regular file, a folder, or nothing yet). A planted link or a configured
//! path elsewhere on the machine is refused, never followed.

use std::path::{Component, Path, PathBuf};

use crate::agent::tasks::Context;

/// What an action expects to find at its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// A regular file, or nothing (already gone is fine).
    File,
    /// A folder (a repository).
    Folder,
    /// Nothing yet: a file the action creates.
    Nothing,
}

/// The folders this run may change something in.
pub(crate) fn roots(cx: &Context<'_>) -> Vec<PathBuf> {
    let paths = cx.paths;
    let mut roots = vec![
        paths.home.clone(),
        paths.local_data.clone(),
        paths.config_home.clone(),
        paths.ssh_dir.clone(),
        paths.data_dir.clone(),
        paths.log_dir.clone(),
    ];
    roots.extend(cx.scan_roots());
    roots
}

/// Checks `path` before an action changes it; the error says why it was left alone. When the
/// action may go ahead and writes a file, the temporary files a killed run left beside it are
/// removed first (the engine runs under the run lock, so no other agent is writing there).
pub(crate) fn check(cx: &Context<'_>, path: &Path, expect: Expect) -> Result<(), String> {
    check_in(&roots(cx), path, expect).map_err(|why| format!("left alone: {why}"))?;
    if expect != Expect::Folder
        && let Some(dir) = path.parent()
    {
        crate::agent::fsutil::remove_stale_temporaries(dir);
    }
    Ok(())
}

fn check_in(roots: &[PathBuf], path: &Path, expect: Expect) -> Result<(), String> {
    if !path.is_absolute()
        || path
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Err(format!("{} is not a plain absolute path", path.display()));
    }
    let Some(root) = roots
        .iter()
        .filter(|root| path.starts_with(root) && path != root.as_path())
        .max_by_key(|root| root.components().count())
    else {
        return Err(format!(
            "{} is outside the folders ado-cutover changes (your home folder and its own folders)",
            path.display()
        ));
    };
    // Every folder between the root and the path, then the path itself: none may be a link.
    for step in path
        .ancestors()
        .take_while(|ancestor| *ancestor != root.as_path())
    {
        match std::fs::symlink_metadata(step) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(format!(
                    "{} is a symbolic link, which ado-cutover does not follow",
                    step.display()
                ));
            }
            Ok(meta) if step == path => {
                let fits = match expect {
                    Expect::File => meta.is_file(),
                    Expect::Folder => meta.is_dir(),
                    Expect::Nothing => false,
                };
                if !fits {
                    return Err(match expect {
                        Expect::Nothing => format!("{} exists already", path.display()),
                        Expect::File => format!("{} is not a regular file", path.display()),
                        Expect::Folder => format!("{} is not a folder", path.display()),
                    });
                }
            }
            Ok(_) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(format!("cannot look at {}: {err}", step.display())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_paths_inside_a_root_pass() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("home");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/file"), b"x").unwrap();
        let roots = vec![root.clone()];
        assert_eq!(
            check_in(&roots, &root.join("sub/file"), Expect::File),
            Ok(())
        );
        assert_eq!(
            check_in(&roots, &root.join("sub/gone"), Expect::File),
            Ok(())
        );
        assert_eq!(check_in(&roots, &root.join("sub"), Expect::Folder), Ok(()));
        assert_eq!(
            check_in(&roots, &root.join("sub/new"), Expect::Nothing),
            Ok(())
        );

        let refused = |path: &Path, expect| check_in(&roots, path, expect).unwrap_err();
        assert!(refused(&dir.path().join("elsewhere"), Expect::File).contains("outside"));
        assert!(
            refused(&root, Expect::Folder).contains("outside"),
            "the root itself"
        );
        assert!(refused(&root.join("sub/../sub/file"), Expect::File).contains("plain"));
        assert!(refused(Path::new("relative/file"), Expect::File).contains("plain"));
        assert!(refused(&root.join("sub"), Expect::File).contains("not a regular file"));
        assert!(refused(&root.join("sub/file"), Expect::Nothing).contains("exists already"));
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_anywhere_below_the_root_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("home");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("target"), b"x").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("linked-folder")).unwrap();
        std::os::unix::fs::symlink(outside.join("target"), root.join("linked-file")).unwrap();
        let roots = vec![root.clone()];
        for path in [root.join("linked-folder/target"), root.join("linked-file")] {
            let why = check_in(&roots, &path, Expect::File).unwrap_err();
            assert!(why.contains("symbolic link"), "{why}");
        }
    }
}
