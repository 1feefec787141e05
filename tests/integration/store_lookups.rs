//! Token and device-key lookups asked together (PostgreSQL answers a batch of them with one
//! statement): each gets the answer for its own key, and none is older than the moment it was
//! asked, while hundreds of others are in flight, on every backend.
#![cfg(feature = "server")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ado_cutover::server::store::{NewToken, Store};
use time::OffsetDateTime;

use crate::support::server::{backends, fresh_database, runtime, sample_report};

/// Tokens and devices made; lookups also ask for as many that do not exist.
const TOKENS: usize = 30;
const DEVICES: usize = 30;
/// Lookups at once.
const AT_ONCE: usize = 600;

fn hash(i: usize) -> String {
    format!("{i:064x}")
}

#[test]
fn lookups_asked_together_each_get_their_own_answer_and_a_fresh_one() {
    for postgres in backends() {
        let (url, _dir) = fresh_database(postgres);
        runtime().block_on(check(&url, postgres));
    }
}

async fn check(url: &str, postgres: bool) {
    let backend = if postgres { "PostgreSQL" } else { "SQLite" };
    let store = Store::open(url, true).await.unwrap();
    let now = OffsetDateTime::now_utc();
    for i in 0..TOKENS {
        let id = format!("tok{i}");
        let label = format!("wave-{i}");
        store
            .add_token(
                &NewToken {
                    id: &id,
                    sha256: &hash(i),
                    kind: "enrollment",
                    label: Some(&label),
                    expires_at: None,
                    created_by: "test",
                },
                now,
            )
            .await
            .unwrap();
    }
    for i in 0..DEVICES {
        let report = sample_report(
            &format!("pc-{i}"),
            "ann",
            ado_cutover::report::Outcome::Done,
            now,
            "deleted",
        );
        let secret = format!("secret-{i}");
        store
            .insert_enrolling(&report, "{}", now, Some(&secret), None)
            .await
            .unwrap();
    }

    // Hundreds at once, known and unknown keys mixed, each several times.
    let mut asked = Vec::new();
    for n in 0..AT_ONCE {
        let store = store.clone();
        asked.push(tokio::spawn(async move {
            let i = (n * 7) % (2 * TOKENS);
            let token = store.token_by_hash(&hash(i)).await.unwrap();
            let d = (n * 11) % (2 * DEVICES);
            let key = store
                .device_key(&format!("id-pc-{d}"), "ann")
                .await
                .unwrap();
            (i, token, d, key)
        }));
    }
    for answer in asked {
        let (i, token, d, key) = answer.await.unwrap();
        match token {
            Some(token) => {
                assert!(
                    i < TOKENS,
                    "{backend}: a token for hash {i}, which has none"
                );
                assert_eq!(token.id, format!("tok{i}"), "{backend}: hash {i}");
                assert_eq!(token.label.as_deref(), Some(format!("wave-{i}").as_str()));
            }
            None => assert!(i >= TOKENS, "{backend}: token {i} not found"),
        }
        match key {
            Some((secret, _)) => {
                assert!(
                    d < DEVICES,
                    "{backend}: a key for device {d}, which has none"
                );
                assert_eq!(secret, format!("secret-{d}"), "{backend}: device {d}");
            }
            None => assert!(d >= DEVICES, "{backend}: device {d}'s key not found"),
        }
    }

    // While others keep asking, a revocation and a forgotten key are seen by the very next
    // lookup: nothing answers from before the change.
    let busy = Arc::new(AtomicBool::new(true));
    let mut flood = Vec::new();
    for n in 0..8 {
        let (store, busy) = (store.clone(), busy.clone());
        flood.push(tokio::spawn(async move {
            let mut k = n;
            while busy.load(Ordering::Relaxed) {
                store.token_by_hash(&hash(k % TOKENS)).await.unwrap();
                store
                    .device_key(&format!("id-pc-{}", k % DEVICES), "ann")
                    .await
                    .unwrap();
                k += 8;
                // SQLite answers without waiting: let the revoking task run.
                tokio::task::yield_now().await;
            }
        }));
    }
    for i in 0..TOKENS {
        let revoked = store
            .revoke_token(&format!("tok{i}"), now)
            .await
            .unwrap()
            .expect("the token exists");
        assert!(revoked.revoked_at.is_some());
        let seen = store.token_by_hash(&hash(i)).await.unwrap().unwrap();
        assert_eq!(
            seen.state(0),
            "revoked",
            "{backend}: token {i} looked up right after its revocation"
        );
    }
    for i in 0..DEVICES {
        let device = format!("id-pc-{i}");
        assert!(store.forget_device_key(&device, "ann").await.unwrap());
        assert_eq!(
            store.device_key(&device, "ann").await.unwrap(),
            None,
            "{backend}: device {i}'s key looked up right after it was forgotten"
        );
    }
    busy.store(false, Ordering::Relaxed);
    for task in flood {
        task.await.unwrap();
    }
}
