//! Finds git repositories under the scan roots: working trees, bare repositories, linked
//! worktrees and submodules (`.git` files), and TFVC workspaces (reported, never touched).
//!
//! A parallel walk: a few threads share a queue of folders, each lists one and queues its
//! subfolders (no ignore rules: a user's clone may live anywhere). It never follows symbolic links, so link loops cannot trap it; it does not descend
//! into a repository's own `.git`; it skips folders that never hold a user's clone, and cloud
//! and network folders that listing could make download. An unreadable folder becomes a
//! warning, not a failure.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::sync::Condvar;

/// Folder names skipped wherever they are: package caches and build output that never hold a
/// user's clone.
pub(crate) const SKIP_NAMES: &[&str] = &[
    "node_modules",
    ".cache",
    ".npm",
    ".pnpm-store",
    ".yarn",
    ".gradle",
    ".m2",
    ".nuget",
    ".rustup",
    "__pycache__",
    ".tox",
    ".Trash",
    "$RECYCLE.BIN",
    "System Volume Information",
];

/// Folders skipped by their place under the home folder.
pub(crate) const SKIP_UNDER_HOME: &[&str] = &[
    "Library/Caches",
    "Library/Containers",
    // Cloud-synced folders: listing them can make the provider download files.
    "Library/CloudStorage",
    "Library/Mobile Documents",
    ".gvfs",
    "AppData/Local/Temp",
    "AppData/Local/Packages",
    ".local/share/Trash",
    ".cargo/registry",
    ".cargo/git",
    "go/pkg/mod",
];

/// What a found repository is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// A working tree with a `.git` folder.
    WorkTree,
    /// A working tree whose `.git` is a file: a linked worktree or a submodule.
    Linked,
    Bare,
    /// A TFVC local workspace (`$tf` or `.tf` folder).
    Tfvc,
}

/// One thing found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Found {
    pub path: PathBuf,
    pub kind: Kind,
}

/// What a scan found.
#[derive(Debug, Default)]
pub(crate) struct Discovery {
    pub found: Vec<Found>,
    /// Folders that could not be read, and other trouble, for the report.
    pub warnings: Vec<String>,
    pub folders_scanned: usize,
}

/// What to leave out.
#[derive(Debug, Clone, Default)]
pub(crate) struct Skip {
    pub names: BTreeSet<String>,
    pub paths: Vec<PathBuf>,
}

impl Skip {
    /// The default skips, plus `extra` folder names (from configuration).
    pub(crate) fn defaults(home: &Path, extra: &[String]) -> Skip {
        Skip {
            names: SKIP_NAMES
                .iter()
                .map(|s| s.to_string())
                .chain(extra.iter().cloned())
                .collect(),
            paths: SKIP_UNDER_HOME
                .iter()
                .map(|rel| {
                    rel.split('/')
                        .fold(home.to_path_buf(), |p, part| p.join(part))
                })
                .collect(),
        }
    }

    fn skips(&self, path: &Path, name: &OsStr) -> bool {
        self.names.contains(name.to_string_lossy().as_ref()) || self.paths.iter().any(|p| p == path)
    }
}

/// Scans `roots`. `progress` is called now and then with (folders scanned, repositories found).
pub(crate) fn discover(
    roots: &[PathBuf],
    skip: &Skip,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Discovery {
    let existing: Vec<&PathBuf> = roots.iter().filter(|r| r.is_dir()).collect();
    let mut warnings: Vec<String> = roots
        .iter()
        .filter(|r| !r.is_dir())
        .map(|r| format!("scan root {} does not exist", r.display()))
        .collect();
    let Some((first, rest)) = existing.split_first() else {
        return Discovery {
            warnings,
            ..Discovery::default()
        };
    };
    let found = Mutex::new(Vec::new());
    let problems = Mutex::new(Vec::new());
    let folders = AtomicUsize::new(0);
    let repos = AtomicUsize::new(0);
    // Looks at one entry; says whether to descend into it.
    let visit = |path: &Path, name: &OsStr, is_dir: bool| -> bool {
        let record = |path: &Path, kind: Kind| {
            repos.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut found) = found.lock() {
                found.push(Found {
                    path: path.to_path_buf(),
                    kind,
                });
            }
        };
        if is_dir {
            let n = folders.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_multiple_of(4096) {
                progress(n, repos.load(Ordering::Relaxed));
            }
        }
        let parent = path.parent().unwrap_or(path);
        if name == ".git" {
            record(parent, if is_dir { Kind::WorkTree } else { Kind::Linked });
            return false;
        }
        if is_dir && (name == "$tf" || name == ".tf") {
            record(parent, Kind::Tfvc);
            return false;
        }
        if is_dir && is_bare(path) {
            record(path, Kind::Bare);
            return false;
        }
        is_dir
    };
    let start: Vec<PathBuf> = std::iter::once(*first)
        .chain(rest.iter().copied())
        .filter(|root| visit(root, root.file_name().unwrap_or(root.as_os_str()), true))
        .cloned()
        .collect();
    walk(start, skip, &visit, &problems);
    let mut found = found.into_inner().unwrap_or_default();
    found.sort();
    found.dedup();
    warnings.extend(problems.into_inner().unwrap_or_default());
    let folders_scanned = folders.into_inner();
    progress(folders_scanned, found.len());
    Discovery {
        found,
        warnings,
        folders_scanned,
    }
}

/// Folders waiting to be listed, and how many threads are listing one now. The walk ends when
/// nothing waits and nobody is busy (a busy thread may still queue more).
struct Queue {
    state: Mutex<(Vec<PathBuf>, usize)>,
    changed: Condvar,
}

impl Queue {
    /// The next folder to list; `None` when the walk is over.
    fn take(&self) -> Option<PathBuf> {
        let mut state = self.state.lock().ok()?;
        loop {
            if let Some(dir) = state.0.pop() {
                state.1 += 1;
                return Some(dir);
            }
            if state.1 == 0 {
                self.changed.notify_all();
                return None;
            }
            state = self.changed.wait(state).ok()?;
        }
    }

    /// Queues the subfolders of a listed folder and marks its thread free again.
    fn finish(&self, subfolders: Vec<PathBuf>) {
        if let Ok(mut state) = self.state.lock() {
            state.0.extend(subfolders);
            state.1 -= 1;
        }
        self.changed.notify_all();
    }
}

/// Lists `start` and everything below it on a few threads. Entries are looked at with their
/// own type (a symbolic link is never a folder here, so links are never followed); skipped
/// folders are neither looked at nor entered; `visit` says which folders to enter.
fn walk(
    start: Vec<PathBuf>,
    skip: &Skip,
    visit: &(dyn Fn(&Path, &OsStr, bool) -> bool + Sync),
    problems: &Mutex<Vec<String>>,
) {
    let queue = Queue {
        state: Mutex::new((start, 0)),
        changed: Condvar::new(),
    };
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
    let problem = |text: String| {
        if let Ok(mut problems) = problems.lock() {
            problems.push(text);
        }
    };
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while let Some(dir) = queue.take() {
                    let mut subfolders = Vec::new();
                    match std::fs::read_dir(&dir) {
                        Ok(entries) => {
                            for entry in entries {
                                let entry = match entry {
                                    Ok(entry) => entry,
                                    Err(err) => {
                                        problem(format!("{}: {err}", dir.display()));
                                        continue;
                                    }
                                };
                                let Ok(kind) = entry.file_type() else {
                                    continue;
                                };
                                let (path, name) = (entry.path(), entry.file_name());
                                let is_dir = kind.is_dir();
                                if is_dir && skip.skips(&path, &name) {
                                    continue;
                                }
                                if visit(&path, &name, is_dir) {
                                    subfolders.push(path);
                                }
                            }
                        }
                        Err(err) => problem(format!("cannot read {}: {err}", dir.display())),
                    }
                    queue.finish(subfolders);
                }
            });
        }
    });
}

/// A bare repository: `HEAD`, `objects/` and `refs/` in a folder that is not a `.git`. Only
/// folders named `*.git` are checked, git's convention, so the walk does not stat every folder.
fn is_bare(dir: &Path) -> bool {
    dir.extension() == Some(OsStr::new("git"))
        && dir.join("HEAD").is_file()
        && dir.join("objects").is_dir()
        && dir.join("refs").is_dir()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mkdir(path: &Path) {
        std::fs::create_dir_all(path).unwrap();
    }

    #[test]
    fn finds_every_kind_and_skips_what_it_should() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        mkdir(&home.join("src/web/.git/objects"));
        mkdir(&home.join("src/web/nested/.git"));
        std::fs::write(home.join("src/web/sub"), b"").ok();
        mkdir(&home.join("src/web/lib"));
        std::fs::write(
            home.join("src/web/lib/.git"),
            b"gitdir: ../.git/modules/lib\n",
        )
        .unwrap();
        mkdir(&home.join("srv/api.git/objects"));
        mkdir(&home.join("srv/api.git/refs"));
        std::fs::write(home.join("srv/api.git/HEAD"), b"ref: refs/heads/main\n").unwrap();
        mkdir(&home.join("tfs/legacy/$tf"));
        mkdir(&home.join("app/node_modules/dep/.git"));
        mkdir(&home.join(".cache/thing/.git"));
        mkdir(&home.join("Library/Caches/x/.git"));
        mkdir(&home.join("mine/.git"));

        let skip = Skip::defaults(home, &["mine".to_string()]);
        let result = discover(&[home.to_path_buf()], &skip, &|_, _| {});
        let found: Vec<(String, Kind)> = result
            .found
            .iter()
            .map(|f| {
                let rel = f.path.strip_prefix(home).unwrap();
                (rel.to_string_lossy().replace('\\', "/"), f.kind)
            })
            .collect();
        assert_eq!(
            found,
            [
                ("src/web".to_string(), Kind::WorkTree),
                ("src/web/lib".to_string(), Kind::Linked),
                ("src/web/nested".to_string(), Kind::WorkTree),
                ("srv/api.git".to_string(), Kind::Bare),
                ("tfs/legacy".to_string(), Kind::Tfvc),
            ]
        );
        assert!(result.folders_scanned > 5);
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loops_and_unreadable_folders_do_not_stop_the_scan() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        mkdir(&home.join("a/b"));
        std::os::unix::fs::symlink(home.join("a"), home.join("a/b/loop")).unwrap();
        mkdir(&home.join("a/repo/.git"));
        mkdir(&home.join("locked/inside/.git"));
        std::fs::set_permissions(home.join("locked"), std::fs::Permissions::from_mode(0o000))
            .unwrap();
        // Root reads anything, so the folder only counts as unreadable for other users.
        let readable = std::fs::read_dir(home.join("locked")).is_ok();
        let result = discover(
            &[home.to_path_buf()],
            &Skip::defaults(home, &[]),
            &|_, _| {},
        );
        std::fs::set_permissions(home.join("locked"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let names: Vec<&Path> = result
            .found
            .iter()
            .map(|f| f.path.strip_prefix(home).unwrap())
            .collect();
        if readable {
            assert_eq!(names, [Path::new("a/repo"), Path::new("locked/inside")]);
        } else {
            assert_eq!(names, [Path::new("a/repo")]);
            let warned = result.warnings.iter().any(|w| w.contains("locked"));
            assert!(warned, "{:?}", result.warnings);
        }
    }

    #[test]
    fn a_missing_root_is_a_warning() {
        let result = discover(
            &[PathBuf::from("/no/such/root")],
            &Skip::default(),
            &|_, _| {},
        );
        assert!(result.found.is_empty());
        assert_eq!(result.warnings.len(), 1);
    }
}
