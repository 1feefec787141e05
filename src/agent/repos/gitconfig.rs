//! Reads and writes git configuration files, one key at a time, through libgit2, which locks
//! the file and replaces it atomically the way git does: a repository's own configuration
//! (`.git/config`), and the global files git reads (`~/.gitconfig`, `$XDG_CONFIG_HOME/git/config`
//! and the files they include), each read on its own so a change lands in the file that holds it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::agent::env::Env;
use crate::agent::paths::Paths;

use git2::{ConfigLevel, Repository};

fn local(repo: &Path) -> Result<git2::Config, String> {
    let repo = Repository::open(repo).map_err(|e| e.message().to_string())?;
    let config = repo.config().map_err(|e| e.message().to_string())?;
    config
        .open_level(ConfigLevel::Local)
        .map_err(|e| e.message().to_string())
}

/// The file that holds the repository's own configuration: `config` in its (common) git
/// directory, which a `.git` file may put anywhere.
pub(crate) fn local_file(repo: &Path) -> Result<PathBuf, String> {
    let repo = Repository::open(repo).map_err(|e| e.message().to_string())?;
    Ok(repo.commondir().join("config"))
}

/// The value of `key` in the repository's own configuration.
pub(crate) fn get(repo: &Path, key: &str) -> Result<Option<String>, String> {
    let config = local(repo)?;
    match config.get_string(key) {
        Ok(value) => Ok(Some(value)),
        Err(err) if err.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(err) => Err(err.message().to_string()),
    }
}

/// Sets `key` in the repository's own configuration.
pub(crate) fn set(repo: &Path, key: &str, value: &str) -> Result<(), String> {
    local(repo)?
        .set_str(key, value)
        .map_err(|e| e.message().to_string())
}

/// A configuration file itself (e.g. `~/.gitconfig`), not a repository's.
fn file(path: &Path) -> Result<git2::Config, String> {
    git2::Config::open(path).map_err(|e| e.message().to_string())
}

/// Every `(key, value)` in the file at `path` whose key matches `regex` (keys as git prints them:
/// section and variable lower case, subsection as written).
pub(crate) fn entries_in_file(path: &Path, regex: &str) -> Result<Vec<(String, String)>, String> {
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let config = file(path)?;
    let mut found = Vec::new();
    let mut entries = config
        .entries(Some(regex))
        .map_err(|e| e.message().to_string())?;
    while let Some(entry) = entries.next() {
        let entry = entry.map_err(|e| e.message().to_string())?;
        // libgit2 reads included files into the same list; those are listed under their own file.
        if entry.include_depth() > 0 {
            continue;
        }
        if let (Some(name), Some(value)) = (entry.name(), entry.value()) {
            found.push((name.to_string(), value.to_string()));
        }
    }
    Ok(found)
}

/// The value of `key` in the file at `path`.
pub(crate) fn get_in_file(path: &Path, key: &str) -> Result<Option<String>, String> {
    match file(path)?.get_string(key) {
        Ok(value) => Ok(Some(value)),
        Err(err) if err.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(err) => Err(err.message().to_string()),
    }
}

/// Sets `key` in the file at `path`.
pub(crate) fn set_in_file(path: &Path, key: &str, value: &str) -> Result<(), String> {
    file(path)?
        .set_str(key, value)
        .map_err(|e| e.message().to_string())
}

/// Removes `key` from the file at `path`.
pub(crate) fn unset_in_file(path: &Path, key: &str) -> Result<(), String> {
    file(path)?.remove(key).map_err(|e| e.message().to_string())
}

/// How deep includes are followed; git itself stops at 10.
const MAX_INCLUDE_DEPTH: usize = 10;

/// The global configuration files git reads for this user, in git's order, with every file they
/// include (`include.path`, and `includeIf.<condition>.path` whatever the condition, since a
/// binding there applies to some repositories): `$GIT_CONFIG_GLOBAL` when set, else
/// `$XDG_CONFIG_HOME/git/config` (default `~/.config/git/config`) and `~/.gitconfig`. Only
/// files that exist and are [`Paths::reachable`] are listed, each once.
pub(crate) fn global_files(paths: &Paths, env: &Env) -> Vec<PathBuf> {
    let from_env = |var: &str| env.get_os(var).map(PathBuf::from);
    let roots = match from_env("GIT_CONFIG_GLOBAL") {
        Some(file) => vec![file],
        None => {
            let xdg = from_env("XDG_CONFIG_HOME").unwrap_or_else(|| paths.home.join(".config"));
            vec![
                xdg.join("git").join("config"),
                paths.home.join(".gitconfig"),
            ]
        }
    };
    let mut seen = BTreeSet::new();
    let mut files = Vec::new();
    for root in roots {
        with_includes(paths, &root, 0, &mut seen, &mut files);
    }
    files
}

fn with_includes(
    paths: &Paths,
    file: &Path,
    depth: usize,
    seen: &mut BTreeSet<PathBuf>,
    files: &mut Vec<PathBuf>,
) {
    if depth > MAX_INCLUDE_DEPTH || !paths.reachable(file) || !file.is_file() {
        return;
    }
    if !seen.insert(file.to_path_buf()) {
        return;
    }
    files.push(file.to_path_buf());
    let Ok(includes) = entries_in_file(file, r"^(include|includeif\..*)\.path$") else {
        return;
    };
    for (_, value) in includes {
        if let Some(included) = resolve_include(&paths.home, file, &value) {
            with_includes(paths, &included, depth + 1, seen, files);
        }
    }
}

/// Where an include path points, as git resolves it: `~/` is the home folder, a relative path is
/// relative to the folder of the file that includes it.
pub(crate) fn resolve_include(home: &Path, including: &Path, value: &str) -> Option<PathBuf> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if let Some(rest) = value
        .strip_prefix("~/")
        .or_else(|| value.strip_prefix("~\\"))
    {
        return Some(home.join(rest));
    }
    let path = Path::new(value);
    if path.is_absolute() {
        return Some(path.to_path_buf());
    }
    // `~user/` and other forms git would expand from the system are not followed.
    if value.starts_with('~') {
        return None;
    }
    Some(including.parent()?.join(path))
}

/// A path-valued setting as git expands it (`~/` is the home folder); `None` for a relative path,
/// which would depend on the folder git runs in.
pub(crate) fn expand_path(home: &Path, value: &str) -> Option<PathBuf> {
    let value = value.trim();
    if let Some(rest) = value
        .strip_prefix("~/")
        .or_else(|| value.strip_prefix("~\\"))
    {
        return Some(home.join(rest));
    }
    let path = Path::new(value);
    path.is_absolute().then(|| path.to_path_buf())
}

/// Every value of `key` across `files`, in order.
pub(crate) fn values_in_files(files: &[PathBuf], key: &str) -> Vec<String> {
    let pattern = format!("^{}$", regex_escape(key));
    files
        .iter()
        .filter_map(|file| entries_in_file(file, &pattern).ok())
        .flatten()
        .map(|(_, value)| value)
        .collect()
}

/// `key` as a regular expression that matches only itself, case-insensitively for the section
/// and variable (git prints them lower case).
fn regex_escape(key: &str) -> String {
    let mut out = String::with_capacity(key.len() * 2);
    for c in key.to_ascii_lowercase().chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            out.push(c);
        } else {
            out.push('\\');
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_files_follow_xdg_and_includes_once_and_stay_in_the_sandbox() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::sandboxed(dir.path());
        let home = &paths.home;
        let write = |path: &Path, text: &str| {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(
            &home.join(".gitconfig"),
            "[include]\n\tpath = ~/.gitconfig-work\n[includeIf \"gitdir:~/src/\"]\n\tpath = conf/src.inc\n[include]\n\tpath = /etc/outside-the-sandbox\n",
        );
        write(
            &home.join(".gitconfig-work"),
            "[include]\n\tpath = .gitconfig\n",
        );
        write(&home.join("conf/src.inc"), "[user]\n\tname = x\n");
        write(
            &home.join(".config/git/config"),
            "[core]\n\tautocrlf = false\n",
        );
        let files = global_files(&paths, &Env::default());
        assert_eq!(
            files,
            [
                home.join(".config/git/config"),
                home.join(".gitconfig"),
                home.join(".gitconfig-work"),
                home.join("conf/src.inc"),
            ]
        );
        // Entries of an included file are listed under that file, not the one including it.
        write(
            &home.join(".gitconfig-work"),
            "[credential \"azrepos:org/contoso\"]\n\tusername = a\n",
        );
        let key = "credential.azrepos:org/contoso.username";
        assert!(
            entries_in_file(&home.join(".gitconfig"), "^credential")
                .unwrap()
                .is_empty()
        );
        assert_eq!(values_in_files(&files, key), ["a"]);
        assert_eq!(
            values_in_files(&files, "credential.azrepos:org/contosox.username"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn include_and_setting_paths_resolve_as_git_does() {
        // An absolute path on every OS (`/h` is not one on Windows).
        let home = std::env::temp_dir().join("h");
        let file = home.join("cfg").join("main");
        assert_eq!(resolve_include(&home, &file, "~/x"), Some(home.join("x")));
        assert_eq!(
            resolve_include(&home, &file, "y"),
            Some(home.join("cfg").join("y"))
        );
        assert_eq!(resolve_include(&home, &file, "~other/z"), None);
        assert_eq!(
            expand_path(&home, "~/.gcm/store"),
            Some(home.join(".gcm/store"))
        );
        let absolute = home.join("elsewhere");
        assert_eq!(
            expand_path(&home, absolute.to_str().unwrap()),
            Some(absolute)
        );
        assert_eq!(expand_path(&home, "relative"), None);
    }

    /// Fuzz (#19): whatever path an `include.path` or `credential.*StorePath` value holds, it
    /// is resolved or refused, never a panic.
    #[test]
    fn fuzz_git_config_paths() {
        let home = Path::new("/home/alice");
        let including = Path::new("/home/alice/.gitconfig");
        let seeds: &[&[u8]] = &[
            b"~/work/.gitconfig",
            b"../x",
            b"%(prefix)/etc/gitconfig",
            b"~alice/x",
            b"C:\\Users\\a\\x",
            b"gitdir:~/src/",
        ];
        let dictionary: &[&[u8]] = &[b"~", b"/", b"\\", b"..", b"%(prefix)", b":", b"\0"];
        crate::fuzz::run("git config paths", seeds, dictionary, |bytes| {
            let value = String::from_utf8_lossy(bytes);
            let _ = expand_path(home, &value);
            let _ = resolve_include(home, including, &value);
        });
    }
}
