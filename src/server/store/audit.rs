//! The audit log: who did what, from where, and whether it was allowed. Entries are only ever
//! added (retention pruning leaves them alone); the caller makes sure none holds a secret.

use sqlx::Row as _;

use super::{Store, StoreError};

/// One entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    /// Assigned by the database; 0 for an entry not stored yet.
    pub id: i64,
    /// Unix milliseconds.
    pub at: i64,
    /// Who: a user principal name, `admin token <id>`, `api token <id>`, `command line`, or
    /// `unknown` for a sign-in that named nobody.
    pub actor: String,
    /// What: `sign-in`, `token-created`, `token-revoked`, `expected-users-uploaded`,
    /// `device-key-forgotten`, `sessions-ended`, `settings-changed`, `wave-set`, `wave-cleared`.
    pub action: String,
    /// What it was done to (a token id, a device), or empty.
    pub target: String,
    /// `ok` or `refused`.
    pub outcome: String,
    /// The client's address, or empty (the command line).
    pub address: String,
    /// More, in words (why a sign-in was refused, a label, a count).
    pub detail: String,
}

impl Store {
    /// Adds an entry.
    pub async fn add_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit (at, actor, action, target, outcome, address, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(entry.at)
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.target)
        .bind(&entry.outcome)
        .bind(&entry.address)
        .bind(&entry.detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Up to `limit` entries older than entry `before` (all when `None`), newest first.
    pub async fn audit(
        &self,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(sqlx::query(
            "SELECT id, at, actor, action, target, outcome, address, detail FROM audit
             WHERE id < $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| AuditEntry {
            id: r.get(0),
            at: r.get(1),
            actor: r.get(2),
            action: r.get(3),
            target: r.get(4),
            outcome: r.get(5),
            address: r.get(6),
            detail: r.get(7),
        })
        .collect())
    }

    /// The detail of the newest entry with `action`, if any.
    pub async fn last_audit_detail(&self, action: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query("SELECT detail FROM audit WHERE action = $1 ORDER BY id DESC LIMIT 1")
                .bind(action)
                .fetch_optional(&self.pool)
                .await?
                .map(|r| r.get(0)),
        )
    }
}
