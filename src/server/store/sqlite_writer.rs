//! The SQLite writer: one thread with its own connection (SQLite has one writer at a time
//! anyway) that takes whatever reports are queued, up to [`BATCH`], and stores them in one
//! transaction; a batch that fails is written again one report at a time, so one bad report
//! fails alone (as on PostgreSQL). It runs the same statements as the PostgreSQL writer
//! ([`super::sql`]) through rusqlite's cached prepared statements: a round trip per statement
//! through an async driver is what limited ingest. Counters are added once a batch
//! ([`Counts`]). Readers (the dashboard, the API) use the sqlx pool on the same file (WAL mode).

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, params};

use super::ingest::{Counts, DeviceKey, Saved, done_before, not_stored, writer_stopped};
use super::sqlite_checkpoint::{Checkpointer, WRITER_FRAMES};
use super::{Row, StoreError, Stored, sql};

/// The most reports committed at once.
const BATCH: usize = 256;

/// Prepared statements kept: more than the writer has (19 now), so none is prepared twice.
const STATEMENTS: usize = 64;

type Reply = tokio::sync::oneshot::Sender<Result<Saved, String>>;

/// The queue to the writer thread. The thread ends when the last clone is dropped.
#[derive(Clone)]
pub(super) struct Writer {
    queue: mpsc::SyncSender<(Row, Reply)>,
}

impl Writer {
    /// Opens the writer's connection and starts its thread.
    pub(super) fn start(path: &Path) -> rusqlite::Result<Writer> {
        let conn = open(path)?;
        let checkpointer = Checkpointer::start(path)?;
        let (queue, jobs) = mpsc::sync_channel(4 * BATCH);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, jobs, checkpointer))
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(Writer { queue })
    }

    /// Stores one report (and enrolls its device when asked); waits for its batch to commit.
    pub(super) async fn store(&self, row: Row) -> Result<Saved, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        match self.queue.try_send((row, reply)) {
            Ok(()) => {}
            Err(mpsc::TrySendError::Full(job)) => {
                // The queue is bounded: waiting for room must not hold up the async runtime.
                let queue = self.queue.clone();
                let sent = tokio::task::spawn_blocking(move || queue.send(job).is_ok())
                    .await
                    .unwrap_or(false);
                if !sent {
                    return Err(writer_stopped());
                }
            }
            Err(mpsc::TrySendError::Disconnected(_)) => return Err(writer_stopped()),
        }
        answer
            .await
            .map_err(|_| writer_stopped())?
            .map_err(not_stored)
    }
}

/// The writer's connection to the database at `path`.
pub(super) fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // A statement that may stop halfway inside a transaction (an upsert, one with triggers)
    // journals the pages it changes first, so they can be put back; past 64 KiB SQLite spilled
    // that journal to a temporary file (a tenth of the writer's time in write calls when each
    // report had a savepoint). In memory it stays, freed when the statement ends.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // The writer's pages stay valid between its commits (only it writes), so a larger cache
    // keeps the indexes it updates in memory: 32 MiB instead of 2.
    conn.pragma_update(None, "cache_size", -32768)?;
    // The log is copied into the database by a thread of its own; this connection does it
    // only when the log has grown large (see `sqlite_checkpoint`).
    conn.pragma_update(None, "wal_autocheckpoint", WRITER_FRAMES)?;
    // Room for every statement the writer runs: rusqlite keeps 16 by default, and with one
    // more than that, used in turn, each report parsed and planned every statement again
    // (ingest halved when the 17th, the device's group, came).
    conn.set_prepared_statement_cache_capacity(STATEMENTS);
    Ok(conn)
}

fn run(mut conn: Connection, jobs: mpsc::Receiver<(Row, Reply)>, checkpointer: Checkpointer) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let (rows, replies): (Vec<Row>, Vec<Reply>) = batch.into_iter().unzip();
        for (reply, result) in replies.into_iter().zip(store(&mut conn, &rows)) {
            let _ = reply.send(result);
        }
        checkpointer.poke();
    }
}

/// Stores `rows` in one transaction; when that fails, each in a transaction of its own, so
/// that only the report SQLite refuses fails. A savepoint per report did the same at a tenth
/// of the writer's time: SQLite copies every page a savepoint changes first. An error of the
/// whole database (busy, full, unreadable) fails the batch at once: each report would wait
/// for it again, up to the busy timeout each.
fn store(conn: &mut Connection, rows: &[Row]) -> Vec<Result<Saved, String>> {
    match write(conn, rows) {
        Ok(saved) => saved.into_iter().map(Ok).collect(),
        Err(err) if rows.len() > 1 && !of_the_whole_database(&err) => {
            tracing::warn!(
                "a batch of {} reports was not stored ({err}); storing them one at a time",
                rows.len()
            );
            rows.iter()
                .map(|row| match write(conn, std::slice::from_ref(row)) {
                    Ok(mut saved) => saved.pop().ok_or_else(|| "nothing stored".to_string()),
                    Err(err) => Err(err.to_string()),
                })
                .collect()
        }
        // Every report gets the answer: a reply dropped unanswered reads "the writer stopped".
        Err(err) => rows.iter().map(|_| Err(err.to_string())).collect(),
    }
}

/// An error no report causes: every report of the batch would meet it again.
fn of_the_whole_database(err: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::*;
    matches!(
        err.sqlite_error_code(),
        Some(
            DatabaseBusy
                | DatabaseLocked
                | SystemIoFailure
                | DiskFull
                | ReadOnly
                | DatabaseCorrupt
                | NotADatabase
                | CannotOpen
                | OutOfMemory
        )
    )
}

/// Stores `rows` in one transaction, in their order: what each one did.
fn write(conn: &mut Connection, rows: &[Row]) -> rusqlite::Result<Vec<Saved>> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut counts = Counts::default();
    let mut saved = Vec::with_capacity(rows.len());
    for row in rows {
        let stored = insert(&tx, row, &mut counts)?;
        let key = match &row.enroll {
            Some(secret) => Some(enroll(&tx, row, secret)?),
            None => None,
        };
        saved.push((stored, key));
    }
    add_counts(&tx, &counts)?;
    tx.commit()?;
    Ok(saved)
}

/// Adds what a batch counted; drops task counts that reached zero.
fn add_counts(conn: &Connection, counts: &Counts) -> rusqlite::Result<()> {
    let mut day = conn.prepare_cached(sql::DAY)?;
    for ((at, outcome), n) in &counts.days {
        day.execute(params![at, outcome, n])?;
    }
    let mut task = conn.prepare_cached(sql::COUNT_TASK)?;
    for ((id, status), delta) in counts.tasks.iter().filter(|(_, delta)| **delta != 0) {
        task.execute(params![id, status, delta])?;
    }
    if counts.tasks.values().any(|delta| *delta < 0) {
        conn.prepare_cached(sql::PRUNE_COUNTS)?.execute([])?;
    }
    Ok(())
}

fn enroll(conn: &Connection, r: &Row, secret: &str) -> rusqlite::Result<DeviceKey> {
    conn.prepare_cached(sql::ENROLL)?
        .execute(params![r.device, r.user, secret, r.id, r.received])?;
    conn.prepare_cached(sql::KEY)?
        .query_row(params![r.device, r.user], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
}

/// The report's inventory, when it carries one and no later report's was taken: a whole list
/// replaces the device's open entries, one cut short adds to them.
fn inventory(conn: &Connection, r: &Row) -> rusqlite::Result<()> {
    let Some(entries) = &r.inventory else {
        return Ok(());
    };
    let taken = conn.prepare_cached(sql::INVENTORY_TAKEN)?.execute(params![
        r.device,
        r.user,
        r.inventory_at
    ])?;
    if taken == 0 {
        return Ok(());
    }
    if r.inventory_whole {
        conn.prepare_cached(sql::INVENTORY_CLOSE)?.execute(params![
            r.inventory_at,
            r.device,
            r.user
        ])?;
    }
    let mut entry = conn.prepare_cached(sql::INVENTORY_ENTRY)?;
    for (org, category, target, kind) in entries {
        entry.execute(params![
            r.device,
            r.user,
            org,
            category,
            target,
            kind,
            r.person,
            r.inventory_at
        ])?;
    }
    Ok(())
}

fn insert(conn: &Connection, r: &Row, counts: &mut Counts) -> rusqlite::Result<Stored> {
    let inserted = conn.prepare_cached(sql::REPORT)?.execute(params![
        r.id,
        r.device,
        r.user,
        r.hostname,
        r.mode,
        r.outcome.as_str(),
        r.agent,
        r.finished,
        r.received,
        r.body
    ])?;
    if inserted == 0 {
        return Ok(Stored::Duplicate);
    }
    counts.stored(r);
    inventory(conn, r)?;
    let latest = conn.prepare_cached(sql::DEVICE)?.execute(params![
        r.device,
        r.user,
        r.upn,
        r.hostname,
        r.os,
        r.agent,
        r.mode,
        r.outcome.as_str(),
        r.reason,
        r.id,
        r.finished,
        r.label,
        r.group,
        r.verification()
    ])?;
    if latest == 0 {
        conn.prepare_cached(sql::OLDER)?
            .execute(params![r.finished, r.device, r.user])?;
        return Ok(Stored::Accepted);
    }
    let had: Vec<(String, String)> = conn
        .prepare_cached(sql::CLEAR_TASKS)?
        .query_map(params![r.device, r.user], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    conn.prepare_cached(sql::CLEAR_PROBLEMS)?
        .execute(params![r.device, r.user])?;
    let done = done_before(&had);
    let carried = r.carried(&done);
    counts.replaced(&had, &carried);
    let mut task = conn.prepare_cached(sql::TASK)?;
    for (id, status) in carried {
        task.execute(params![r.device, r.user, id, status])?;
    }
    conn.prepare_cached(sql::GROUP)?
        .execute(params![r.device, r.user])?;
    let mut problem = conn.prepare_cached(sql::PROBLEM)?;
    for (id, status, detail) in &r.problems {
        problem.execute(params![r.device, r.user, id, status, detail])?;
    }
    if !r.orgs.is_empty() {
        let mut org = conn.prepare_cached(sql::ORG)?;
        for (name, switch, verified) in &r.orgs {
            org.execute(params![r.device, r.user, name, switch, verified, r.id])?;
        }
        conn.prepare_cached(sql::STALE_ORGS)?
            .execute(params![r.device, r.user, r.id])?;
        if r.verification().is_none() {
            conn.prepare_cached(sql::VERIFIED)?
                .execute(params![r.device, r.user])?;
        }
    }
    Ok(Stored::Accepted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::store::Store;
    use crate::server::store::ingest::tests::row;

    /// A migrated database in `dir` and the writer's connection to it.
    fn database(dir: &Path) -> Connection {
        let path = dir.join("db.sqlite");
        let url = format!("sqlite://{}", path.display());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        drop(runtime.block_on(Store::open(&url, true)).unwrap());
        open(&path).unwrap()
    }

    fn count(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn a_report_sqlite_refuses_fails_alone_and_the_rest_of_its_batch_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = database(dir.path());
        conn.execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON devices WHEN new.device_id = 'bad'
             BEGIN SELECT RAISE(ABORT, 'refused by a test'); END",
        )
        .unwrap();
        let rows = [row("r1", "one"), row("r2", "bad"), row("r3", "three")];
        let results = store(&mut conn, &rows);
        assert!(
            matches!(results[0], Ok((Stored::Accepted, None))),
            "{results:?}"
        );
        assert!(
            matches!(&results[1], Err(e) if e.contains("refused by a test")),
            "{results:?}"
        );
        assert!(
            matches!(results[2], Ok((Stored::Accepted, None))),
            "{results:?}"
        );
        // Nothing of the refused report stays, and the others are counted once.
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM reports"), 2);
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM devices"), 2);
        assert_eq!(count(&conn, "SELECT SUM(reports) FROM report_days"), 2);
    }

    /// Times the writer's connection found the database busy (a first try each).
    static BUSY: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    #[test]
    fn a_busy_database_fails_the_batch_once_not_each_report() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = database(dir.path());
        conn.busy_handler(Some(|tries| {
            if tries == 0 {
                BUSY.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            false
        }))
        .unwrap();
        // Another writer holds the database.
        let other = Connection::open(dir.path().join("db.sqlite")).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let rows = [row("r1", "one"), row("r2", "two"), row("r3", "three")];
        let results = store(&mut conn, &rows);
        assert_eq!(results.len(), rows.len(), "{results:?}");
        assert!(
            results
                .iter()
                .all(|r| matches!(r, Err(e) if e.contains("locked"))),
            "{results:?}"
        );
        assert_eq!(BUSY.load(std::sync::atomic::Ordering::SeqCst), 1);
        other.execute_batch("ROLLBACK").unwrap();
        assert!(store(&mut conn, &rows).iter().all(Result::is_ok));
    }

    #[test]
    fn a_batch_counts_each_devices_latest_statuses_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = database(dir.path());
        let with = |id: &str, device: &str, finished: i64, statuses: &[(&str, &str)]| {
            let mut r = row(id, device);
            r.finished = finished;
            r.statuses = statuses
                .iter()
                .map(|(t, s)| (t.to_string(), s.to_string()))
                .collect();
            r
        };
        // One batch: a device's two reports in order, another device's one.
        let first = [
            with("a1", "a", 1, &[("gcm", "done"), ("ssh", "failed")]),
            with("a2", "a", 2, &[("gcm", "ok"), ("ssh", "done")]),
            with("b1", "b", 1, &[("gcm", "failed")]),
        ];
        assert!(store(&mut conn, &first).iter().all(Result::is_ok));
        // The next batch: b's earlier report comes late, then a later one that finishes it.
        let second = [
            with("b0", "b", 0, &[("gcm", "ok")]),
            with("b2", "b", 2, &[("gcm", "done")]),
        ];
        assert!(store(&mut conn, &second).iter().all(Result::is_ok));

        let counts: Vec<(String, String, i64)> = conn
            .prepare("SELECT task_id, status, devices FROM task_counts ORDER BY 1, 2")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        // a: gcm carried "done" (it was done before, and is "ok" now); ssh done. b: gcm done.
        // No count is left at zero or below.
        assert_eq!(
            counts,
            [
                ("gcm".to_string(), "done".to_string(), 2),
                ("ssh".to_string(), "done".to_string(), 1),
            ]
        );
        assert_eq!(count(&conn, "SELECT SUM(reports) FROM report_days"), 5);
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM task_status"), 3);
    }
}
