//! Reads and writes a repository's own configuration (`.git/config`), one key at a time,
//! through libgit2, which locks the file and replaces it atomically the way git does.

use std::path::Path;

use git2::{ConfigLevel, Repository};

fn local(repo: &Path) -> Result<git2::Config, String> {
    let repo = Repository::open(repo).map_err(|e| e.message().to_string())?;
    let config = repo.config().map_err(|e| e.message().to_string())?;
    config
        .open_level(ConfigLevel::Local)
        .map_err(|e| e.message().to_string())
}

/// The value of `key` in the repository's own configuration.
pub fn get(repo: &Path, key: &str) -> Result<Option<String>, String> {
    let config = local(repo)?;
    match config.get_string(key) {
        Ok(value) => Ok(Some(value)),
        Err(err) if err.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(err) => Err(err.message().to_string()),
    }
}

/// Sets `key` in the repository's own configuration.
pub fn set(repo: &Path, key: &str, value: &str) -> Result<(), String> {
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
pub fn entries_in_file(path: &Path, regex: &str) -> Result<Vec<(String, String)>, String> {
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
        if let (Some(name), Some(value)) = (entry.name(), entry.value()) {
            found.push((name.to_string(), value.to_string()));
        }
    }
    Ok(found)
}

/// The value of `key` in the file at `path`.
pub fn get_in_file(path: &Path, key: &str) -> Result<Option<String>, String> {
    match file(path)?.get_string(key) {
        Ok(value) => Ok(Some(value)),
        Err(err) if err.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(err) => Err(err.message().to_string()),
    }
}

/// Sets `key` in the file at `path`.
pub fn set_in_file(path: &Path, key: &str, value: &str) -> Result<(), String> {
    file(path)?
        .set_str(key, value)
        .map_err(|e| e.message().to_string())
}

/// Removes `key` from the file at `path`.
pub fn unset_in_file(path: &Path, key: &str) -> Result<(), String> {
    file(path)?.remove(key).map_err(|e| e.message().to_string())
}
