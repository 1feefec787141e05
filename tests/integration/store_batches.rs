//! The batching writers: reports stored together in one batch leave exactly what the same
//! reports leave stored one at a time, on every backend. The batch holds what makes batching
//! hard: one device's reports several times over (in and out of order), a report id twice,
//! organizations named twice in one report, first reports that enroll, and counts that move up
//! and down.
#![cfg(feature = "server")]

use ado_cutover::report::{Organization, Outcome, Report, Status, Switch};
use ado_cutover::server::store::{DeviceFilter, DeviceKey, Store, Stored};
use time::OffsetDateTime;

use crate::support::server::{backends, fresh_database, sample_report};

/// How many reports: more than one batch (256) after the first.
const REPORTS: usize = 400;

/// Reports from 60 devices, each several times, with what goes wrong in batches.
fn reports(now: OffsetDateTime) -> Vec<(Report, Option<String>)> {
    let outcomes = [
        Outcome::Done,
        Outcome::ActionNeeded,
        Outcome::Failed,
        Outcome::NothingToDo,
    ];
    let mut all = Vec::new();
    for i in 0..REPORTS {
        let device = i % 60;
        let host = format!("pc-{device:02}");
        let user = format!("user{}", device % 7);
        // Later reports of a device are mostly newer; every ninth is an old one from a spool.
        // Every report at its own time, all in the past, over a week (so that some are stale
        // and days go by between a device's reports); devices' last reports two days apart.
        let minutes = 50 * device as i64 + 11 * if i % 9 == 0 { -(i as i64) } else { i as i64 };
        let at = now - time::Duration::days(4) + time::Duration::minutes(minutes);
        let outcome = outcomes[(i / 60 + device) % outcomes.len()];
        let mut report = sample_report(&host, &user, outcome, at, &format!("cause {}", i % 3));
        if i % 5 == 0 {
            report.tasks[0].id = "credentials".into();
        }
        // A device's reports name organizations, except every third (which keeps them).
        if (i + i / 60) % 3 != 0 {
            let verified = [None, Some(Status::Ok), Some(Status::Failed)][i % 3];
            report.organizations = vec![
                Organization {
                    name: "Contoso".into(),
                    switch: Switch::Switched,
                    verified,
                },
                // A device's later reports name another: the one before is dropped. Unverified
                // in two of three reports: the device's verification then counts the last one
                // of its other organizations; else the report alone decides it.
                Organization {
                    name: format!("org{}", (i / 60 + device) % 4),
                    switch: Switch::Waiting,
                    verified: [None, Some(Status::Ok), None][(i / 2) % 3],
                },
                // The same organization again, spelled otherwise: one row, the later entry's.
                Organization {
                    name: "contoso".into(),
                    switch: Switch::Switched,
                    verified: if i % 2 == 0 {
                        None
                    } else {
                        Some(Status::NeedsUser)
                    },
                },
            ];
        }
        let enroll = (i < 120).then(|| format!("secret-{i}"));
        all.push((report, enroll));
    }
    // A report sent twice in one batch, and once more later.
    let again = all[70].clone();
    all.insert(71, again.clone());
    all.push(again);
    all
}

/// Everything a reader sees: the summary, every device, and each device's detail.
async fn state(store: &Store, now: OffsetDateTime) -> String {
    let summary = store.summary(now, 30).await.unwrap();
    let filter = DeviceFilter::default();
    let devices = store.devices(&filter, now, 1000).await.unwrap();
    let mut details = Vec::new();
    for device in &devices {
        details.push(
            store
                .device(&device.device_id, &device.user_name)
                .await
                .unwrap(),
        );
    }
    serde_json::to_string_pretty(&(summary, devices, details)).unwrap()
}

/// The fleet's counts, kept by triggers as devices change, are what counting the rows gives:
/// every device here is in the group "wave-1", and a group's summary counts its rows. At
/// moments from now to eight days on, so that the stale devices' cutoff passes every day the
/// devices were last seen on (the kept counts hold whole days, the cutoff's day is counted);
/// then again after the upkeep forgot the counts that came to nothing.
async fn assert_counts_are_the_rows(store: &Store, now: OffsetDateTime, how: &str) {
    let mut stale = std::collections::BTreeSet::new();
    for fold in [false, true] {
        if fold {
            let forgotten = store.fold_counts().await.unwrap();
            assert!(
                forgotten > 0 || how.contains("postgres: true"),
                "{how}: no count came to nothing, the upkeep is not tested"
            );
        }
        for hours in (0..=200).step_by(8) {
            let at = now + time::Duration::hours(hours);
            let kept = store.summary(at, 30).await.unwrap();
            let counted = store.summary_in(at, 30, Some("wave-1")).await.unwrap();
            assert!(
                kept.devices > 50 && !kept.orgs.is_empty() && kept.failures.len() > 2,
                "{how}: {kept:?}"
            );
            assert_eq!(
                (
                    kept.devices,
                    &kept.outcomes,
                    kept.stale,
                    &kept.verified,
                    &kept.orgs,
                    &kept.failures
                ),
                (
                    counted.devices,
                    &counted.outcomes,
                    counted.stale,
                    &counted.verified,
                    &counted.orgs,
                    &counted.failures
                ),
                "{how}, {hours} hours on: the counts kept differ from the rows counted"
            );
            stale.insert((kept.stale, kept.devices));
        }
    }
    assert!(
        stale.len() >= 6 && stale.iter().any(|&(s, all)| s > 0 && s < all),
        "{how}: the cutoff did not pass through the devices: {stale:?}"
    );
}

/// Each device's verification is what its organizations' verifications give (the rule, written
/// here on its own): `ok` when every verified one is, else `failed`, `needs-user` or `skipped`
/// by the first any has; none when none is verified. Returns how many devices have one.
async fn assert_verification_is_the_organizations(url: &str, how: &str) -> i64 {
    const BOTH: &str = "SELECT d.device_id, d.user_name, d.verified, (
           SELECT CASE WHEN COUNT(*) = 0 THEN NULL
                       WHEN SUM(CASE WHEN o.verified = 'ok' THEN 1 ELSE 0 END) = COUNT(*) THEN 'ok'
                       WHEN SUM(CASE WHEN o.verified = 'failed' THEN 1 ELSE 0 END) > 0 THEN 'failed'
                       WHEN SUM(CASE WHEN o.verified = 'needs-user' THEN 1 ELSE 0 END) > 0 THEN 'needs-user'
                       ELSE 'skipped' END
           FROM device_orgs o WHERE o.device_id = d.device_id AND o.user_name = d.user_name
             AND o.verified IS NOT NULL)
         FROM devices d";
    type Verification = (String, String, Option<String>, Option<String>);
    // SQLite through rusqlite on the file's path, which works on Windows as well.
    let rows: Vec<Verification> = if let Some(path) = url.strip_prefix("sqlite://") {
        let conn = rusqlite::Connection::open(path).unwrap();
        let mut statement = conn.prepare(BOTH).unwrap();
        statement
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    } else {
        use sqlx::{Connection, Row};
        let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
        sqlx::query(BOTH)
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect()
    };
    let mut verified = 0;
    for (device, user, kept, given) in rows {
        assert_eq!(kept, given, "{how}: {device} / {user}");
        verified += i64::from(kept.is_some());
    }
    verified
}

/// Stores the reports one after another, each waiting for the one before: what each did.
async fn one_at_a_time(
    store: &Store,
    reports: &[(Report, Option<String>)],
    now: OffsetDateTime,
) -> Vec<(Stored, Option<DeviceKey>)> {
    let mut saved = Vec::new();
    for (report, enroll) in reports {
        let body = serde_json::to_string(report).unwrap();
        saved.push(
            store
                .insert_enrolling(report, &body, now, enroll.as_deref(), Some("wave-1"))
                .await
                .unwrap(),
        );
    }
    saved
}

/// Queues every report at once while the database's write lock is held, so the writer takes
/// them in batches of many: what each did.
async fn together(
    store: &Store,
    url: &str,
    reports: &[(Report, Option<String>)],
    now: OffsetDateTime,
) -> Vec<(Stored, Option<DeviceKey>)> {
    let holder = hold_write_lock(url).await;
    let mut tasks = Vec::new();
    for (report, enroll) in reports {
        let (store, report, enroll) = (store.clone(), report.clone(), enroll.clone());
        tasks.push(tokio::spawn(async move {
            let body = serde_json::to_string(&report).unwrap();
            store
                .insert_enrolling(&report, &body, now, enroll.as_deref(), Some("wave-1"))
                .await
                .unwrap()
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    holder.release().await;
    let mut saved = Vec::new();
    for task in tasks {
        saved.push(task.await.unwrap());
    }
    saved
}

#[test]
fn a_batch_leaves_what_the_same_reports_leave_one_at_a_time() {
    let now = OffsetDateTime::now_utc();
    let reports = reports(now);
    // One thread: tasks start in the order they were spawned, so the reports reach the
    // writer's queue in the order they are listed.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // The reference: SQLite's writer, one report at a time (the statements run per report,
    // no batched forms), which the store story tests check on their own.
    let (url, _dir) = fresh_database(false);
    let (reference, expected) = runtime.block_on(async {
        let store = Store::open(&url, true).await.unwrap();
        let saved = one_at_a_time(&store, &reports, now).await;
        assert_counts_are_the_rows(&store, now, "SQLite one at a time").await;
        let verified = assert_verification_is_the_organizations(&url, "SQLite one at a time").await;
        assert!(
            verified > 30,
            "most devices have a verification: {verified}"
        );
        (saved, state(&store, now).await)
    });
    let duplicates = reference
        .iter()
        .filter(|(stored, _)| *stored == Stored::Duplicate)
        .count();
    assert_eq!(duplicates, 2, "the report sent three times is stored once");
    assert!(
        reference.iter().filter(|(_, key)| key.is_some()).count() >= 50,
        "first reports enroll their devices"
    );
    assert!(
        expected.contains("\"verified\"") && expected.contains("\"failed\""),
        "the state compared is not empty"
    );
    // Keys are random per store: compared as "has one".
    let shape = |saved: &[(Stored, Option<DeviceKey>)]| -> Vec<(Stored, bool)> {
        saved.iter().map(|(s, key)| (*s, key.is_some())).collect()
    };
    for postgres in backends() {
        let mut runs = vec![("batched", fresh_database(postgres))];
        if postgres {
            runs.push(("one at a time", fresh_database(true)));
        }
        for (how, (url, _dir)) in runs {
            let (saved, actual) = runtime.block_on(async {
                let store = Store::open(&url, true).await.unwrap();
                let saved = if how == "batched" {
                    together(&store, &url, &reports, now).await
                } else {
                    one_at_a_time(&store, &reports, now).await
                };
                let named = format!("{how}, postgres: {postgres}");
                assert_counts_are_the_rows(&store, now, &named).await;
                assert_verification_is_the_organizations(&url, &named).await;
                (saved, state(&store, now).await)
            });
            assert_eq!(
                shape(&saved),
                shape(&reference),
                "{how}, postgres: {postgres}"
            );
            assert!(
                actual == expected,
                "{how}, postgres: {postgres}: differs from SQLite one at a time:\n{}",
                first_difference(&expected, &actual)
            );
        }
    }
}

/// A connection holding the write lock of a database: a SQLite write transaction (through
/// rusqlite on the file's path, which works on Windows as well), or PostgreSQL's lock on the
/// reports table.
enum WriteLock {
    Sqlite(rusqlite::Connection),
    Postgres(sqlx::AnyConnection),
}

async fn hold_write_lock(url: &str) -> WriteLock {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        return WriteLock::Sqlite(conn);
    }
    use sqlx::Connection;
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE reports IN EXCLUSIVE MODE")
        .execute(&mut conn)
        .await
        .unwrap();
    WriteLock::Postgres(conn)
}

impl WriteLock {
    async fn release(self) {
        match self {
            WriteLock::Sqlite(conn) => conn.execute_batch("COMMIT").unwrap(),
            WriteLock::Postgres(mut conn) => {
                sqlx::raw_sql("COMMIT").execute(&mut conn).await.unwrap();
            }
        }
    }
}

/// The first lines where two long texts differ, with some before.
fn first_difference(expected: &str, actual: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let at = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let from = at.saturating_sub(25);
    format!(
        "expected:\n{}\nfound:\n{}",
        a[from..(at + 5).min(a.len())].join("\n"),
        b[from..(at + 5).min(b.len())].join("\n")
    )
}
