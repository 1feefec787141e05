//! Reads and deletes cookies in a browser's SQLite cookie store, by cookie domain only.
//!
//! Reading for a plan opens the store immutable and read-only, so a plan writes nothing, not
//! even SQLite's lock or journal files. Deleting runs in one `BEGIN IMMEDIATE` transaction
//! through SQLite itself, so the store's own journal mode protects it: a crash leaves it as it
//! was. Cookie values are never read.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::Family;
use crate::agent::hosts;

/// Why a store could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CookieError {
    #[error("the browser is using it")]
    InUse,
    #[error("it is not a cookie store this version understands")]
    Unknown,
    #[error("{0}")]
    Other(String),
}

impl From<rusqlite::Error> for CookieError {
    fn from(err: rusqlite::Error) -> CookieError {
        match err.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => CookieError::InUse,
            _ => CookieError::Other(err.to_string()),
        }
    }
}

/// Which cookie domains to remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scope {
    /// Also Microsoft sign-in (opt-in by the admin).
    pub microsoft_sign_in: bool,
}

impl Scope {
    pub(crate) fn matches(&self, domain: &str) -> bool {
        hosts::is_ado_cookie_domain(domain)
            || (self.microsoft_sign_in && hosts::is_microsoft_sign_in_domain(domain))
    }
}

fn table(family: Family) -> (&'static str, &'static str) {
    match family {
        Family::Chromium => ("cookies", "host_key"),
        Family::Firefox => ("moz_cookies", "host"),
    }
}

/// How many cookies each matching domain has, read without writing anything. A store that is
/// a symbolic link or not a regular file is not opened (the engine's path guard refuses it for
/// the delete too).
pub(crate) fn count(
    store: &Path,
    family: Family,
    scope: Scope,
) -> Result<BTreeMap<String, usize>, CookieError> {
    match std::fs::symlink_metadata(store) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => {
            return Err(CookieError::Other(
                "it is a symbolic link or not a regular file, so it is left alone".into(),
            ));
        }
        Err(err) => return Err(CookieError::Other(err.to_string())),
    }
    let uri = url::Url::from_file_path(store)
        .map_err(|()| CookieError::Other("the path cannot be opened".into()))?;
    let conn = Connection::open_with_flags(
        format!("{uri}?immutable=1"),
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW,
    )?;
    count_in(&conn, family, scope)
}

fn count_in(
    conn: &Connection,
    family: Family,
    scope: Scope,
) -> Result<BTreeMap<String, usize>, CookieError> {
    let (table, column) = table(family);
    let sql = format!("SELECT {column}, COUNT(*) FROM {table} GROUP BY {column}");
    let mut statement = conn
        .prepare(&sql)
        .map_err(|err| match err.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => CookieError::InUse,
            _ => CookieError::Unknown,
        })?;
    let rows = statement.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
    })?;
    let mut found = BTreeMap::new();
    for row in rows {
        let (domain, n) = row?;
        if scope.matches(&domain) {
            found.insert(domain, usize::try_from(n).unwrap_or(0));
        }
    }
    Ok(found)
}

/// Deletes every cookie of the matching domains in one transaction; returns how many.
pub(crate) fn delete(store: &Path, family: Family, scope: Scope) -> Result<usize, CookieError> {
    let mut conn = Connection::open_with_flags(
        store,
        // NOFOLLOW: a store swapped for a link after the engine's check is refused by SQLite
        // itself, on the open that deletes.
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW,
    )?;
    conn.busy_timeout(Duration::from_millis(500))?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Domains are matched in Rust, exactly as `count` does, and deleted one by one.
    let domains: Vec<String> = count_in(&tx, family, scope)?.into_keys().collect();
    let (table, column) = table(family);
    let mut deleted = 0;
    for domain in &domains {
        deleted += tx.execute(
            &format!("DELETE FROM {table} WHERE {column} = ?1"),
            [domain],
        )?;
    }
    tx.commit()?;
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &Path) -> std::path::PathBuf {
        let path = dir.join("Cookies");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE cookies(host_key TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL);
             INSERT INTO cookies VALUES ('.dev.azure.com','UserAuthentication','s1');
             INSERT INTO cookies VALUES ('vssps.dev.azure.com','a','s2');
             INSERT INTO cookies VALUES ('.dev.azure.com.evil.example','a','keep');
             INSERT INTO cookies VALUES ('login.microsoftonline.com','ESTSAUTH','keep');
             INSERT INTO cookies VALUES ('github.com','user_session','keep');",
        )
        .unwrap();
        path
    }

    #[test]
    fn counting_writes_nothing_and_deleting_takes_only_ours() {
        let dir = tempfile::tempdir().unwrap();
        let path = store(dir.path());
        let before = std::fs::read(&path).unwrap();
        let scope = Scope {
            microsoft_sign_in: false,
        };
        let counted = count(&path, Family::Chromium, scope).unwrap();
        assert_eq!(counted.values().sum::<usize>(), 2, "{counted:?}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no journal files"
        );

        assert_eq!(delete(&path, Family::Chromium, scope).unwrap(), 2);
        let conn = Connection::open(&path).unwrap();
        let left: Vec<String> = conn
            .prepare("SELECT host_key FROM cookies ORDER BY host_key")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            left,
            [
                ".dev.azure.com.evil.example",
                "github.com",
                "login.microsoftonline.com"
            ]
        );
    }

    #[test]
    fn microsoft_sign_in_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = store(dir.path());
        let scope = Scope {
            microsoft_sign_in: true,
        };
        assert_eq!(delete(&path, Family::Chromium, scope).unwrap(), 3);
    }

    #[test]
    fn a_store_in_use_is_reported_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let path = store(dir.path());
        let holder = Connection::open(&path).unwrap();
        holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let err = delete(
            &path,
            Family::Chromium,
            Scope {
                microsoft_sign_in: false,
            },
        )
        .unwrap_err();
        assert!(matches!(err, CookieError::InUse), "{err:?}");
    }

    #[cfg(unix)]
    #[test]
    fn a_store_swapped_for_a_link_is_not_opened_to_delete() {
        let dir = tempfile::tempdir().unwrap();
        let real = store(dir.path());
        let link = dir.path().join("Cookies-link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let before = std::fs::read(&real).unwrap();
        let scope = Scope {
            microsoft_sign_in: false,
        };
        assert!(delete(&link, Family::Chromium, scope).is_err());
        assert_eq!(std::fs::read(&real).unwrap(), before);
    }

    #[test]
    fn something_else_is_not_a_cookie_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cookies.sqlite");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE other(x)")
            .unwrap();
        let err = count(
            &path,
            Family::Firefox,
            Scope {
                microsoft_sign_in: false,
            },
        )
        .unwrap_err();
        assert!(matches!(err, CookieError::Unknown), "{err:?}");
    }
}
