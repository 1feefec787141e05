//! Upkeep of the fleet counts (`fleet_counts`, kept by triggers; see the migration
//! `0012_fleet_counts.sql`). On PostgreSQL each writing connection adds to rows of its own
//! (its backend process id), so writers never wait on each other's counts; a restart or a
//! reconnect leaves rows of connections that are gone, which readers add up like any other.
//! Folding them into one row per count keeps the table as small as the counts it holds.

use super::{Backend, Store, StoreError};

impl Store {
    /// Folds the counts of connections that are gone into shard 0, then forgets shard 0's
    /// counts that came to nothing (a day no device was last seen on any more, a cause that
    /// no longer fails); how many rows that changed. Safe on every instance at once: live
    /// connections' rows are never touched (only theirs write them), and two folds at once
    /// each take what the other left. On SQLite (one shard) only the forgetting.
    pub async fn fold_counts(&self) -> Result<u64, StoreError> {
        let mut changed = 0;
        if self.backend == Backend::Postgres {
            changed += sqlx::query(
                "WITH gone AS (
                   DELETE FROM fleet_counts
                   WHERE shard <> 0 AND shard NOT IN (SELECT pid FROM pg_stat_activity)
                   RETURNING kind, a, b, c, devices)
                 INSERT INTO fleet_counts (shard, kind, a, b, c, devices)
                 SELECT 0, kind, a, b, c, SUM(devices) FROM gone GROUP BY kind, a, b, c
                 ON CONFLICT (shard, kind, a, b, c)
                   DO UPDATE SET devices = fleet_counts.devices + excluded.devices",
            )
            .execute(&self.pool)
            .await?
            .rows_affected();
        }
        changed += sqlx::query("DELETE FROM fleet_counts WHERE shard = 0 AND devices = 0")
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(changed)
    }
}
