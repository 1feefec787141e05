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
