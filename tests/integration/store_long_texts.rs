//! Texts as long as a report may carry where the server files rows under them: a failed item's
//! detail (failures are grouped by it) and an inventory entry's target (its key). PostgreSQL
//! refuses an index entry over 2,704 bytes, and such a report was refused whole (so its agent
//! sent it again and again); every backend now stores it, the key cut with a mark, and keeps
//! the whole text in the report.
#![cfg(feature = "server")]

use ado_cutover::report::limits::{KEY_TEXT, TEXT};
use ado_cutover::report::{Category, Found, Outcome};
use ado_cutover::server::store::{Store, Stored};
use time::OffsetDateTime;

use crate::support::server::{backends, fresh_database, runtime, sample_report};

/// `TEXT` bytes that do not compress (PostgreSQL compresses long index entries first).
fn long_text() -> String {
    let mut text = String::new();
    while text.len() < TEXT {
        text.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    text.truncate(TEXT);
    text
}

#[test]
fn a_report_with_texts_as_long_as_allowed_is_stored_with_its_keys_cut() {
    for postgres in backends() {
        let backend = if postgres { "PostgreSQL" } else { "SQLite" };
        let (url, _dir) = fresh_database(postgres);
        runtime().block_on(async {
            let store = Store::open(&url, true).await.unwrap();
            let now = OffsetDateTime::now_utc();
            let (detail, target) = (long_text(), long_text());
            let mut report = sample_report("pc-long", "user", Outcome::Failed, now, &detail);
            report.inventory = Some(vec![Found {
                category: Category::OldToken,
                organization: "contoso".into(),
                target: target.clone(),
                kind: "token-elsewhere".into(),
            }]);
            assert!(ado_cutover::report::limits::check(&report).is_none());
            let body = serde_json::to_string(&report).unwrap();
            let stored = store.insert(&report, &body, now).await;
            assert_eq!(stored.unwrap(), Stored::Accepted, "{backend}");

            let cut = |text: &str| format!("{}…", &text[..KEY_TEXT - "…".len()]);
            let summary = store.summary(now, 30).await.unwrap();
            assert_eq!(summary.failures.len(), 1, "{backend}");
            assert_eq!(summary.failures[0].detail, cut(&detail), "{backend}");
            let entries = store
                .inventory_entries("contoso", Category::OldToken, true, None, None, 10)
                .await
                .unwrap();
            assert_eq!(entries.len(), 1, "{backend}");
            assert_eq!(entries[0].target, cut(&target), "{backend}");
            // The report itself keeps every byte.
            let device = store.device("id-pc-long", "user").await.unwrap().unwrap();
            let latest = device.latest.unwrap();
            assert_eq!(latest.tasks[0].items[0].detail, detail, "{backend}");
            assert_eq!(latest.inventory.unwrap()[0].target, target, "{backend}");
        });
    }
}
