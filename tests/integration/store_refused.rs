//! A report the database refuses fails alone: the reports that arrived with it (one batch of
//! the writer) are stored and counted once, on both backends. The writers write a batch in
//! one transaction and, when it fails, each report again in one of its own. When the database
//! itself is gone, every report hears why at once.
#![cfg(feature = "server")]

use ado_cutover::report::Outcome;
use ado_cutover::server::outcome::FleetOutcome;
use ado_cutover::server::store::{Store, StoreError, Stored};
use sqlx::Executor;
use time::OffsetDateTime;

use crate::support::server::{backends, fresh_database, runtime, sample_report};

/// Makes the database refuse the device row of `pc-bad`, as it would a value it cannot take.
const REFUSE_SQLITE: &str = "CREATE TRIGGER refuse BEFORE INSERT ON devices
    WHEN new.device_id = 'id-pc-bad' BEGIN SELECT RAISE(ABORT, 'refused by a test'); END";
const REFUSE_POSTGRES: [&str; 2] = [
    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql
     AS $$ BEGIN RAISE EXCEPTION 'refused by a test'; END $$",
    "CREATE TRIGGER refuse BEFORE INSERT ON devices FOR EACH ROW
     WHEN (NEW.device_id = 'id-pc-bad') EXECUTE FUNCTION refuse()",
];

/// A report from each of `hosts`, all sent at once, so the writer finds them queued together
/// (one batch, or a few): what each one got.
async fn send_at_once(
    store: &Store,
    hosts: &[String],
    now: OffsetDateTime,
) -> Vec<Result<Stored, StoreError>> {
    let reports: Vec<_> = hosts
        .iter()
        .map(|host| {
            let report = sample_report(host, "user", Outcome::Done, now, "");
            let body = serde_json::to_string(&report).unwrap();
            (report, body)
        })
        .collect();
    futures_util::future::join_all(
        reports
            .iter()
            .map(|(report, body)| store.insert(report, body, now)),
    )
    .await
}

#[test]
fn a_report_the_database_refuses_fails_alone_and_the_others_are_stored() {
    for postgres in backends() {
        let backend = if postgres { "PostgreSQL" } else { "SQLite" };
        let (url, dir) = fresh_database(postgres);
        runtime().block_on(async {
            let store = Store::open(&url, true).await.unwrap();
            if let Some(dir) = &dir {
                // By its path: a `sqlite://` URL of a Windows path is the store's to read.
                rusqlite::Connection::open(dir.path().join("server.db"))
                    .and_then(|db| db.execute_batch(REFUSE_SQLITE))
                    .unwrap();
            } else {
                sqlx::any::install_default_drivers();
                let pool = sqlx::AnyPool::connect(&url).await.unwrap();
                for sql in REFUSE_POSTGRES {
                    pool.execute(sql).await.unwrap();
                }
            }
            let now = OffsetDateTime::now_utc();
            let hosts: Vec<String> = (0..40)
                .map(|i| {
                    if i == 20 {
                        "pc-bad".into()
                    } else {
                        format!("pc-{i}")
                    }
                })
                .collect();
            let results = send_at_once(&store, &hosts, now).await;
            for (host, result) in hosts.iter().zip(&results) {
                match result {
                    Ok(stored) => {
                        assert_ne!(host, "pc-bad", "{backend}");
                        assert_eq!(*stored, Stored::Accepted, "{backend} {host}");
                    }
                    Err(err) => {
                        assert_eq!(host, "pc-bad", "{backend}: {err}");
                        assert!(err.to_string().contains("refused by a test"), "{err}");
                    }
                }
            }
            assert!(results[20].is_err(), "{backend}");
            assert_eq!(store.report_count().await.unwrap(), 39, "{backend}");
            let summary = store.summary(now, 30).await.unwrap();
            assert_eq!(summary.devices, 39, "{backend}");
            let counted: i64 = summary.days.values().flat_map(|d| d.values()).sum();
            assert_eq!(counted, 39, "{backend}: {:?}", summary.days);
            assert_eq!(
                summary.outcomes.get(&FleetOutcome::Done),
                Some(&39),
                "{backend}"
            );
        });
    }
}

#[test]
fn when_the_database_is_gone_every_report_hears_why() {
    // The database dropped under a running server: PostgreSQL only (a SQLite file stays open).
    if !backends().contains(&true) {
        return;
    }
    let (url, _) = fresh_database(true);
    let admin = std::env::var("TEST_DATABASE_URL").unwrap();
    let name = url::Url::parse(&url).unwrap().path()[1..].to_string();
    runtime().block_on(async {
        let store = Store::open(&url, true).await.unwrap();
        let now = OffsetDateTime::now_utc();
        let first = sample_report("pc-first", "user", Outcome::Done, now, "");
        let body = serde_json::to_string(&first).unwrap();
        assert_eq!(
            store.insert(&first, &body, now).await.unwrap(),
            Stored::Accepted
        );

        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&admin).await.unwrap();
        let drop = format!("DROP DATABASE {name} WITH (FORCE)");
        pool.execute(sqlx::AssertSqlSafe(drop)).await.unwrap();

        let hosts: Vec<String> = (0..40).map(|i| format!("pc-{i}")).collect();
        let results = send_at_once(&store, &hosts, now).await;
        for result in results {
            let err = result
                .expect_err("stored in a database that is gone")
                .to_string();
            // The database's own words, not a reply the writer dropped unanswered.
            assert!(err.contains("could not be stored"), "{err}");
            assert!(!err.contains("writer stopped"), "{err}");
        }
    });
}
