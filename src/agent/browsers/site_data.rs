//! Azure DevOps site data in a browser profile, beside its cookies: what Microsoft's "clear
//! cookies and cached data" means per site, for the origins whose host is Azure DevOps's
//! (`dev.azure.com`, `visualstudio.com` and their subdomains, as for cookies).
//!
//! - Chromium family: IndexedDB's per-origin folders (`IndexedDB/<scheme>_<host>_<port>.indexeddb.leveldb`
//!   and `.blob`), and the origin's storage buckets (`WebStorage/QuotaManager`, an SQLite
//!   database with a `buckets` table; each bucket's files are in `WebStorage/<bucket id>`): the
//!   rows and folders go together, as Chromium's own "delete site data" does.
//! - Firefox: the origin's folder under `storage/default` (`https+++dev.azure.com`, with
//!   `+<port>` for another port), which holds its IndexedDB, local storage and cache storage.
//!   Firefox keeps a cache of what those folders hold in `storage.sqlite`; it is marked stale
//!   (`cache.valid = 0`, what Firefox itself does after a crash) so the next start reads the
//!   folders again.
//!
//! What several origins share is left alone: Chromium's `Local Storage` and `Session Storage`
//! (one LevelDB each for all sites) and both browsers' HTTP caches. Only ever called when the
//! browser is closed (see the `browser-sign-out` task).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::Family;
use crate::agent::hosts;

/// The Azure DevOps site data found in one profile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Found {
    /// Folders that hold only Azure DevOps origins' data.
    pub dirs: Vec<PathBuf>,
    /// Chromium storage buckets of Azure DevOps origins.
    pub buckets: Vec<i64>,
    /// The origins, for people (`https://dev.azure.com`).
    pub origins: BTreeSet<String>,
}

impl Found {
    pub(crate) fn is_empty(&self) -> bool {
        self.dirs.is_empty() && self.buckets.is_empty()
    }
}

/// The data of Azure DevOps origins in the profile at `dir`.
pub(crate) fn find(dir: &Path, family: Family) -> Result<Found, String> {
    match family {
        Family::Chromium => chromium(dir),
        Family::Firefox => Ok(firefox(dir)),
    }
}

/// Deletes what [`find`] finds now; returns how many origins' data went.
pub(crate) fn delete(dir: &Path, family: Family) -> Result<usize, String> {
    let found = find(dir, family)?;
    if !found.buckets.is_empty() {
        let db = quota_db(dir);
        let conn = rusqlite::Connection::open_with_flags(
            &db,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| format!("cannot open {}: {e}", db.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(2))
            .map_err(|e| e.to_string())?;
        for id in &found.buckets {
            conn.execute("DELETE FROM buckets WHERE id = ?1", [id])
                .map_err(|e| format!("cannot change {}: {e}", db.display()))?;
        }
    }
    for path in &found.dirs {
        // Never through a link: a planted link is removed as a link, not followed.
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path)
                .map_err(|e| format!("cannot delete {}: {e}", path.display()))?,
            Ok(_) | Err(_) => {}
        }
    }
    if family == Family::Firefox && !found.dirs.is_empty() {
        invalidate_firefox_cache(dir)?;
    }
    Ok(found.origins.len())
}

fn quota_db(dir: &Path) -> PathBuf {
    dir.join("WebStorage").join("QuotaManager")
}

/// True for an Azure DevOps host, as for cookies.
fn is_ours(host: &str) -> bool {
    hosts::is_ado_cookie_domain(host) && !host.starts_with('.')
}

/// `https://dev.azure.com` from Chromium's folder name `https_dev.azure.com_0`.
fn chromium_origin(name: &str) -> Option<String> {
    let stem = name
        .strip_suffix(".indexeddb.leveldb")
        .or_else(|| name.strip_suffix(".indexeddb.blob"))?;
    let (scheme, rest) = stem.split_once('_')?;
    let (host, port) = rest.rsplit_once('_')?;
    let known = matches!(scheme, "https" | "http") && port.bytes().all(|b| b.is_ascii_digit());
    (known && is_ours(host)).then(|| origin(scheme, host, port))
}

fn origin(scheme: &str, host: &str, port: &str) -> String {
    match port {
        "" | "0" => format!("{scheme}://{host}"),
        port => format!("{scheme}://{host}:{port}"),
    }
}

fn chromium(dir: &Path) -> Result<Found, String> {
    let mut found = Found::default();
    for entry in entries(&dir.join("IndexedDB")) {
        if let Some(origin) = chromium_origin(&entry) {
            found.dirs.push(dir.join("IndexedDB").join(&entry));
            found.origins.insert(origin);
        }
    }
    let db = quota_db(dir);
    if std::fs::symlink_metadata(&db).is_ok_and(|m| m.is_file()) {
        let conn = rusqlite::Connection::open_with_flags(
            &db,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| format!("cannot open {}: {e}", db.display()))?;
        let mut query = conn
            .prepare("SELECT id, host, storage_key FROM buckets")
            .map_err(|_| {
                format!(
                    "{} is not a storage database this version understands",
                    db.display()
                )
            })?;
        let rows = query
            .query_map([], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })
            .map_err(|e| e.to_string())?;
        for row in rows {
            let (id, host, key) = row.map_err(|e| e.to_string())?;
            // First-party storage only: a key with `^` is another site's partition.
            if is_ours(&host) && !key.contains('^') {
                found.buckets.push(id);
                found.origins.insert(key.trim_end_matches('/').to_string());
                let bucket_dir = dir.join("WebStorage").join(id.to_string());
                if std::fs::symlink_metadata(&bucket_dir).is_ok_and(|m| m.is_dir()) {
                    found.dirs.push(bucket_dir);
                }
            }
        }
    }
    Ok(found)
}

/// `https://dev.azure.com` from Firefox's folder name `https+++dev.azure.com` (`+port`).
fn firefox_origin(name: &str) -> Option<String> {
    if name.contains('^') {
        return None;
    }
    let (scheme, rest) = name.split_once("+++")?;
    let (host, port) = match rest.split_once('+') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => (host, port),
        Some(_) => return None,
        None => (rest, ""),
    };
    (matches!(scheme, "https" | "http") && is_ours(host)).then(|| origin(scheme, host, port))
}

fn firefox(dir: &Path) -> Found {
    let mut found = Found::default();
    let default = dir.join("storage").join("default");
    for entry in entries(&default) {
        if let Some(origin) = firefox_origin(&entry) {
            found.dirs.push(default.join(&entry));
            found.origins.insert(origin);
        }
    }
    found
}

/// Marks Firefox's cache of the storage folders stale, so its next start reads them again.
fn invalidate_firefox_cache(dir: &Path) -> Result<(), String> {
    let db = dir.join("storage.sqlite");
    if !std::fs::symlink_metadata(&db).is_ok_and(|m| m.is_file()) {
        return Ok(());
    }
    let conn = rusqlite::Connection::open_with_flags(
        &db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("cannot open {}: {e}", db.display()))?;
    let has_cache: bool = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'cache'",
            [],
            |row| row.get::<_, i64>(0),
        )
        .map(|n| n > 0)
        .unwrap_or(false);
    if has_cache {
        conn.execute("UPDATE cache SET valid = 0", [])
            .map_err(|e| format!("cannot change {}: {e}", db.display()))?;
    }
    Ok(())
}

/// The names of the folders directly in `dir` (not links).
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_read_from_folder_names_exactly() {
        assert_eq!(
            chromium_origin("https_dev.azure.com_0.indexeddb.leveldb").as_deref(),
            Some("https://dev.azure.com")
        );
        assert_eq!(
            chromium_origin("http_dev.azure.com_18765.indexeddb.blob").as_deref(),
            Some("http://dev.azure.com:18765")
        );
        assert_eq!(
            chromium_origin("https_contoso.visualstudio.com_0.indexeddb.leveldb").as_deref(),
            Some("https://contoso.visualstudio.com")
        );
        for other in [
            "https_dev.azure.com.evil.example_0.indexeddb.leveldb",
            "https_notdev.azure.com_0.indexeddb.leveldb",
            "https_example.com_0.indexeddb.leveldb",
            "https_dev.azure.com_0.other",
        ] {
            assert_eq!(chromium_origin(other), None, "{other}");
        }
        assert_eq!(
            firefox_origin("https+++dev.azure.com").as_deref(),
            Some("https://dev.azure.com")
        );
        assert_eq!(
            firefox_origin("http+++dev.azure.com+18765").as_deref(),
            Some("http://dev.azure.com:18765")
        );
        for other in [
            "https+++dev.azure.com^partitionKey=%28https%2Cexample.com%29",
            "https+++example.com",
            "https+++dev.azure.com.evil.example",
            "moz-extension+++abc",
        ] {
            assert_eq!(firefox_origin(other), None, "{other}");
        }
    }
}
