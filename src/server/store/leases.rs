//! Leases: a job that must run once for all instances sharing a database (pruning old reports)
//! runs on the instance that holds its lease. A lease is a row that names its holder and when
//! it runs out; taking one is a single statement, so two instances asking at once cannot both
//! get it, on SQLite or PostgreSQL, and an instance that dies loses its lease when it runs out.

use super::{Store, StoreError};

impl Store {
    /// Takes the lease on `job` for `holder` until `until` (Unix milliseconds) when nobody holds
    /// it at `now` or `holder` does; true when `holder` has it now.
    pub async fn take_lease(
        &self,
        job: &str,
        holder: &str,
        now: i64,
        until: i64,
    ) -> Result<bool, StoreError> {
        let taken = sqlx::query(
            "INSERT INTO leases (job, holder, until) VALUES ($1, $2, $3)
             ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, until = excluded.until
             WHERE leases.until <= $4 OR leases.holder = excluded.holder
             RETURNING job",
        )
        .bind(job)
        .bind(holder)
        .bind(until)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(taken.is_some())
    }
}
