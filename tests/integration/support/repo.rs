//! Test repositories made with libgit2 (the library the agent links), so the repository tests run
//! in every build, the Windows one under Wine included, where no git program exists. libgit2 is
//! pointed at an empty folder for its global and system configuration first, so nothing of this
//! machine's git setup (`~/.gitconfig`, `/etc/gitconfig`) shapes a test repository.
#![allow(unsafe_code)] // libgit2's search-path option is process-wide, set once before any use

use std::path::Path;
use std::sync::OnceLock;

use git2::{BranchType, ConfigLevel, Repository, RepositoryInitOptions, Signature};

/// Points libgit2's global, XDG and system configuration at one empty folder, once per process.
fn isolate() {
    static EMPTY: OnceLock<tempfile::TempDir> = OnceLock::new();
    EMPTY.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        for level in [ConfigLevel::Global, ConfigLevel::XDG, ConfigLevel::System] {
            // SAFETY: called once, under the OnceLock, before any repository is opened by this
            // module; the tests use libgit2 only through this module.
            unsafe { git2::opts::set_search_path(level, dir.path()) }.expect("search path");
        }
        dir
    });
}

fn options() -> RepositoryInitOptions {
    let mut options = RepositoryInitOptions::new();
    options.initial_head("main");
    options
}

/// A new repository at `dir` (branch `main`).
pub(crate) fn init(dir: &Path) -> Repository {
    isolate();
    Repository::init_opts(dir, &options()).expect("git init")
}

/// A new bare repository at `dir`.
pub(crate) fn init_bare(dir: &Path) -> Repository {
    isolate();
    let mut options = options();
    options.bare(true);
    Repository::init_opts(dir, &options).expect("git init --bare")
}

/// A new repository whose git directory is `git_dir` and whose working tree is `work`, linked
/// by a `.git` file in `work` (`git init --separate-git-dir`).
pub(crate) fn init_separate(work: &Path, git_dir: &Path) -> Repository {
    isolate();
    let mut options = options();
    options.workdir_path(work).no_dotgit_dir(true);
    Repository::init_opts(git_dir, &options).expect("git init --separate-git-dir")
}

/// A new repository at `dir` with the remote `origin` at `url`.
pub(crate) fn with_origin(dir: &Path, url: &str) -> Repository {
    let repo = init(dir);
    repo.remote("origin", url).expect("git remote add");
    repo
}

/// A new repository at `~/<rel>` of `sandbox` with the remote `origin` at `url`.
pub(crate) fn at_home(sandbox: &super::Sandbox, rel: &str, url: &str) -> std::path::PathBuf {
    let dir = sandbox.under_home(rel);
    std::fs::create_dir_all(&dir).unwrap();
    with_origin(&dir, url);
    dir
}

/// An existing repository.
pub(crate) fn open(dir: &Path) -> Repository {
    isolate();
    Repository::open(dir).expect("git open")
}

fn signature() -> Signature<'static> {
    Signature::now("Test", "test@example.com").unwrap()
}

/// Writes `file` in the working tree and commits every change to it on the current branch
/// (`git commit -am`).
pub(crate) fn commit_file(
    repo: &Repository,
    file: &str,
    content: &str,
    message: &str,
) -> git2::Oid {
    let work = repo.workdir().expect("a working tree");
    std::fs::write(work.join(file), content).unwrap();
    let mut index = repo.index().unwrap();
    index.add_path(Path::new(file)).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    repo.commit(
        Some("HEAD"),
        &signature(),
        &signature(),
        message,
        &tree,
        &parents,
    )
    .unwrap()
}

/// Records `commit` as `origin/main` and makes it `main`'s upstream: the state after a push and
/// a fetch, without a server.
pub(crate) fn track_origin_main(repo: &Repository, commit: git2::Oid) {
    repo.reference("refs/remotes/origin/main", commit, true, "fetch")
        .unwrap();
    repo.find_branch("main", BranchType::Local)
        .unwrap()
        .set_upstream(Some("origin/main"))
        .unwrap();
}

/// A new worktree of `repo` at `path` on a new branch `branch` from `HEAD`
/// (`git worktree add <path> -b <branch>`).
pub(crate) fn add_worktree(repo: &Repository, path: &Path, branch: &str) {
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    let branch = repo.branch(branch, &head, false).unwrap();
    let mut options = git2::WorktreeAddOptions::new();
    options.reference(Some(branch.get()));
    let name = path.file_name().unwrap().to_str().unwrap();
    repo.worktree(name, path, Some(&options)).unwrap();
}

/// Stashes the working tree's changes (`git stash`).
pub(crate) fn stash(repo: &mut Repository) {
    repo.stash_save(&signature(), "WIP", None).unwrap();
}

/// A submodule at `path` inside `repo`, its git directory under `.git/modules` (its `.git` is a
/// file, as `git submodule add` makes it), with `origin` at `url`.
pub(crate) fn add_submodule(repo: &Repository, path: &str, url: &str) {
    let mut submodule = repo.submodule(url, Path::new(path), true).unwrap();
    submodule.sync().unwrap();
    let inner = submodule.open().unwrap();
    if inner.find_remote("origin").is_err() {
        inner.remote("origin", url).unwrap();
    }
}

/// `remote.<name>.url` as the repository's own configuration file has it (`git config
/// remote.origin.url`): the raw value, no `insteadOf` applied.
pub(crate) fn remote_url(dir: &Path, name: &str) -> String {
    let repo = open(dir);
    let config = git2::Config::open(&repo.path().join("config")).unwrap();
    config
        .get_string(&format!("remote.{name}.url"))
        .unwrap_or_else(|e| panic!("no remote {name} in {}: {e}", dir.display()))
}

/// A value in one git configuration file, no other file consulted (`git config --file <file>
/// --get <key>`).
pub(crate) fn config_get(file: &Path, key: &str) -> Option<String> {
    isolate();
    git2::Config::open(file).ok()?.get_string(key).ok()
}

/// Sets a value in one git configuration file (`git config --file <file> <key> <value>`).
pub(crate) fn config_set(file: &Path, key: &str, value: &str) {
    isolate();
    git2::Config::open(file)
        .and_then(|mut config| config.set_str(key, value))
        .unwrap_or_else(|e| panic!("git config {key} in {}: {e}", file.display()));
}
