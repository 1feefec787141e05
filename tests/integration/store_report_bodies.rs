//! A report's JSON as stored on PostgreSQL: compressed with LZ4 where the server has it (pglz,
//! PostgreSQL's default, was two fifths of the time of inserting a report), and read back whole.
#![cfg(feature = "server")]

use ado_cutover::report::Outcome;
use ado_cutover::server::store::{Store, Stored};
use sqlx::Row as _;
use time::OffsetDateTime;

use crate::support::server::{fresh_database, runtime, sample_report};

#[test]
fn a_report_body_on_postgresql_is_compressed_with_lz4_and_read_back_whole() {
    if std::env::var_os("TEST_DATABASE_URL").is_none() {
        return; // PostgreSQL only; CI sets it.
    }
    let (url, _dir) = fresh_database(true);
    runtime().block_on(async {
        let store = Store::open(&url, true).await.unwrap();
        let now = OffsetDateTime::now_utc();
        // Long enough that PostgreSQL compresses the body (over 2 KB), as a real report's is.
        let detail = "the credential for contoso was saved by Git Credential Manager; ".repeat(40);
        let report = sample_report("pc-body", "user", Outcome::Failed, now, &detail);
        let body = serde_json::to_string(&report).unwrap();
        assert!(body.len() > 2500);
        let stored = store.insert(&report, &body, now).await.unwrap();
        assert_eq!(stored, Stored::Accepted);

        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        let lz4: bool = sqlx::query(
            "SELECT COUNT(*) > 0 FROM pg_settings
             WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
        let method: String = sqlx::query("SELECT pg_column_compression(body) FROM reports")
            .fetch_one(&pool)
            .await
            .unwrap()
            .get(0);
        pool.close().await;
        assert_eq!(method, if lz4 { "lz4" } else { "pglz" });

        let device = store.device("id-pc-body", "user").await.unwrap().unwrap();
        let latest = device.latest.unwrap();
        assert_eq!(latest.tasks[0].items[0].detail, detail);
    });
}
