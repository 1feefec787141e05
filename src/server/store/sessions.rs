//! Dashboard sessions (by the hash of their cookie, with who signed in and their role) and Entra
//! sign-ins under way, in the database so that several server instances share them.

use sqlx::Row as _;
use time::OffsetDateTime;

use super::{Store, StoreError, millis};

/// A live dashboard session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub csrf: String,
    /// Who signed in: a user principal name, or `admin token <id>`.
    pub who: String,
    /// `admin` or `viewer`.
    pub role: String,
}

/// An Entra sign-in between the redirect to Microsoft and the way back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSignIn {
    /// The hash of the browser's sign-in cookie.
    pub browser: String,
    pub nonce: String,
    pub verifier: String,
    pub expires_at: i64,
}

impl Store {
    /// Starts a dashboard session (by the hash of its cookie value).
    pub async fn add_session(
        &self,
        sha256: &str,
        session: &SessionRow,
        expires: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (sha256, csrf, expires_at, who, role) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(sha256)
        .bind(&session.csrf)
        .bind(millis(expires))
        .bind(&session.who)
        .bind(&session.role)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A live session.
    pub async fn session(
        &self,
        sha256: &str,
        now: OffsetDateTime,
    ) -> Result<Option<SessionRow>, StoreError> {
        Ok(sqlx::query(
            "SELECT csrf, who, role FROM sessions WHERE sha256 = $1 AND expires_at > $2",
        )
        .bind(sha256)
        .bind(millis(now))
        .fetch_optional(&self.pool)
        .await?
        .map(|r| SessionRow {
            csrf: r.get(0),
            who: r.get(1),
            role: r.get(2),
        }))
    }

    /// Ends every dashboard session (a lost laptop, a leaked cookie); returns how many.
    pub async fn end_all_sessions(&self) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM sessions")
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// Ends the sessions `who` started (a revoked admin token's); returns how many.
    pub async fn end_sessions_of(&self, who: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM sessions WHERE who = $1")
            .bind(who)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// Forgets sessions and sign-ins that expired before `now`; returns how many sessions.
    pub async fn prune_sessions(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        sqlx::query("DELETE FROM sign_ins WHERE expires_at <= $1")
            .bind(millis(now))
            .execute(&self.pool)
            .await?;
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

    /// Records an Entra sign-in under way, by the hash of its `state`.
    pub async fn add_sign_in(
        &self,
        state_sha256: &str,
        pending: &PendingSignIn,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sign_ins (state, browser, nonce, verifier, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(state_sha256)
        .bind(&pending.browser)
        .bind(&pending.nonce)
        .bind(&pending.verifier)
        .bind(pending.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Takes out the sign-in with this `state` hash: it can come back once only, on any
    /// instance. Expired ones are returned too; the caller refuses them.
    pub async fn take_sign_in(
        &self,
        state_sha256: &str,
    ) -> Result<Option<PendingSignIn>, StoreError> {
        Ok(sqlx::query(
            "DELETE FROM sign_ins WHERE state = $1 RETURNING browser, nonce, verifier, expires_at",
        )
        .bind(state_sha256)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| PendingSignIn {
            browser: r.get(0),
            nonce: r.get(1),
            verifier: r.get(2),
            expires_at: r.get(3),
        }))
    }
}
