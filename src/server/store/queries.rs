//! What the API and the dashboard read: the device list, one device with its history, one
//! report, the fleet summary.

use sqlx::Row as _;
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use std::collections::BTreeMap;

use super::fleet::add_org;
use super::{
    DAY_MS, DeviceDetail, DeviceFilter, DeviceRow, FailureGroup, FleetCounts, ReportRow,
    STALE_AFTER_MS, Store, StoreError, Summary, millis,
};
use crate::report::Report;
use crate::server::outcome::FleetOutcome;

/// Expected users no device has reported for: one matching rule (UPN, e-mail, or account
/// name) for the lists, their counts and the groups' progress. One `NOT EXISTS` per way to
/// match, so each is an index lookup: with the three joined by `OR` in one subquery, both
/// databases scanned every device per expected user (52 s for 21,000 users and 100,000
/// devices). `lower(e.account)` (already lower case) rather than the column itself: SQLite uses
/// the index on `lower(user_name)` only when neither side brings a column's affinity.
macro_rules! not_reported {
    () => {
        "FROM expected_users e
         WHERE NOT EXISTS (SELECT 1 FROM devices d WHERE d.upn = e.upn)
           AND (e.email IS NULL OR NOT EXISTS (SELECT 1 FROM devices d WHERE d.upn = e.email))
           AND (e.account IS NULL
                OR NOT EXISTS (SELECT 1 FROM devices d WHERE lower(d.user_name) = lower(e.account)))"
    };
}
pub(super) use not_reported;

/// A recursive common table expression `$cte(name)` of the distinct values of `$table.$column`
/// (ending in one NULL row), found one index seek per value (the next after the last), not by
/// reading every row: 26 ms became well under 1 ms for 10 group names at 100,000 devices.
macro_rules! distinct_values {
    ($cte:literal, $table:literal, $column:literal) => {
        concat!(
            $cte,
            "(name) AS (SELECT MIN(",
            $column,
            ") FROM ",
            $table,
            " UNION ALL SELECT (SELECT MIN(",
            $column,
            ") FROM ",
            $table,
            " WHERE ",
            $column,
            " > ",
            $cte,
            ".name) FROM ",
            $cte,
            " WHERE ",
            $cte,
            ".name IS NOT NULL)"
        )
    };
}
pub(super) use distinct_values;

/// The columns [`device_row`] reads, in its order.
macro_rules! device_columns {
    () => {
        "device_id, user_name, upn, hostname, os, agent_version, mode, outcome, reason, first_seen, last_seen, reports, enrollment_label, group_name"
    };
}

impl Store {
    /// Devices and users matching `filter`, most recently seen first: at most `limit`, after
    /// skipping `filter.offset`.
    pub async fn devices(
        &self,
        filter: &DeviceFilter,
        now: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<DeviceRow>, StoreError> {
        let offset = filter.offset.unwrap_or(0).max(0);
        let pattern = filter
            .q
            .as_deref()
            .filter(|q| !q.trim().is_empty())
            .map(|q| format!("%{}%", escape_like(&q.trim().to_lowercase())));
        let outcome = filter.outcome.as_deref().filter(|o| !o.is_empty());
        let stale_before = millis(now) - STALE_AFTER_MS;
        let group = filter.group.as_deref().filter(|g| !g.is_empty());
        if let Some(group) = group {
            // One group: its index gives its devices newest first; search and outcome filter
            // them.
            let rows = sqlx::query(concat!(
                "SELECT ", device_columns!(), " FROM devices
                 WHERE group_name = $1
                   AND ($2 = '' OR lower(hostname) LIKE $2 ESCAPE '\\' OR lower(user_name) LIKE $2 ESCAPE '\\' OR lower(COALESCE(upn, '')) LIKE $2 ESCAPE '\\')
                   AND ($3 = '' OR ($3 = 'stale' AND last_seen < $4) OR outcome = $3
                        OR ($3 = 'verified' AND verified = 'ok')
                        OR ($3 = 'not-verified' AND verified IN ('failed', 'needs-user')))
                 ORDER BY last_seen DESC, device_id, user_name LIMIT $5 OFFSET $6"
            ))
            .bind(group)
            .bind(pattern.unwrap_or_default())
            .bind(outcome.unwrap_or_default())
            .bind(stale_before)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
            return rows.iter().map(device_row).collect();
        }
        // Without a search, one query per filter, so each can use its index.
        let rows = match (pattern, outcome) {
            (None, None) => {
                sqlx::query(concat!(
                    "SELECT ", device_columns!(), " FROM devices
                     ORDER BY last_seen DESC, device_id, user_name LIMIT $1 OFFSET $2"
                ))
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
                .await?
            }
            (None, Some("stale")) => {
                sqlx::query(concat!(
                    "SELECT ", device_columns!(), " FROM devices WHERE last_seen < $1
                     ORDER BY last_seen DESC, device_id, user_name LIMIT $2 OFFSET $3"
                ))
                .bind(stale_before)
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
                .await?
            }
            (None, Some("verified")) => {
                sqlx::query(concat!(
                    "SELECT ", device_columns!(), " FROM devices WHERE verified = 'ok'
                     ORDER BY last_seen DESC, device_id, user_name LIMIT $1 OFFSET $2"
                ))
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
                .await?
            }
            (None, Some("not-verified")) => {
                // One index range per value, each newest first, merged: `IN (…)` with the
                // ORDER BY sorted every matching device (94 ms at 100,000 devices). The reason
                // shown is the verification's own (its first failed, else first problem), not
                // whatever other task came first in the report.
                sqlx::query(concat!(
                    "SELECT device_id, user_name, upn, hostname, os, agent_version, mode, outcome,
                       COALESCE((SELECT 'verify: ' || p.detail FROM problems p
                                 WHERE p.device_id = d.device_id AND p.user_name = d.user_name
                                   AND p.task_id = 'verify'
                                 ORDER BY CASE p.status WHEN 'failed' THEN 0 ELSE 1 END LIMIT 1),
                                reason) AS reason,
                       first_seen, last_seen, reports, enrollment_label, group_name FROM (
                       SELECT * FROM (SELECT ", device_columns!(), " FROM devices WHERE verified = 'failed'
                                      ORDER BY last_seen DESC, device_id, user_name LIMIT $1) AS f
                       UNION ALL
                       SELECT * FROM (SELECT ", device_columns!(), " FROM devices WHERE verified = 'needs-user'
                                      ORDER BY last_seen DESC, device_id, user_name LIMIT $1) AS n) AS d
                     ORDER BY last_seen DESC, device_id, user_name LIMIT $2 OFFSET $3"
                ))
                .bind(limit.saturating_add(offset))
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
                .await?
            }
            (None, Some(outcome)) => {
                sqlx::query(concat!(
                    "SELECT ", device_columns!(), " FROM devices WHERE outcome = $1
                     ORDER BY last_seen DESC, device_id, user_name LIMIT $2 OFFSET $3"
                ))
                .bind(outcome)
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
                .await?
            }
            (Some(pattern), outcome) => {
                sqlx::query(concat!(
                    "SELECT ", device_columns!(), " FROM devices
                     WHERE (lower(hostname) LIKE $1 ESCAPE '\\' OR lower(user_name) LIKE $1 ESCAPE '\\' OR lower(COALESCE(upn, '')) LIKE $1 ESCAPE '\\')
                       AND ($2 = '' OR ($2 = 'stale' AND last_seen < $3) OR outcome = $2
                            OR ($2 = 'verified' AND verified = 'ok')
                            OR ($2 = 'not-verified' AND verified IN ('failed', 'needs-user')))
                     ORDER BY last_seen DESC, device_id, user_name LIMIT $4 OFFSET $5"
                ))
                .bind(pattern)
                .bind(outcome.unwrap_or_default())
                .bind(stale_before)
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(device_row).collect()
    }

    /// One device and user, with every report kept for it, newest first.
    pub async fn device(
        &self,
        device_id: &str,
        user_name: &str,
    ) -> Result<Option<DeviceDetail>, StoreError> {
        let Some(row) = sqlx::query(concat!(
            "SELECT ",
            device_columns!(),
            " FROM devices WHERE device_id = $1 AND user_name = $2"
        ))
        .bind(device_id)
        .bind(user_name)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let device = device_row(&row)?;
        let reports = sqlx::query(
            "SELECT report_id, mode, outcome, agent_version, finished_at, received_at FROM reports
             WHERE device_id = $1 AND user_name = $2 ORDER BY finished_at DESC, report_id LIMIT 500",
        )
        .bind(device_id)
        .bind(user_name)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(ReportRow {
                report_id: r.get(0),
                mode: r.get(1),
                outcome: outcome(r.get(2))?,
                agent_version: r.get(3),
                finished_at: r.get(4),
                received_at: r.get(5),
            })
        })
        .collect::<Result<_, StoreError>>()?;
        let latest: Option<String> = sqlx::query(
            "SELECT body FROM reports WHERE report_id = (SELECT last_report_id FROM devices WHERE device_id = $1 AND user_name = $2)",
        )
        .bind(device_id)
        .bind(user_name)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| r.get(0));
        let latest = latest.and_then(|body| serde_json::from_str(&body).ok());
        Ok(Some(DeviceDetail {
            device,
            reports,
            latest,
        }))
    }

    /// One report of a device and user, as it was received (`None`: no such report for them).
    pub async fn report(
        &self,
        device_id: &str,
        user_name: &str,
        report_id: &str,
    ) -> Result<Option<Report>, StoreError> {
        let body: Option<String> = sqlx::query(
            "SELECT body FROM reports WHERE report_id = $1 AND device_id = $2 AND user_name = $3",
        )
        .bind(report_id)
        .bind(device_id)
        .bind(user_name)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| r.get(0));
        Ok(body.and_then(|body| serde_json::from_str(&body).ok()))
    }

    /// Devices per outcome and per verification, and how many are stale at `now`: what the
    /// overview's cards and `/metrics` show.
    pub async fn fleet_counts(&self, now: OffsetDateTime) -> Result<FleetCounts, StoreError> {
        let summary = self.fleet_summary(now, 1).await?;
        Ok(FleetCounts {
            devices: summary.devices,
            outcomes: summary.outcomes,
            verified: summary.verified,
            stale: summary.stale,
        })
    }

    /// [`Store::fleet_counts`] of one group's devices: two reads at once, each answered from
    /// an index without reading a device row (one read grouped by both took SQLite to every
    /// device row). The whole fleet's come from kept counts ([`Store::fleet_summary`]).
    async fn group_counts(
        &self,
        now: OffsetDateTime,
        group: &str,
    ) -> Result<FleetCounts, StoreError> {
        let (outcomes, verified) = tokio::try_join!(
            sqlx::query(
                "SELECT outcome, COUNT(*), SUM(CASE WHEN last_seen < $1 THEN 1 ELSE 0 END) FROM devices WHERE group_name = $2 GROUP BY outcome"
            )
            .bind(millis(now) - STALE_AFTER_MS)
            .bind(group)
            .fetch_all(&self.pool),
            sqlx::query(
                "SELECT verified, COUNT(*) FROM devices WHERE verified IS NOT NULL AND group_name = $1 GROUP BY verified"
            )
            .bind(group)
            .fetch_all(&self.pool),
        )?;
        let mut counts = FleetCounts::default();
        for row in outcomes {
            let count: i64 = row.get(1);
            counts.devices += count;
            counts.stale += row.try_get::<i64, _>(2).unwrap_or(0);
            counts.outcomes.insert(outcome(row.get(0))?, count);
        }
        for row in verified {
            counts.verified.insert(row.get(0), row.get(1));
        }
        Ok(counts)
    }

    /// The fleet overview at `now`, with report counts for the last `days` days.
    pub async fn summary(&self, now: OffsetDateTime, days: i64) -> Result<Summary, StoreError> {
        self.summary_in(now, days, None).await
    }

    /// The overview of one group's devices and expected users (`None`: the whole fleet, from
    /// kept counts in one statement: [`Store::fleet_summary`]). A group's count its devices'
    /// rows, and its chart counts the reports of the devices in the group now. The reads do
    /// not depend on each other, so they run at once, each on its own connection: the page
    /// waits for the longest, not for their sum.
    pub async fn summary_in(
        &self,
        now: OffsetDateTime,
        days: i64,
        group: Option<&str>,
    ) -> Result<Summary, StoreError> {
        let Some(group) = group else {
            return self.fleet_summary(now, days).await;
        };
        let since = (millis(now) / DAY_MS - days + 1) * DAY_MS;
        let pool = &self.pool;
        let rows = |sql: &'static str| sqlx::query(sql).bind(group).fetch_all(pool);
        let (counts, tasks, day_rows, failures, orgs, expected, list, count) = tokio::try_join!(
            self.group_counts(now, group),
            async {
                Ok(rows(
                    "SELECT t.task_id, t.status, COUNT(*) FROM task_status t
                     JOIN devices d ON d.device_id = t.device_id AND d.user_name = t.user_name
                     WHERE d.group_name = $1 GROUP BY t.task_id, t.status",
                )
                .await?)
            },
            async {
                Ok(sqlx::query(
                    "SELECT r.finished_at / 86400000, r.outcome, COUNT(*) FROM reports r
                     JOIN devices d ON d.device_id = r.device_id AND d.user_name = r.user_name
                     WHERE r.finished_at >= $1 * 86400000 AND d.group_name = $2
                     GROUP BY r.finished_at / 86400000, r.outcome",
                )
                .bind(since / DAY_MS)
                .bind(group)
                .fetch_all(pool)
                .await?)
            },
            async {
                Ok(rows(
                    "SELECT p.task_id, p.detail, COUNT(*) AS n FROM problems p
                     JOIN devices d ON d.device_id = p.device_id AND d.user_name = p.user_name
                     WHERE p.status = 'failed' AND d.group_name = $1
                     GROUP BY p.task_id, p.detail ORDER BY n DESC, p.task_id, p.detail LIMIT 20",
                )
                .await?)
            },
            async {
                Ok(rows(
                    "SELECT o.org, o.switch, COALESCE(o.verified, ''), COUNT(*) FROM device_orgs o
                     JOIN devices d ON d.device_id = o.device_id AND d.user_name = o.user_name
                     WHERE d.group_name = $1 GROUP BY o.org, o.switch, o.verified",
                )
                .await?)
            },
            async {
                Ok(
                    sqlx::query("SELECT COUNT(*) FROM expected_users WHERE grp = $1")
                        .bind(group)
                        .fetch_one(pool)
                        .await?,
                )
            },
            async {
                Ok(rows(concat!(
                    "SELECT upn ",
                    not_reported!(),
                    " AND e.grp = $1 ORDER BY upn LIMIT 200"
                ))
                .await?)
            },
            async {
                Ok(sqlx::query(concat!(
                    "SELECT COUNT(*) ",
                    not_reported!(),
                    " AND e.grp = $1"
                ))
                .bind(group)
                .fetch_one(pool)
                .await?)
            },
        )?;
        let mut summary = Summary {
            devices: counts.devices,
            outcomes: counts.outcomes,
            stale: counts.stale,
            verified: counts.verified,
            expected: expected.get(0),
            not_reported: list.iter().map(|r| r.get(0)).collect(),
            not_reported_count: count.get(0),
            ..Summary::default()
        };
        for row in tasks {
            summary
                .tasks
                .entry(row.get(0))
                .or_default()
                .insert(row.get(1), row.get(2));
        }
        for row in day_rows {
            summary
                .days
                .entry(row.get(0))
                .or_default()
                .insert(outcome(row.get(1))?, row.get(2));
        }
        summary.failures = failures
            .iter()
            .map(|r| FailureGroup {
                task: r.get(0),
                detail: r.get(1),
                devices: r.get(2),
            })
            .collect();
        let mut by_org = BTreeMap::new();
        for row in orgs {
            let (switch, verified): (String, String) = (row.get(1), row.get(2));
            add_org(&mut by_org, row.get(0), &switch, &verified, row.get(3));
        }
        summary.orgs = by_org.into_values().collect();
        Ok(summary)
    }

    /// How many reports are stored.
    pub async fn report_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT COUNT(*) FROM reports")
            .fetch_one(&self.pool)
            .await?
            .get(0))
    }
}

/// A stored outcome word as the typed outcome.
pub(super) fn outcome(word: String) -> Result<FleetOutcome, StoreError> {
    word.parse().map_err(StoreError::Unknown)
}

fn device_row(r: &AnyRow) -> Result<DeviceRow, StoreError> {
    Ok(DeviceRow {
        device_id: r.get(0),
        user_name: r.get(1),
        upn: r.get(2),
        hostname: r.get(3),
        os: r.get(4),
        agent_version: r.get(5),
        mode: r.get(6),
        outcome: outcome(r.get(7))?,
        reason: r.get(8),
        first_seen: r.get(9),
        last_seen: r.get(10),
        reports: r.get(11),
        enrollment_label: r.get(12),
        group: r.get(13),
    })
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
