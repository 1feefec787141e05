//! The PostgreSQL writer: one task per server instance that takes whatever reports are queued,
//! up to [`BATCH`], and stores them in one transaction with a statement per step for the whole
//! batch (the statements of [`super::sql`], their `VALUES` tuple repeated per report).
//!
//! Why: a transaction per report paid a commit and a dozen round trips each, and every report
//! updated the same counter rows, so concurrent reports queued on each other's row locks. Here
//! the counters get one delta per batch, and a batch costs about as many round trips as one
//! report did. Several instances on one database stay correct: each statement touches rows in
//! a fixed order (sorted keys), so two batches wait for each other instead of deadlocking, and
//! a batch that fails anyway (a deadlock, a value PostgreSQL refuses) is written again one
//! report at a time, so only the bad report fails.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use sqlx::Row as _;
use sqlx::postgres::{PgConnection, PgPool, PgRow};
use tokio::sync::{mpsc, oneshot};

use super::ingest::{Counts, Saved, done_before, not_stored, writer_stopped};
use super::{Row, StoreError, Stored, sql};

/// The most reports committed at once.
const BATCH: usize = 256;

/// Writer tasks per instance: while one waits for a round trip or its commit, the other works.
/// Each takes its own share of the devices, so one device's reports are still written in the
/// order they came, and two writers never wait on the same device's rows. Measured with wrk as
/// `.ci/bench-server.py` runs it, on 2 cores: 1 writer 1,430 reports/s, 2 writers 1,640-1,870,
/// 3 1,635, 4 about 1,000 (more writers, smaller batches: the cost per statement is paid more
/// often). docs/BENCHMARKS.md has the way there.
const WRITERS: usize = 2;

type Reply = oneshot::Sender<Result<Saved, String>>;

/// The queues to the writer tasks. The tasks end when the last clone is dropped.
#[derive(Clone)]
pub(super) struct Writer {
    queues: Vec<mpsc::Sender<(Row, Reply)>>,
}

impl Writer {
    /// Starts the writer tasks on the current tokio runtime, with connections of their own (the
    /// native driver: arrays as parameters, which the store's `Any` pool cannot bind).
    pub(super) fn start(url: &str) -> Result<Writer, sqlx::Error> {
        let options = super::setup::keyed_options(url)?;
        let pool =
            super::setup::pool_options::<sqlx::Postgres>(WRITERS as u32).connect_lazy_with(options);
        let queues = (0..WRITERS)
            .map(|_| {
                let (queue, jobs) = mpsc::channel(4 * BATCH);
                tokio::spawn(run(pool.clone(), jobs));
                queue
            })
            .collect();
        Ok(Writer { queues })
    }

    /// Stores one report (and enrolls its device when asked); waits for its batch to commit.
    pub(super) async fn store(&self, row: Row) -> Result<Saved, StoreError> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::hash::DefaultHasher::new();
        (&row.device, &row.user).hash(&mut hasher);
        let queue = &self.queues[hasher.finish() as usize % self.queues.len()];
        let (reply, answer) = oneshot::channel();
        queue
            .send((row, reply))
            .await
            .map_err(|_| writer_stopped())?;
        answer
            .await
            .map_err(|_| writer_stopped())?
            .map_err(not_stored)
    }
}

async fn run(pool: PgPool, mut jobs: mpsc::Receiver<(Row, Reply)>) {
    let mut batch = Vec::with_capacity(BATCH);
    while jobs.recv_many(&mut batch, BATCH).await > 0 {
        let (rows, replies): (Vec<Row>, Vec<Reply>) =
            std::mem::take(&mut batch).into_iter().unzip();
        let all: Vec<&Row> = rows.iter().collect();
        let results = match write(&pool, &all).await {
            Ok(saved) => saved.into_iter().map(Ok).collect(),
            // One at a time, so that one report PostgreSQL refuses fails alone; not when the
            // database itself is away or refusing everything: each report would wait for it.
            Err(err) if all.len() > 1 && !of_the_whole_database(&err) => {
                tracing::warn!(
                    "a batch of {} reports was not stored ({err}); storing them one at a time",
                    all.len()
                );
                let mut results = Vec::with_capacity(all.len());
                for row in &all {
                    results.push(match write(&pool, &[row]).await {
                        Ok(mut saved) => saved.pop().ok_or_else(|| "nothing stored".to_string()),
                        Err(err) => Err(err.to_string()),
                    });
                }
                results
            }
            // Every report gets the answer: a reply dropped unanswered reads "the writer
            // stopped".
            Err(err) => all.iter().map(|_| Err(err.to_string())).collect(),
        };
        for (reply, result) in replies.into_iter().zip(results) {
            let _ = reply.send(result);
        }
    }
}

/// An error no report causes: no connection (the pool's wait, the network), or PostgreSQL
/// refusing the connection or all work (SQLSTATE classes 08 connection, 28 sign-in, 3D no such
/// database, 53 resources such as a full disk, 57 an administrator's shutdown, 58 system).
fn of_the_whole_database(err: &sqlx::Error) -> bool {
    const CLASSES: [&str; 6] = ["08", "28", "3D", "53", "57", "58"];
    match err {
        sqlx::Error::Database(e) => e
            .code()
            .is_some_and(|code| CLASSES.iter().any(|class| code.starts_with(class))),
        _ => true,
    }
}

/// Stores `rows` in one transaction, in their order: what each one did.
async fn write(pool: &PgPool, rows: &[&Row]) -> Result<Vec<Saved>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut saved: Vec<Option<Saved>> = vec![None; rows.len()];
    let mut counts = Counts::default();
    for round in rounds(rows) {
        let part: Vec<&Row> = round.iter().map(|&i| rows[i]).collect();
        let round_saved = write_round(&mut tx, &part, &mut counts).await?;
        for (i, result) in round.into_iter().zip(round_saved) {
            saved[i] = Some(result);
        }
    }
    // Every report has its result, or none does: a missing one would shift the answers.
    let saved: Vec<Saved> = saved
        .into_iter()
        .map(|result| result.ok_or_else(|| sqlx::Error::Protocol("a report was skipped".into())))
        .collect::<Result<_, _>>()?;
    counts.apply(&mut tx).await?;
    tx.commit().await?;
    Ok(saved)
}

/// Splits a batch into rounds that each name a device and user, and a report id, at most once
/// (one statement may not change a row twice), keeping each device's reports in order.
fn rounds(rows: &[&Row]) -> Vec<Vec<usize>> {
    /// The devices and report ids of a round, and its rows.
    type Round<'a> = (HashSet<(&'a str, &'a str)>, HashSet<&'a str>, Vec<usize>);
    let mut rounds: Vec<Round> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let key = (row.device.as_str(), row.user.as_str());
        // After the last round that has this device or report, so their order is kept.
        let after = rounds
            .iter()
            .rposition(|(keys, ids, _)| keys.contains(&key) || ids.contains(row.id.as_str()))
            .map_or(0, |last| last + 1);
        if after == rounds.len() {
            rounds.push(Default::default());
        }
        let (keys, ids, members) = &mut rounds[after];
        keys.insert(key);
        ids.insert(row.id.as_str());
        members.push(i);
    }
    rounds.into_iter().map(|(_, _, members)| members).collect()
}

/// One value to bind.
#[derive(Clone, Copy)]
enum Arg<'a> {
    Text(&'a str),
    Maybe(Option<&'a str>),
    Int(i64),
}

use Arg::{Int, Maybe, Text};

/// The values of one parameter across a batch: bound as one array.
enum Column<'a> {
    Text(Vec<&'a str>),
    Maybe(Vec<Option<&'a str>>),
    Int(Vec<i64>),
}

impl Column<'_> {
    /// The PostgreSQL type of its elements.
    fn kind(&self) -> &'static str {
        match self {
            Column::Text(_) | Column::Maybe(_) => "text",
            Column::Int(_) => "int8",
        }
    }
}

/// Runs `statement` once for all of `tuples` (its `VALUES` tuple taking them as columns,
/// [`sql::unnest`]); the rows it returns. Nothing to run for no tuples.
async fn each(
    conn: &mut PgConnection,
    statement: &str,
    tuples: &[Vec<Arg<'_>>],
) -> Result<Vec<PgRow>, sqlx::Error> {
    let Some((text, columns)) = unnested(statement, tuples)? else {
        return Ok(Vec::new());
    };
    bound(sqlx::query(sqlx::AssertSqlSafe(text)), columns)
        .fetch_all(&mut *conn)
        .await
}

/// Runs statements over columns (as [`each`]) in one round trip, [`sql::together`]: for
/// statements on different tables that do not read what the others change. Those without
/// tuples are left out.
async fn together(
    conn: &mut PgConnection,
    parts: &[(&str, &[Vec<Arg<'_>>])],
) -> Result<(), sqlx::Error> {
    let mut texts = Vec::new();
    let mut all = Vec::new();
    for (statement, tuples) in parts {
        if let Some((text, columns)) = unnested(statement, tuples)? {
            texts.push((text, columns.len()));
            all.extend(columns);
        }
    }
    if texts.is_empty() {
        return Ok(());
    }
    let parts: Vec<(&str, usize)> = texts.iter().map(|(t, n)| (t.as_str(), *n)).collect();
    bound(sqlx::query(sqlx::AssertSqlSafe(sql::together(&parts))), all)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// `statement` made to take `tuples` as columns ([`sql::unnest`]), and the columns; none for
/// no tuples. The text depends only on the statement and its types, so it is prepared once per
/// connection whatever the batch's size.
fn unnested<'a>(
    statement: &str,
    tuples: &[Vec<Arg<'a>>],
) -> Result<Option<(String, Vec<Column<'a>>)>, sqlx::Error> {
    let Some(columns) = columns(tuples)? else {
        return Ok(None);
    };
    let kinds: Vec<&str> = columns.iter().map(Column::kind).collect();
    Ok(Some((sql::unnest(statement, &kinds), columns)))
}

/// `tuples` as columns, one per parameter; none for no tuples.
fn columns<'a>(tuples: &[Vec<Arg<'a>>]) -> Result<Option<Vec<Column<'a>>>, sqlx::Error> {
    let Some(first) = tuples.first() else {
        return Ok(None);
    };
    let mut columns: Vec<Column> = first
        .iter()
        .map(|arg| match arg {
            Text(_) => Column::Text(Vec::with_capacity(tuples.len())),
            Maybe(_) => Column::Maybe(Vec::with_capacity(tuples.len())),
            Int(_) => Column::Int(Vec::with_capacity(tuples.len())),
        })
        .collect();
    for tuple in tuples {
        for (column, arg) in columns.iter_mut().zip(tuple) {
            match (column, *arg) {
                (Column::Text(values), Text(value)) => values.push(value),
                (Column::Maybe(values), Maybe(value)) => values.push(value),
                (Column::Maybe(values), Text(value)) => values.push(Some(value)),
                (Column::Int(values), Int(value)) => values.push(value),
                _ => return Err(sqlx::Error::Protocol("a batch mixes value kinds".into())),
            }
        }
    }
    Ok(Some(columns))
}

/// `query` with each column bound as one array.
fn bound<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    columns: Vec<Column<'q>>,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    for column in columns {
        query = match column {
            Column::Text(values) => query.bind(values),
            Column::Maybe(values) => query.bind(values),
            Column::Int(values) => query.bind(values),
        };
    }
    query
}

/// A device and user.
type Key = (String, String);

fn key_of(row: &PgRow) -> Key {
    (row.get(0), row.get(1))
}

/// Stores a round of reports that name each device and each report once.
async fn write_round(
    conn: &mut PgConnection,
    rows: &[&Row],
    counts: &mut Counts,
) -> Result<Vec<Saved>, sqlx::Error> {
    // In key order, so that concurrent batches lock shared rows in the same order.
    let mut order: Vec<&Row> = rows.to_vec();
    order.sort_by(|a, b| (&a.device, &a.user).cmp(&(&b.device, &b.user)));

    let reports: Vec<Vec<Arg>> = order
        .iter()
        .map(|r| {
            vec![
                Text(&r.id),
                Text(&r.device),
                Text(&r.user),
                Text(&r.hostname),
                Text(&r.mode),
                Text(r.outcome.as_str()),
                Text(&r.agent),
                Int(r.finished),
                Int(r.received),
                Text(&r.body),
            ]
        })
        .collect();
    let returning = format!("{}{}", sql::REPORT, sql::batch::RETURNING_REPORT);
    let new: HashSet<String> = each(conn, &returning, &reports)
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let fresh: Vec<&Row> = order
        .iter()
        .copied()
        .filter(|r| new.contains(&r.id))
        .collect();

    if !fresh.is_empty() {
        store_fresh(conn, &fresh, counts).await?;
    }
    let keys = enroll(conn, &order).await?;

    Ok(rows
        .iter()
        .map(|r| {
            let stored = if new.contains(&r.id) {
                Stored::Accepted
            } else {
                Stored::Duplicate
            };
            let key = r
                .enroll
                .as_ref()
                .and_then(|_| keys.get(&(r.device.clone(), r.user.clone())).cloned());
            (stored, key)
        })
        .collect())
}

/// The device rows, statuses, problems and organizations of reports stored for the first time
/// (in key order), and what they add to the counts.
async fn store_fresh(
    conn: &mut PgConnection,
    fresh: &[&Row],
    counts: &mut Counts,
) -> Result<(), sqlx::Error> {
    for r in fresh {
        counts.stored(r);
    }

    let devices: Vec<Vec<Arg>> = fresh
        .iter()
        .map(|r| {
            vec![
                Text(&r.device),
                Text(&r.user),
                Maybe(r.upn.as_deref()),
                Text(&r.hostname),
                Text(&r.os),
                Text(&r.agent),
                Text(&r.mode),
                Text(r.outcome.as_str()),
                Maybe(r.reason.as_deref()),
                Text(&r.id),
                Int(r.finished),
                Maybe(r.label.as_deref()),
                Maybe(r.group.as_deref()),
                Maybe(r.verification()),
            ]
        })
        .collect();
    inventories(conn, fresh).await?;
    let returning = format!("{}{}", sql::DEVICE, sql::batch::RETURNING_DEVICE);
    let latest: HashSet<Key> = each(conn, &returning, &devices)
        .await?
        .iter()
        .map(key_of)
        .collect();
    let is_latest = |r: &&&Row| latest.contains(&(r.device.clone(), r.user.clone()));
    let (newest, older): (Vec<&Row>, Vec<&Row>) = fresh.iter().partition(is_latest);

    let older: Vec<Vec<Arg>> = older
        .iter()
        .map(|r| vec![Text(&r.device), Text(&r.user), Int(r.finished)])
        .collect();
    if !older.is_empty() {
        each(conn, sql::batch::OLDER, &older).await?;
    }
    if !newest.is_empty() {
        replace_latest(conn, &newest, counts).await?;
    }
    Ok(())
}

/// The inventories of reports stored for the first time (each device once in a round), where
/// no later report's was taken: each replaces its device's open entries.
async fn inventories(conn: &mut PgConnection, fresh: &[&Row]) -> Result<(), sqlx::Error> {
    let taking: Vec<&Row> = fresh
        .iter()
        .copied()
        .filter(|r| r.inventory.is_some())
        .collect();
    if taking.is_empty() {
        return Ok(());
    }
    let at: Vec<Vec<Arg>> = taking
        .iter()
        .map(|r| vec![Text(&r.device), Text(&r.user), Int(r.inventory_at)])
        .collect();
    let returning = format!("{}{}", sql::INVENTORY_TAKEN, sql::batch::RETURNING_TAKEN);
    let taken: HashSet<Key> = each(conn, &returning, &at)
        .await?
        .iter()
        .map(key_of)
        .collect();
    let taken: Vec<&Row> = taking
        .into_iter()
        .filter(|r| taken.contains(&(r.device.clone(), r.user.clone())))
        .collect();
    // Only a whole list closes what it no longer has; one cut short adds to the open entries.
    let close: Vec<Vec<Arg>> = taken
        .iter()
        .filter(|r| r.inventory_whole)
        .map(|r| vec![Text(&r.device), Text(&r.user), Int(r.inventory_at)])
        .collect();
    if !close.is_empty() {
        each(conn, sql::batch::INVENTORY_CLOSE, &close).await?;
    }
    let entries: Vec<Vec<Arg>> = taken
        .iter()
        .flat_map(|r| {
            r.inventory
                .iter()
                .flatten()
                .map(|(org, category, target, kind)| {
                    vec![
                        Text(&r.device),
                        Text(&r.user),
                        Text(org),
                        Text(category),
                        Text(target),
                        Text(kind),
                        Text(&r.person),
                        Int(r.inventory_at),
                    ]
                })
        })
        .collect();
    each(conn, sql::INVENTORY_ENTRY, &entries).await?;
    Ok(())
}

/// For devices whose latest report is new: their task statuses (and how the counts over them
/// move), their problems, organizations and verification.
async fn replace_latest(
    conn: &mut PgConnection,
    newest: &[&Row],
    counts: &mut Counts,
) -> Result<(), sqlx::Error> {
    let keys: Vec<Vec<Arg>> = newest
        .iter()
        .map(|r| vec![Text(&r.device), Text(&r.user)])
        .collect();
    let mut before: BTreeMap<Key, Vec<(String, String)>> = BTreeMap::new();
    for row in each(conn, sql::batch::CLEAR_TASKS, &keys).await? {
        before
            .entry(key_of(&row))
            .or_default()
            .push((row.get(2), row.get(3)));
    }
    // The counts move by what each device had before and has now.
    let mut tasks: Vec<Vec<Arg>> = Vec::new();
    let empty = Vec::new();
    let had: Vec<&Vec<(String, String)>> = newest
        .iter()
        .map(|r| {
            before
                .get(&(r.device.clone(), r.user.clone()))
                .unwrap_or(&empty)
        })
        .collect();
    let done: Vec<Vec<String>> = had.iter().map(|had| done_before(had)).collect();
    for ((r, had), done) in newest.iter().zip(&had).zip(&done) {
        let carried = r.carried(done);
        counts.replaced(had, &carried);
        for (task, status) in carried {
            tasks.push(vec![
                Text(&r.device),
                Text(&r.user),
                Text(task),
                Text(status),
            ]);
        }
    }
    // Each round trip waits for both sides to be scheduled on a busy machine, so statements
    // that neither read nor change each other's tables go together (15 round trips a batch
    // became 11: ingest +3 %, docs/BENCHMARKS.md).
    together(
        conn,
        &[
            (sql::batch::CLEAR_PROBLEMS, &keys),
            (sql::batch::GROUP, &keys),
        ],
    )
    .await?;
    let problems: Vec<Vec<Arg>> = newest
        .iter()
        .flat_map(|r| {
            r.problems.iter().map(|(task, status, detail)| {
                vec![
                    Text(&r.device),
                    Text(&r.user),
                    Text(task),
                    Text(status),
                    Text(detail),
                ]
            })
        })
        .collect();
    let orgs = organizations(newest);
    together(
        conn,
        &[
            (sql::TASK, &tasks),
            (sql::PROBLEM, &problems),
            (sql::ORG, &orgs),
        ],
    )
    .await?;
    // After the organizations went in: what is no longer named goes, and the verification
    // over what is left.
    let naming = newest.iter().filter(|r| !r.orgs.is_empty());
    let stale: Vec<Vec<Arg>> = naming
        .clone()
        .map(|r| vec![Text(&r.device), Text(&r.user), Text(&r.id)])
        .collect();
    each(conn, sql::batch::STALE_ORGS, &stale).await?;
    // Only where the report alone did not decide it (it went with the device row).
    let undecided: Vec<Vec<Arg>> = naming
        .filter(|r| r.verification().is_none())
        .map(|r| vec![Text(&r.device), Text(&r.user)])
        .collect();
    each(conn, sql::batch::VERIFIED, &undecided).await?;
    Ok(())
}

impl Counts {
    /// Adds the counts, in key order (so concurrent batches lock them in the same order); drops
    /// task counts that reached zero.
    async fn apply(&self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        let days: Vec<Vec<Arg>> = self
            .days
            .iter()
            .map(|((day, outcome), n)| vec![Int(*day), Text(outcome), Int(*n)])
            .collect();
        let tasks: Vec<Vec<Arg>> = self
            .tasks
            .iter()
            .filter(|(_, delta)| **delta != 0)
            .map(|((task, status), delta)| vec![Text(task), Text(status), Int(*delta)])
            .collect();
        together(conn, &[(sql::DAY, &days), (sql::COUNT_TASK, &tasks)]).await?;
        if self.tasks.values().any(|delta| *delta < 0) {
            sqlx::query(sql::PRUNE_COUNTS).execute(&mut *conn).await?;
        }
        Ok(())
    }
}

/// The organizations of the latest reports: one row per device, user and organization, as
/// the report's entries would leave it one after another (a later entry's switch; its
/// verification, or the earlier one's).
fn organizations<'a>(newest: &[&'a Row]) -> Vec<Vec<Arg<'a>>> {
    /// (device, user, organization) and its (switch, verified, report id).
    type Org<'a> = (&'a str, &'a str, &'a str);
    type State<'a> = (&'a str, Option<&'a str>, &'a str);
    let mut orgs: BTreeMap<Org, State> = BTreeMap::new();
    for r in newest {
        for (org, switch, verified) in &r.orgs {
            let entry = orgs
                .entry((&r.device, &r.user, org))
                .or_insert((switch, None, &r.id));
            entry.0 = switch;
            entry.1 = verified.as_deref().or(entry.1);
        }
    }
    orgs.into_iter()
        .map(|((device, user, org), (switch, verified, id))| {
            vec![
                Text(device),
                Text(user),
                Text(org),
                Text(switch),
                Maybe(verified),
                Text(id),
            ]
        })
        .collect()
}

/// Gives a key to each device and user of the round that asked for one and has none, and
/// returns the keys they have now (theirs, or the one another report got first).
async fn enroll(
    conn: &mut PgConnection,
    order: &[&Row],
) -> Result<BTreeMap<Key, (String, String)>, sqlx::Error> {
    let asking: Vec<(&Row, &str)> = order
        .iter()
        .filter_map(|r| r.enroll.as_deref().map(|secret| (*r, secret)))
        .collect();
    if asking.is_empty() {
        return Ok(BTreeMap::new());
    }
    let new_keys: Vec<Vec<Arg>> = asking
        .iter()
        .map(|(r, secret)| {
            vec![
                Text(&r.device),
                Text(&r.user),
                Text(secret),
                Text(&r.id),
                Int(r.received),
            ]
        })
        .collect();
    each(conn, sql::ENROLL, &new_keys).await?;
    let wanted: BTreeSet<Vec<&str>> = asking
        .iter()
        .map(|(r, _)| vec![r.device.as_str(), r.user.as_str()])
        .collect();
    let keys: Vec<Vec<Arg>> = wanted
        .iter()
        .map(|k| k.iter().map(|part| Text(part)).collect())
        .collect();
    Ok(each(conn, sql::batch::KEYS, &keys)
        .await?
        .iter()
        .map(|row| (key_of(row), (row.get(2), row.get(3))))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_error_of_the_whole_database_fails_a_batch_at_once() {
        assert!(of_the_whole_database(&sqlx::Error::PoolTimedOut));
        assert!(of_the_whole_database(&sqlx::Error::Io(
            std::io::Error::from(std::io::ErrorKind::ConnectionRefused)
        )));
    }
    use crate::server::store::ingest::tests::row;

    #[test]
    fn rounds_name_each_device_and_report_once_and_keep_their_order() {
        let rows = [
            row("r1", "a"),
            row("r2", "b"),
            row("r3", "a"),
            row("r1", "c"),
            row("r4", "d"),
            row("r5", "a"),
        ];
        let all: Vec<&Row> = rows.iter().collect();
        assert_eq!(
            rounds(&all),
            vec![vec![0, 1, 4], vec![2, 3], vec![5]],
            "a's reports in three rounds in order; the second r1 after the first"
        );
        assert_eq!(rounds(&all[..2]), vec![vec![0, 1]]);
    }
}
