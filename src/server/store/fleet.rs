//! The whole fleet's summary in one statement. Every number of it is a kept count (the fleet
//! counts, `task_counts`, `report_days`) or a small index read, and the dashboard asks for it on
//! every load: as nine statements it was nine round trips to the database each time, which
//! under the soak's mix (.ci/soak.py) cost PostgreSQL about as many statements a second as all
//! the reports being written. Each part is one branch of a `UNION ALL`, tagged with its kind.

use std::collections::BTreeMap;

use sqlx::Row as _;
use time::OffsetDateTime;

use super::queries::{not_reported, outcome};
use super::{DAY_MS, FailureGroup, OrgSummary, STALE_AFTER_MS, Store, StoreError, Summary, millis};

/// `$1`: the stale cutoff (milliseconds), `$2`: its day, `$3`: the chart's first day. The rows
/// are (kind, a, b, c, n); a part that keeps its own order or limit is a subquery. A `seen`
/// row's day is read as a number only inside a `CASE` on its kind: PostgreSQL may test a
/// `WHERE`'s conditions in any order, and another kind's `b` (a cause's detail) is no number.
const SUMMARY: &str = concat!(
    // Devices per outcome and verification, organizations per switch and verification.
    "SELECT kind, a, b, c, CAST(SUM(devices) AS BIGINT) AS n FROM fleet_counts
     WHERE kind IN ('outcome', 'verified', 'org')
     GROUP BY kind, a, b, c HAVING SUM(devices) <> 0
     UNION ALL
     SELECT 'stale', a, '', '', CAST(SUM(devices) AS BIGINT) FROM fleet_counts
     WHERE kind = 'seen' AND CASE WHEN kind = 'seen' THEN CAST(b AS BIGINT) END < $2 GROUP BY a
     UNION ALL
     SELECT 'stale', f.a, '', '', (SELECT COUNT(*) FROM devices d
       WHERE d.outcome = f.a AND d.last_seen >= $2 * 86400000 AND d.last_seen < $1)
     FROM fleet_counts f WHERE f.kind = 'outcome' GROUP BY f.a
     UNION ALL
     SELECT 'task', task_id, status, '', devices FROM task_counts WHERE devices > 0
     UNION ALL
     SELECT 'day', CAST(day AS TEXT), outcome, '', reports FROM report_days WHERE day >= $3
     UNION ALL
     SELECT 'failed', a, b, '', n FROM (
       SELECT a, b, CAST(SUM(devices) AS BIGINT) AS n FROM fleet_counts WHERE kind = 'failed'
       GROUP BY a, b HAVING SUM(devices) <> 0 ORDER BY n DESC, a, b LIMIT 20) AS failed
     UNION ALL
     SELECT 'expected', '', '', '', COUNT(*) FROM expected_users
     UNION ALL
     SELECT 'not-reported', '', '', '', COUNT(*) ",
    not_reported!(),
    "
     UNION ALL
     SELECT 'not-reported-upn', upn, '', '', 0 FROM (
       SELECT upn ",
    not_reported!(),
    " ORDER BY upn LIMIT 200) AS waiting"
);

impl Store {
    /// The whole fleet's summary at `now`, with report counts for the last `days` days.
    pub(super) async fn fleet_summary(
        &self,
        now: OffsetDateTime,
        days: i64,
    ) -> Result<Summary, StoreError> {
        let cutoff = millis(now) - STALE_AFTER_MS;
        let rows = sqlx::query(SUMMARY)
            .bind(cutoff)
            .bind(cutoff.div_euclid(DAY_MS))
            .bind(millis(now).div_euclid(DAY_MS) - days + 1)
            .fetch_all(&self.pool)
            .await?;
        let mut summary = Summary::default();
        let mut orgs: BTreeMap<String, OrgSummary> = BTreeMap::new();
        for row in rows {
            let (kind, a, b, c, n): (String, String, String, String, i64) =
                (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
            match kind.as_str() {
                "outcome" => {
                    summary.devices += n;
                    summary.outcomes.insert(outcome(a)?, n);
                }
                "verified" => {
                    summary.verified.insert(a, n);
                }
                "stale" => summary.stale += n,
                "org" => add_org(&mut orgs, a, &b, &c, n),
                "task" => {
                    summary.tasks.entry(a).or_default().insert(b, n);
                }
                "day" => {
                    let day = a
                        .parse()
                        .map_err(|_| StoreError::Unknown(format!("a day numbered {a:?}")))?;
                    summary.days.entry(day).or_default().insert(outcome(b)?, n);
                }
                "failed" => summary.failures.push(FailureGroup {
                    task: a,
                    detail: b,
                    devices: n,
                }),
                "expected" => summary.expected = n,
                "not-reported" => summary.not_reported_count = n,
                "not-reported-upn" => summary.not_reported.push(a),
                other => return Err(StoreError::Unknown(format!("a summary row {other:?}"))),
            }
        }
        // The parts of a UNION ALL come in no promised order: each list is put in its own.
        summary
            .failures
            .sort_by(|x, y| (y.devices, &x.task, &x.detail).cmp(&(x.devices, &y.task, &y.detail)));
        summary.not_reported.sort();
        summary.orgs = orgs.into_values().collect();
        Ok(summary)
    }
}

/// Adds `n` devices of organization `org` with this switch and verification (`''`: none).
pub(super) fn add_org(
    orgs: &mut BTreeMap<String, OrgSummary>,
    org: String,
    switch: &str,
    verified: &str,
    n: i64,
) {
    let entry = orgs.entry(org.clone()).or_insert_with(|| OrgSummary {
        org,
        ..OrgSummary::default()
    });
    match switch {
        "switched" => entry.switched += n,
        "waiting" => entry.waiting += n,
        _ => entry.not_checked += n,
    }
    match verified {
        "ok" => entry.verified += n,
        "failed" | "needs-user" => entry.not_verified += n,
        _ => {}
    }
}
