//! What one repository holds that matters for the move: its remotes (with git's `insteadOf`
//! rewriting applied), and work that exists only here: uncommitted changes, stashes, commits not
//! on the upstream, branches with no upstream. Read-only: git2 with no network features.

use std::collections::BTreeMap;
use std::path::Path;

use git2::{BranchType, Repository, StatusOptions};

/// One remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Remote {
    pub name: String,
    /// The fetch URL, after `url.<base>.insteadOf`.
    pub fetch: Option<String>,
    /// The push URL when it differs from the fetch URL (`pushurl`, or `pushInsteadOf`).
    pub push: Option<String>,
}

/// A local branch ahead of its upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ahead {
    pub branch: String,
    pub upstream: String,
    /// The remote the upstream belongs to.
    pub remote: String,
    pub commits: usize,
}

/// What a repository holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct State {
    pub remotes: Vec<Remote>,
    pub bare: bool,
    /// Files changed or not yet tracked.
    pub uncommitted: usize,
    pub stashes: usize,
    pub ahead: Vec<Ahead>,
    pub no_upstream: Vec<String>,
}

/// Opens the repository at `path` and reads its remotes (cheap: configuration only), in one
/// pass over its configuration, so a repository with thousands of remotes is read in linear
/// time. URLs are rewritten by `url.<base>.insteadOf` as git does (the longest match wins); a
/// push URL is the remote's `pushurl` (rewritten by `insteadOf`), or its url rewritten by
/// `pushInsteadOf`.
pub(crate) fn remotes_of(path: &Path) -> Result<(Repository, Vec<Remote>), String> {
    let repo = Repository::open(path).map_err(|e| e.message().to_string())?;
    let config = repo.config().map_err(|e| e.message().to_string())?;
    let mut urls: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
    let mut instead_of = Vec::new();
    let mut push_instead_of = Vec::new();
    let mut entries = config
        .entries(Some(
            r"^(remote\..+\.(url|pushurl)|url\..+\.(insteadof|pushinsteadof))$",
        ))
        .map_err(|e| e.message().to_string())?;
    while let Some(Ok(entry)) = entries.next() {
        let (Some(name), Some(value)) = (entry.name(), entry.value()) else {
            continue;
        };
        if let Some(rest) = name.strip_prefix("remote.") {
            let Some((remote, variable)) = rest.rsplit_once('.') else {
                continue;
            };
            let slot = urls.entry(remote.to_string()).or_default();
            // The last value wins, as for any single-valued key.
            match variable {
                "url" => slot.0 = Some(value.to_string()),
                _ => slot.1 = Some(value.to_string()),
            }
        } else if let Some((base, variable)) = name
            .strip_prefix("url.")
            .and_then(|rest| rest.rsplit_once('.'))
        {
            let rule = (value.to_string(), base.to_string());
            match variable {
                "insteadof" => instead_of.push(rule),
                _ => push_instead_of.push(rule),
            }
        }
    }
    let remotes = urls
        .into_iter()
        .map(|(name, (url, pushurl))| {
            let fetch = url
                .as_deref()
                .map(|u| rewrite(u, &instead_of).unwrap_or_else(|| u.to_string()));
            // pushInsteadOf applies to the remote's url as written; insteadOf to a pushurl.
            let push = match pushurl {
                Some(u) => Some(rewrite(&u, &instead_of).unwrap_or(u)),
                None => url.as_deref().and_then(|u| rewrite(u, &push_instead_of)),
            }
            .filter(|push| Some(push) != fetch.as_ref());
            Remote { name, fetch, push }
        })
        .collect();
    Ok((repo, remotes))
}

/// `url` rewritten by the rule whose prefix is the longest match; `None` when none matches.
fn rewrite(url: &str, rules: &[(String, String)]) -> Option<String> {
    rules
        .iter()
        .filter(|(prefix, _)| url.starts_with(prefix.as_str()))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(prefix, base)| format!("{base}{}", &url[prefix.len()..]))
}

/// The work in `repo` that exists only here (walks the index and the branches: costlier).
pub(crate) fn work_of(repo: &Repository) -> State {
    let mut state = State {
        bare: repo.is_bare(),
        ..State::default()
    };
    if !state.bare {
        let mut options = StatusOptions::new();
        options
            .include_untracked(true)
            .recurse_untracked_dirs(false)
            .exclude_submodules(true)
            .include_ignored(false);
        state.uncommitted = repo
            .statuses(Some(&mut options))
            .map(|s| s.len())
            .unwrap_or(0);
    }
    // Reading the reflog of a missing ref makes libgit2 create an empty one: look first.
    if repo.find_reference("refs/stash").is_ok() {
        state.stashes = repo.reflog("refs/stash").map(|r| r.len()).unwrap_or(0);
    }
    if let Ok(branches) = repo.branches(Some(BranchType::Local)) {
        for (branch, _) in branches.flatten() {
            let Some(name) = branch.name().ok().flatten().map(str::to_string) else {
                continue;
            };
            let Ok(upstream) = branch.upstream() else {
                state.no_upstream.push(name);
                continue;
            };
            let (Some(local), Some(remote_tip)) = (branch.get().target(), upstream.get().target())
            else {
                continue;
            };
            let upstream_name = upstream
                .name()
                .ok()
                .flatten()
                .unwrap_or_default()
                .to_string();
            let remote = upstream_name
                .split('/')
                .next()
                .unwrap_or_default()
                .to_string();
            if let Ok((ahead, _)) = repo.graph_ahead_behind(local, remote_tip)
                && ahead > 0
            {
                state.ahead.push(Ahead {
                    branch: name,
                    upstream: upstream_name,
                    remote,
                    commits: ahead,
                });
            }
        }
    }
    state
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// Remotes and work together, as the `remotes` task reads them.
    fn inspect(path: &Path) -> Result<State, String> {
        let (repo, remotes) = remotes_of(path)?;
        let mut state = work_of(&repo);
        state.remotes = remotes;
        Ok(state)
    }
    use crate::agent::paths::Paths;

    /// Runs real git in a sandboxed home.
    struct Git {
        paths: Paths,
        _dir: tempfile::TempDir,
    }

    impl Git {
        fn new() -> Git {
            let dir = tempfile::tempdir().unwrap();
            let paths = Paths::sandboxed(dir.path());
            std::fs::create_dir_all(&paths.home).unwrap();
            std::fs::write(
                paths.home.join(".gitconfig"),
                "[user]\n\tname = Test\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n",
            )
            .unwrap();
            Git { paths, _dir: dir }
        }

        fn run(&self, dir: &Path, args: &[&str]) -> String {
            let out = self
                .paths
                .command("git")
                .current_dir(dir)
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "git {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        }
    }

    #[test]
    fn remotes_are_read_as_git_resolves_them() {
        let git = Git::new();
        let repo = git.paths.home.join("web");
        std::fs::create_dir_all(&repo).unwrap();
        git.run(&repo, &["init", "-q"]);
        git.run(&repo, &["remote", "add", "origin", "ado:proj/_git/web"]);
        git.run(
            &repo,
            &[
                "config",
                "url.https://contoso.visualstudio.com/.insteadOf",
                "ado:",
            ],
        );
        git.run(
            &repo,
            &[
                "config",
                "url.git@ssh.dev.azure.com:v3/contoso/.pushInsteadOf",
                "ado:",
            ],
        );
        git.run(
            &repo,
            &[
                "remote",
                "add",
                "mirror",
                "https://dev.azure.com/contoso/proj/_git/web",
            ],
        );
        git.run(
            &repo,
            &[
                "remote",
                "set-url",
                "--push",
                "mirror",
                "https://github.com/contoso/web",
            ],
        );

        let state = inspect(&repo).unwrap();
        for remote in &state.remotes {
            let fetch = git.run(&repo, &["remote", "get-url", &remote.name]);
            let push = git.run(&repo, &["remote", "get-url", "--push", &remote.name]);
            assert_eq!(
                remote.fetch.as_deref(),
                Some(fetch.as_str()),
                "{}",
                remote.name
            );
            assert_eq!(
                remote.push.clone().unwrap_or(fetch),
                push,
                "{}",
                remote.name
            );
        }
        let origin = state.remotes.iter().find(|r| r.name == "origin").unwrap();
        assert_eq!(
            origin.fetch.as_deref(),
            Some("https://contoso.visualstudio.com/proj/_git/web")
        );
        assert_eq!(
            origin.push.as_deref(),
            Some("git@ssh.dev.azure.com:v3/contoso/proj/_git/web")
        );
    }

    #[test]
    fn work_that_exists_only_here_is_counted() {
        let git = Git::new();
        let server = git.paths.home.join("server.git");
        std::fs::create_dir_all(&server).unwrap();
        git.run(&server, &["init", "-q", "--bare"]);
        let repo = git.paths.home.join("web");
        git.run(
            &git.paths.home,
            &["clone", "-q", server.to_str().unwrap(), "web"],
        );
        std::fs::write(repo.join("a.txt"), "one").unwrap();
        git.run(&repo, &["add", "a.txt"]);
        git.run(&repo, &["commit", "-qm", "one"]);
        git.run(&repo, &["push", "-q", "origin", "main"]);
        for n in ["two", "three"] {
            std::fs::write(repo.join("a.txt"), n).unwrap();
            git.run(&repo, &["commit", "-qam", n]);
        }
        std::fs::write(repo.join("a.txt"), "stashed").unwrap();
        git.run(&repo, &["stash", "-q"]);
        std::fs::write(repo.join("new.txt"), "untracked").unwrap();
        git.run(&repo, &["branch", "experiment"]);

        let state = inspect(&repo).unwrap();
        assert_eq!(
            state.ahead,
            [Ahead {
                branch: "main".into(),
                upstream: "origin/main".into(),
                remote: "origin".into(),
                commits: 2
            }]
        );
        assert_eq!(state.stashes, 1);
        assert_eq!(state.uncommitted, 1);
        assert_eq!(state.no_upstream, ["experiment"]);
        assert!(!state.bare);

        let bare = inspect(&server).unwrap();
        assert!(bare.bare);
        assert_eq!(bare.uncommitted, 0);
    }
}
