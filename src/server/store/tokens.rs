//! Tokens, kept as SHA-256 hashes only, with the public id, label, expiry, revocation and last
//! use people manage them by. Every request looks its token up here, so a token made or revoked
//! on one instance is taken or refused at once by every instance on the same database.

use sqlx::Row as _;
use time::OffsetDateTime;

use super::{Lookups, Store, StoreError, millis};

/// A token as admins see it: never its secret, nor its hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenInfo {
    pub id: String,
    /// `enrollment`, `api` or `admin`.
    pub kind: String,
    pub label: Option<String>,
    pub created_at: i64,
    pub created_by: String,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

impl TokenInfo {
    /// `active`, `expired` or `revoked` at `now` (Unix milliseconds).
    pub fn state(&self, now: i64) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at.is_some_and(|at| at <= now) {
            "expired"
        } else {
            "active"
        }
    }
}

/// A token to record: its secret's hash and what people see of it.
#[derive(Debug, Clone)]
pub struct NewToken<'a> {
    pub id: &'a str,
    pub sha256: &'a str,
    pub kind: &'a str,
    pub label: Option<&'a str>,
    pub expires_at: Option<OffsetDateTime>,
    pub created_by: &'a str,
}

/// The columns [`info`] reads, in its order.
macro_rules! columns {
    () => {
        "id, kind, label, created_at, created_by, expires_at, revoked_at, last_used_at"
    };
}

macro_rules! select {
    ($rest:literal) => {
        concat!("SELECT ", columns!(), " FROM tokens ", $rest)
    };
}

/// Tokens by hash for batched lookups (PostgreSQL, `$1` an array of hashes): `'token'`, the
/// hash, three empty columns, then [`info`]'s from the sixth on, so that device keys can be
/// looked up in the same statement (`super::pg_lookups`).
pub(super) const BY_HASHES: &str = concat!(
    "SELECT 'token', sha256, NULL, NULL, NULL, ",
    columns!(),
    " FROM tokens WHERE sha256 IN (SELECT u.c1 FROM UNNEST($1::text[]) AS u(c1))"
);

/// The token in `row`'s columns from `at` on (see [`columns`]), from either pool's rows.
pub(super) fn info<R>(row: &R, at: usize) -> TokenInfo
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    TokenInfo {
        id: row.get(at),
        kind: row.get(at + 1),
        label: row.get(at + 2),
        created_at: row.get(at + 3),
        created_by: row.get(at + 4),
        expires_at: row.get(at + 5),
        revoked_at: row.get(at + 6),
        last_used_at: row.get(at + 7),
    }
}

impl Store {
    /// The token with this hash, whatever its state.
    pub async fn token_by_hash(&self, sha256: &str) -> Result<Option<TokenInfo>, StoreError> {
        match &self.lookups {
            Lookups::Sqlite(lookups) => lookups.row(select!("WHERE sha256 = $1"), [sha256], |r| {
                Ok(TokenInfo {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    label: r.get(2)?,
                    created_at: r.get(3)?,
                    created_by: r.get(4)?,
                    expires_at: r.get(5)?,
                    revoked_at: r.get(6)?,
                    last_used_at: r.get(7)?,
                })
            }),
            Lookups::Postgres(lookups) => lookups.token(sha256).await,
        }
    }

    /// Records a token.
    pub async fn add_token(
        &self,
        token: &NewToken<'_>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tokens (sha256, kind, created_at, id, label, expires_at, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(token.sha256)
        .bind(token.kind)
        .bind(millis(now))
        .bind(token.id)
        .bind(token.label)
        .bind(token.expires_at.map(millis))
        .bind(token.created_by)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every token, oldest first.
    pub async fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        Ok(sqlx::query(select!("ORDER BY created_at, id"))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| info(r, 0))
            .collect())
    }

    /// How many tokens of `kind` were ever made (revoked and expired ones too).
    pub async fn tokens_made(&self, kind: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT COUNT(*) FROM tokens WHERE kind = $1")
            .bind(kind)
            .fetch_one(&self.pool)
            .await?
            .get(0))
    }

    /// Revokes the token `id`: the token as it is now, `None` when there is no such token.
    /// Revoking a revoked token keeps its first revocation time.
    pub async fn revoke_token(
        &self,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<TokenInfo>, StoreError> {
        sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(millis(now))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(sqlx::query(select!("WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(|r| info(r, 0)))
    }

    /// Notes that token `id` was used at `now`.
    pub async fn touch_token(&self, id: &str, now: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query("UPDATE tokens SET last_used_at = $1 WHERE id = $2")
            .bind(millis(now))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
