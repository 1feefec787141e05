//! SQLite's checkpoints, off the writer's thread. In WAL mode every commit appends the pages it
//! changed to the log, and a checkpoint copies them back into the database file (and syncs
//! both). SQLite checkpoints on the committing connection, by default every 1,000 pages: under
//! load that was every ~20 ms on the report writer's own thread, a quarter of its time copying
//! and waiting for the disk while no report was written (docs/BENCHMARKS.md, 2026-12-01).
//!
//! Here a thread with its own connection copies the log after the writer's commits, at most
//! every [`PAUSE`], while the writer goes on (a checkpoint never blocks a writer). The writer
//! still checkpoints itself when the log reaches [`WRITER_FRAMES`] pages: the log only starts
//! again from its beginning when a commit finds it all copied, which under steady load happens
//! only when the writer checks between its own batches, so the writer's checkpoint is the one
//! that keeps the log's size bounded. By then this thread has copied all but the last pages,
//! so the writer waits for those only. When this thread is gone or failing, the writer's
//! checkpoint alone keeps the database whole, as SQLite's default did.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;

/// The log's size (pages) at which the writer checkpoints itself (16 MiB of 4 KiB pages).
pub(super) const WRITER_FRAMES: i64 = 4096;

/// The least time between two checkpoints of this thread: a page changed by many batches in
/// that time is copied once.
const PAUSE: Duration = Duration::from_millis(20);

/// Wakes the checkpoint thread; the thread ends when this is dropped.
pub(super) struct Checkpointer {
    poke: mpsc::SyncSender<()>,
}

impl Checkpointer {
    /// Opens the thread's connection to the database at `path` and starts it.
    pub(super) fn start(path: &Path) -> rusqlite::Result<Checkpointer> {
        let conn = Connection::open(path)?;
        // The writer's own checkpoint may hold the checkpoint lock; this one then skips a turn
        // (a passive checkpoint does not wait), so no busy timeout is needed beyond a short one.
        conn.busy_timeout(Duration::from_millis(100))?;
        // This connection never commits, so it never checkpoints on its own.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let (poke, pokes) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&conn, &pokes))
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(Checkpointer { poke })
    }

    /// Says that the log grew; never waits (a wake-up already pending stands for this one).
    pub(super) fn poke(&self) {
        let _ = self.poke.try_send(());
    }
}

fn run(conn: &Connection, pokes: &mpsc::Receiver<()>) {
    let mut warned = false;
    while pokes.recv().is_ok() {
        std::thread::sleep(PAUSE);
        // Commits during the pause are copied by this checkpoint too.
        while pokes.try_recv().is_ok() {}
        match checkpoint(conn) {
            Ok(()) => warned = false,
            Err(err) if !warned => {
                warned = true;
                tracing::warn!(
                    "copying SQLite's log into the database failed ({err}); the report writer copies it itself until this works again"
                );
            }
            Err(_) => {}
        }
    }
}

/// One passive checkpoint: copies what no reader still needs from the log; never waits for
/// the writer or the readers.
fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::store::sqlite_writer;

    const PAGE: u64 = 4096;

    fn writer(dir: &Path) -> Connection {
        let conn = sqlite_writer::open(&dir.join("db.sqlite")).unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY, body BLOB NOT NULL)")
            .unwrap();
        conn
    }

    /// What the database file holds without its log: only what a checkpoint copied.
    fn rows_in_file_alone(dir: &Path) -> i64 {
        let copy = dir.join("copy.sqlite");
        std::fs::copy(dir.join("db.sqlite"), &copy).unwrap();
        let conn = Connection::open(&copy).unwrap();
        conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap_or(0)
    }

    #[test]
    fn the_log_is_copied_into_the_database_after_a_commit() {
        let dir = tempfile::tempdir().unwrap();
        let conn = writer(dir.path());
        let checkpointer = Checkpointer::start(&dir.path().join("db.sqlite")).unwrap();
        // A few pages: far below the writer's own threshold, so only the thread copies them.
        for n in 0..3 {
            conn.execute("INSERT INTO t VALUES (?1, zeroblob(100))", [n])
                .unwrap();
        }
        assert_eq!(rows_in_file_alone(dir.path()), 0, "nothing copied yet");
        checkpointer.poke();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while rows_in_file_alone(dir.path()) < 3 {
            assert!(
                std::time::Instant::now() < deadline,
                "the log was not copied within 20 s of the poke"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn the_log_starts_over_under_steady_writes() {
        let dir = tempfile::tempdir().unwrap();
        let conn = writer(dir.path());
        let checkpointer = Checkpointer::start(&dir.path().join("db.sqlite")).unwrap();
        let wal = dir.path().join("db.sqlite-wal");
        let mut largest = 0;
        // Four times the writer's threshold in commits of a page or two each, back to back as
        // under load: the log must start over, not grow with every commit. (It may pass the
        // threshold a little: the writer's checkpoint skips a commit while the thread's runs.)
        let commits = 4 * WRITER_FRAMES;
        for n in 0..commits {
            conn.execute("INSERT INTO t VALUES (?1, zeroblob(3000))", [n])
                .unwrap();
            checkpointer.poke();
            largest = largest.max(std::fs::metadata(&wal).unwrap().len());
        }
        let bound = (WRITER_FRAMES as u64 * 3 / 2) * (PAGE + 24);
        assert!(
            largest <= bound,
            "the log grew to {largest} bytes, more than {bound}"
        );
        let count: i64 = conn
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, commits);
    }
}
