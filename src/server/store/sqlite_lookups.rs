//! SQLite's point lookups on the calling thread. Every report looks up its token and its
//! device's key, every admin request its token: a read of a row or two by its key, a few
//! microseconds in SQLite. Through sqlx each went to a connection's own worker thread and back
//! (two thread switches, a pool checkout), which cost more than the read; under mixed load the
//! lookups were three of every four reads. Here they run on the thread that asks, on
//! connections of their own (WAL: readers never wait for the writer), kept between lookups.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::StoreError;

/// Idle connections kept: the runtime's worker threads each use at most one at a time.
const KEPT: usize = 8;

pub(super) struct Lookups {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Lookups {
    /// Lookups on the database at `path` (one connection opened now, to fail early).
    pub(super) fn open(path: &Path) -> rusqlite::Result<Lookups> {
        let first = connect(path)?;
        Ok(Lookups {
            path: path.to_path_buf(),
            idle: Mutex::new(vec![first]),
        })
    }

    /// Runs `read` on an idle connection (or a new one), then keeps the connection.
    pub(super) fn with<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => connect(&self.path)?,
        };
        let result = read(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < KEPT {
            idle.push(conn);
        }
        result
    }

    /// The first row of `sql` with `params`, through `map`: the same statement text the sqlx
    /// path runs (SQLite reads `$1`, `$2` as the first and second parameter).
    pub(super) fn row<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        map: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, StoreError> {
        self.with(|conn| conn.prepare_cached(sql)?.query_row(params, map).optional())
            .map_err(|err| StoreError::Setup {
                what: format!("the database failed: {err}"),
                hint: "check the server's disk and database".into(),
            })
    }
}

/// A connection that only reads (the writer writes), waiting briefly if the file is busy.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}
