//! Tokens (kept as hashes) and dashboard sessions, in the database so that several server
//! instances share them.

use sqlx::Row as _;
use time::OffsetDateTime;

use super::{Store, StoreError, millis};

impl Store {
    /// The token hashes of `kind` (`enrollment` or `admin`).
    pub async fn token_hashes(&self, kind: &str) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query("SELECT sha256 FROM tokens WHERE kind = $1")
            .bind(kind)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    /// Records a token by its hash.
    pub async fn add_token(
        &self,
        kind: &str,
        sha256: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO tokens (sha256, kind, created_at) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING")
            .bind(sha256)
            .bind(kind)
            .bind(millis(now))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Starts a dashboard session (by the hash of its cookie value).
    pub async fn add_session(
        &self,
        sha256: &str,
        csrf: &str,
        expires: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO sessions (sha256, csrf, expires_at) VALUES ($1, $2, $3)")
            .bind(sha256)
            .bind(csrf)
            .bind(millis(expires))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The CSRF token of a live session.
    pub async fn session(
        &self,
        sha256: &str,
        now: OffsetDateTime,
    ) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query("SELECT csrf FROM sessions WHERE sha256 = $1 AND expires_at > $2")
                .bind(sha256)
                .bind(millis(now))
                .fetch_optional(&self.pool)
                .await?
                .map(|r| r.get(0)),
        )
    }

    /// Ends every dashboard session (a lost laptop, a leaked cookie); returns how many.
    pub async fn end_all_sessions(&self) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM sessions")
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// Forgets sessions that expired before `now`; returns how many.
    pub async fn prune_sessions(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(millis(now))
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// Ends a session, and forgets expired ones.
    pub async fn end_session(&self, sha256: &str, now: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE sha256 = $1 OR expires_at <= $2")
            .bind(sha256)
            .bind(millis(now))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
