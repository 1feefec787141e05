//! The SQLite writer: one thread with its own connection (SQLite has one writer at a time
//! anyway) that takes whatever reports are queued, up to [`BATCH`], and stores them in one
//! transaction with a savepoint each, so one bad report does not undo the others. It runs the
//! same statements as the PostgreSQL writer ([`super::sql`]) through rusqlite's cached prepared
//! statements: a round trip per statement through an async driver is what limited ingest.
//! Readers (the dashboard, the API) use the sqlx pool on the same file (WAL mode).

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, params};

use super::ingest::{DeviceKey, Saved, not_stored, writer_stopped};
use super::sqlite_checkpoint::{Checkpointer, WRITER_FRAMES};
use super::{Row, StoreError, Stored, sql};

/// The most reports committed at once.
const BATCH: usize = 256;

/// Prepared statements kept: more than the writer has (18 now), so none is prepared twice.
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
    // Each report's savepoint journals the pages it changes first; past 64 KiB (a report
    // changes more) SQLite spilled that journal to a temporary file, a tenth of the
    // writer's time in write calls. In memory it stays (freed at each commit).
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
        let results = match write(&mut conn, &batch) {
            Ok(results) => results,
            Err(err) => batch.iter().map(|_| Err(err.to_string())).collect(),
        };
        for ((_, reply), result) in batch.into_iter().zip(results) {
            let _ = reply.send(result);
        }
        checkpointer.poke();
    }
}

fn write(
    conn: &mut Connection,
    batch: &[(Row, Reply)],
) -> rusqlite::Result<Vec<Result<Saved, String>>> {
    let mut tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut results = Vec::with_capacity(batch.len());
    for (row, _) in batch {
        let savepoint = tx.savepoint()?;
        let result = insert(&savepoint, row).and_then(|stored| {
            let key = match &row.enroll {
                Some(secret) => Some(enroll(&savepoint, row, secret)?),
                None => None,
            };
            Ok((stored, key))
        });
        if result.is_ok() {
            savepoint.commit()?;
        }
        // A failed report's savepoint rolls back when dropped.
        results.push(result.map_err(|e| e.to_string()));
    }
    tx.commit()?;
    Ok(results)
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

fn insert(conn: &Connection, r: &Row) -> rusqlite::Result<Stored> {
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
    conn.prepare_cached(sql::DAY)?
        .execute(params![r.day, r.outcome.as_str(), 1])?;
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
    let done: Vec<String> = conn
        .prepare_cached(sql::DONE_TASKS)?
        .query_map(params![r.device, r.user], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for clear in [
        sql::UNCOUNT_TASKS,
        sql::PRUNE_COUNTS,
        sql::CLEAR_TASKS,
        sql::CLEAR_PROBLEMS,
    ] {
        conn.prepare_cached(clear)?
            .execute(params![r.device, r.user])?;
    }
    let mut task = conn.prepare_cached(sql::TASK)?;
    let mut count = conn.prepare_cached(sql::COUNT_TASK)?;
    for (id, status) in r.carried(&done) {
        task.execute(params![r.device, r.user, id, status])?;
        count.execute(params![id, status, 1])?;
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
