//! Per-device keys (trust on first use) and the reports refused for a missing or wrong
//! signature, which the dashboard shows.

use sqlx::Row as _;

use super::{Lookups, Store, StoreError, sql};

/// How many refused reports are kept.
pub(super) const REFUSED_KEPT: i64 = 1000;

/// A report refused because its device's signature was missing or wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RefusedReport {
    pub device_id: String,
    pub user_name: String,
    pub hostname: String,
    pub refused_at: i64,
    pub reason: String,
}

impl Store {
    /// The key a device and user were given, and the id of the report that enrolled them.
    pub async fn device_key(
        &self,
        device_id: &str,
        user_name: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        match &self.lookups {
            Lookups::Sqlite(lookups) => lookups.row(sql::KEY, [device_id, user_name], |r| {
                Ok((r.get(0)?, r.get(1)?))
            }),
            Lookups::Postgres(lookups) => lookups.key(device_id, user_name).await,
        }
    }

    /// Forgets a device's key (the agent was reinstalled): its next report enrolls it again.
    pub async fn forget_device_key(
        &self,
        device_id: &str,
        user_name: &str,
    ) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("DELETE FROM device_keys WHERE device_id = $1 AND user_name = $2")
                .bind(device_id)
                .bind(user_name)
                .execute(&self.pool)
                .await?
                .rows_affected()
                > 0,
        )
    }

    /// Records a refused report (who, when, why; never the report). Only the newest
    /// [`REFUSED_KEPT`] are kept, so a flood of forged reports cannot grow the table.
    pub async fn add_refused(&self, refused: &RefusedReport) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM refused_reports WHERE refused_at < (SELECT refused_at FROM refused_reports
                 ORDER BY refused_at DESC LIMIT 1 OFFSET $1)",
        )
        .bind(REFUSED_KEPT - 1)
        .execute(&self.pool)
        .await?;
        sqlx::query(
            "INSERT INTO refused_reports (device_id, user_name, hostname, refused_at, reason) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&refused.device_id)
        .bind(&refused.user_name)
        .bind(&refused.hostname)
        .bind(refused.refused_at)
        .bind(&refused.reason)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest refused reports, at most `limit`.
    pub async fn refused(&self, limit: i64) -> Result<Vec<RefusedReport>, StoreError> {
        Ok(sqlx::query(
            "SELECT device_id, user_name, hostname, refused_at, reason FROM refused_reports
             ORDER BY refused_at DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| RefusedReport {
            device_id: r.get(0),
            user_name: r.get(1),
            hostname: r.get(2),
            refused_at: r.get(3),
            reason: r.get(4),
        })
        .collect())
    }

    /// True when a report with this id is stored.
    pub async fn has_report(&self, report_id: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT 1 FROM reports WHERE report_id = $1")
            .bind(report_id)
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }
}
