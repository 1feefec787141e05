//! Storing what comes in: a report (through the SQLite writer, or a transaction on
//! PostgreSQL), the list of expected users, and the pruning of old reports.

use std::collections::BTreeMap;

use sqlx::Row as _;
use time::OffsetDateTime;

use super::{DAY_MS, Store, StoreError, Stored, kebab, millis};
use crate::report::{Report, Status};
use crate::server::expected::Expected;
use crate::server::outcome::FleetOutcome;

impl Store {
    /// Stores a report (its JSON as received in `body`). The device's latest state follows the
    /// report that finished last, so reports delivered late from a spool never hide newer ones.
    ///
    /// On SQLite one writer task commits reports in batches (SQLite has one writer anyway, and a
    /// commit per report is what limits ingest); on PostgreSQL each report is its own
    /// transaction on the pool.
    pub async fn insert(
        &self,
        report: &Report,
        body: &str,
        received_at: OffsetDateTime,
    ) -> Result<Stored, StoreError> {
        Ok(self
            .insert_enrolling(report, body, received_at, None, None)
            .await?
            .0)
    }

    /// [`Store::insert`], and for a device and user without a key, gives them `new_secret`
    /// in the same transaction (unless another report was first): returns the key and the
    /// report that enrolled them. One transaction, so a device's first report costs no commit
    /// of its own (on SQLite, enrolling in a transaction of its own halved ingest).
    pub async fn insert_enrolling(
        &self,
        report: &Report,
        body: &str,
        received_at: OffsetDateTime,
        new_secret: Option<&str>,
        label: Option<&str>,
    ) -> Result<(Stored, Option<DeviceKey>), StoreError> {
        let mut row = Row::new(report, body, millis(received_at));
        row.enroll = new_secret.map(str::to_string);
        row.label = label.map(str::to_string);
        if let Some(writer) = &self.writer {
            return writer.store(row).await;
        }
        let mut tx = self.pool.begin().await?;
        let stored = insert_in(&mut tx, &row).await?;
        let key = match &row.enroll {
            Some(secret) => Some(enroll_in(&mut tx, &row, secret).await?),
            None => None,
        };
        tx.commit().await?;
        Ok((stored, key))
    }

    /// Replaces the list of expected users; returns how many.
    pub async fn set_expected_users(&self, users: &[Expected]) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM expected_users")
            .execute(&mut *tx)
            .await?;
        // Many rows per statement: a large organization's list (100,000 users and more) goes
        // in well under a second, so reports waiting on the database are not held up.
        for chunk in users.chunks(EXPECTED_PER_STATEMENT) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
                .collect();
            let sql = format!(
                "INSERT INTO expected_users (upn, email, account) VALUES {} ON CONFLICT (upn) DO NOTHING",
                rows.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for user in chunk {
                query = query
                    .bind(user.key.to_lowercase())
                    .bind(user.email.as_deref().map(str::to_lowercase))
                    .bind(user.account.as_deref().map(str::to_lowercase));
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(users.len())
    }

    /// Deletes reports that finished before `cutoff`, except each device's latest.
    pub async fn prune(&self, cutoff: OffsetDateTime) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM reports WHERE finished_at < $1
             AND report_id NOT IN (SELECT last_report_id FROM devices)",
        )
        .bind(millis(cutoff))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

/// Expected users inserted by one statement (three parameters each, well under SQLite's
/// limit on parameters).
const EXPECTED_PER_STATEMENT: usize = 300;

/// How far ahead of the server's clock a report's `finished_at` may be (5 minutes).
pub(crate) const CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;

/// What storing one report writes, worked out once for either executor.
pub(crate) struct Row {
    pub id: String,
    pub device: String,
    pub user: String,
    pub upn: Option<String>,
    pub hostname: String,
    pub os: String,
    pub agent: String,
    pub mode: String,
    pub outcome: FleetOutcome,
    pub reason: Option<String>,
    pub finished: i64,
    pub received: i64,
    pub day: i64,
    pub body: String,
    /// Each task once, with its worst status.
    pub statuses: Vec<(String, String)>,
    /// (task, status, detail) of what needs someone.
    pub problems: Vec<(String, String, String)>,
    /// (organization, switch, verified) of each organization the report names.
    pub orgs: Vec<(String, String, Option<String>)>,
    /// The key to give the device and user when they have none yet.
    pub enroll: Option<String>,
    /// The label of the enrollment token the report came with.
    pub label: Option<String>,
}

/// A device's key and the id of the report that enrolled it.
pub type DeviceKey = (String, String);

/// The system for people: "Windows 11 Pro", not "windows Windows 11 Pro" (the long version
/// usually names the OS already).
fn system_of(device: &crate::report::Device) -> String {
    let (os, version) = (device.os.trim(), device.os_version.trim());
    if version.to_lowercase().starts_with(&os.to_lowercase()) {
        version.to_string()
    } else {
        format!("{os} {version}")
    }
}

impl Row {
    /// The task statuses to keep for the device: a task it finished before ("done") and that
    /// has nothing left now ("ok") is still done, so a device's state is the cutover's state,
    /// not the last run's.
    pub(crate) fn carried<'a>(&'a self, done_before: &'a [String]) -> Vec<(&'a str, &'a str)> {
        self.statuses
            .iter()
            .map(|(task, status)| {
                let kept = if status == "ok" && done_before.contains(task) {
                    "done"
                } else {
                    status.as_str()
                };
                (task.as_str(), kept)
            })
            .collect()
    }

    pub(crate) fn new(report: &Report, body: &str, received: i64) -> Row {
        // A clock that runs ahead, or a forged date, must not pin a device's state: a report
        // counts as finished no later than shortly after it arrived.
        let finished = millis(report.finished_at).min(received + CLOCK_SKEW_MS);
        let problems = problems(report);
        let mut statuses: BTreeMap<&str, Status> = BTreeMap::new();
        for task in &report.tasks {
            let worst = statuses.entry(&task.id).or_insert(task.status);
            *worst = (*worst).max(task.status);
        }
        Row {
            id: report.report_id.to_string(),
            device: report.device.device_id.clone(),
            user: report.user.name.clone(),
            upn: report.user.upn.as_deref().map(str::to_ascii_lowercase),
            hostname: report.device.hostname.clone(),
            os: system_of(&report.device),
            agent: report.agent_version.clone(),
            mode: kebab(&report.mode),
            outcome: FleetOutcome::of_report(report),
            reason: problems
                .first()
                .map(|(task, _, detail)| format!("{task}: {detail}")),
            finished,
            received,
            day: finished.div_euclid(DAY_MS),
            body: body.to_string(),
            statuses: statuses
                .into_iter()
                .map(|(task, status)| (task.to_string(), kebab(&status)))
                .collect(),
            problems,
            orgs: report
                .organizations
                .iter()
                .map(|org| {
                    (
                        org.name.to_ascii_lowercase(),
                        org.switch.as_str().to_string(),
                        org.verified.map(|status| kebab(&status)),
                    )
                })
                .collect(),
            enroll: None,
            label: None,
        }
    }
}

/// The statements that store a report, shared by both executors. In order: the report (no
/// row: a duplicate), the day's count, the device row (no row: an older report than the
/// device's latest, which then only counts), and the latest report's task statuses and problems.
pub(crate) mod sql {
    pub(crate) const REPORT: &str = "INSERT INTO reports (report_id, device_id, user_name, hostname, mode, outcome, agent_version, finished_at, received_at, body)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (report_id) DO NOTHING";
    pub(crate) const DAY: &str =
        "INSERT INTO report_days (day, outcome, reports) VALUES ($1, $2, 1)
         ON CONFLICT (day, outcome) DO UPDATE SET reports = report_days.reports + 1";
    pub(crate) const DEVICE: &str = "INSERT INTO devices (device_id, user_name, upn, hostname, os, agent_version, mode, outcome, reason, last_report_id, first_seen, last_seen, reports, enrollment_label)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, 1, $12)
         ON CONFLICT (device_id, user_name) DO UPDATE SET
           upn = COALESCE(excluded.upn, devices.upn), hostname = excluded.hostname, os = excluded.os,
           agent_version = excluded.agent_version, mode = excluded.mode,
           outcome = CASE WHEN excluded.outcome = 'nothing-to-do' AND devices.outcome = 'done'
                          THEN 'done' ELSE excluded.outcome END,
           reason = excluded.reason, last_report_id = excluded.last_report_id,
           first_seen = CASE WHEN devices.first_seen < excluded.first_seen THEN devices.first_seen ELSE excluded.first_seen END,
           last_seen = excluded.last_seen, reports = devices.reports + 1,
           enrollment_label = excluded.enrollment_label
         WHERE excluded.last_seen >= devices.last_seen";
    pub(crate) const OLDER: &str = "UPDATE devices SET reports = reports + 1,
           first_seen = CASE WHEN first_seen < $1 THEN first_seen ELSE $1 END
         WHERE device_id = $2 AND user_name = $3";
    /// The tasks a device finished in its previous latest report: a later "ok" keeps "done".
    pub(crate) const DONE_TASKS: &str = "SELECT task_id FROM task_status WHERE device_id = $1 AND user_name = $2 AND status = 'done'";
    /// Before a device's task statuses are replaced: they no longer count.
    pub(crate) const UNCOUNT_TASKS: &str = "UPDATE task_counts SET devices = devices - 1
         WHERE EXISTS (SELECT 1 FROM task_status t WHERE t.device_id = $1 AND t.user_name = $2
                       AND t.task_id = task_counts.task_id AND t.status = task_counts.status)";
    /// Counts that reach zero go, so per-task tables list only what some device has.
    pub(crate) const PRUNE_COUNTS: &str = "DELETE FROM task_counts WHERE devices <= 0
         AND EXISTS (SELECT 1 FROM task_status t WHERE t.device_id = $1 AND t.user_name = $2
                     AND t.task_id = task_counts.task_id AND t.status = task_counts.status)";
    pub(crate) const CLEAR_TASKS: &str =
        "DELETE FROM task_status WHERE device_id = $1 AND user_name = $2";
    pub(crate) const COUNT_TASK: &str =
        "INSERT INTO task_counts (task_id, status, devices) VALUES ($1, $2, 1)
         ON CONFLICT (task_id, status) DO UPDATE SET devices = task_counts.devices + 1";
    pub(crate) const CLEAR_PROBLEMS: &str =
        "DELETE FROM problems WHERE device_id = $1 AND user_name = $2";
    pub(crate) const TASK: &str =
        "INSERT INTO task_status (device_id, user_name, task_id, status) VALUES ($1, $2, $3, $4)";
    pub(crate) const PROBLEM: &str = "INSERT INTO problems (device_id, user_name, task_id, status, detail) VALUES ($1, $2, $3, $4, $5)";
    /// An organization of the latest report: a report that did not verify it keeps the last
    /// verification.
    pub(crate) const ORG: &str = "INSERT INTO device_orgs (device_id, user_name, org, switch, verified, report_id)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (device_id, user_name, org) DO UPDATE SET switch = excluded.switch,
           verified = COALESCE(excluded.verified, device_orgs.verified), report_id = excluded.report_id";
    /// A device's first report gives it its key, unless another report was first.
    pub(crate) const ENROLL: &str =
        "INSERT INTO device_keys (device_id, user_name, secret, first_report, created_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (device_id, user_name) DO NOTHING";
    pub(crate) const KEY: &str =
        "SELECT secret, first_report FROM device_keys WHERE device_id = $1 AND user_name = $2";
    /// Organizations the latest report no longer names.
    pub(crate) const STALE_ORGS: &str =
        "DELETE FROM device_orgs WHERE device_id = $1 AND user_name = $2 AND report_id <> $3";
    /// The device's verification over its organizations: `ok` only when every verified one is.
    pub(crate) const VERIFIED: &str = "UPDATE devices SET verified = (
           SELECT CASE WHEN COUNT(*) = 0 THEN NULL
                       WHEN SUM(CASE WHEN o.verified = 'ok' THEN 1 ELSE 0 END) = COUNT(*) THEN 'ok'
                       WHEN SUM(CASE WHEN o.verified = 'failed' THEN 1 ELSE 0 END) > 0 THEN 'failed'
                       WHEN SUM(CASE WHEN o.verified = 'needs-user' THEN 1 ELSE 0 END) > 0 THEN 'needs-user'
                       ELSE 'skipped' END
           FROM device_orgs o WHERE o.device_id = $1 AND o.user_name = $2 AND o.verified IS NOT NULL)
         WHERE device_id = $1 AND user_name = $2";
}

/// [`sql`] through sqlx, on a connection inside a transaction (PostgreSQL).
async fn insert_in(conn: &mut sqlx::AnyConnection, r: &Row) -> Result<Stored, StoreError> {
    let inserted = sqlx::query(sql::REPORT)
        .bind(&r.id)
        .bind(&r.device)
        .bind(&r.user)
        .bind(&r.hostname)
        .bind(&r.mode)
        .bind(r.outcome.as_str())
        .bind(&r.agent)
        .bind(r.finished)
        .bind(r.received)
        .bind(&r.body)
        .execute(&mut *conn)
        .await?;
    if inserted.rows_affected() == 0 {
        return Ok(Stored::Duplicate);
    }
    sqlx::query(sql::DAY)
        .bind(r.day)
        .bind(r.outcome.as_str())
        .execute(&mut *conn)
        .await?;
    let latest = sqlx::query(sql::DEVICE)
        .bind(&r.device)
        .bind(&r.user)
        .bind(&r.upn)
        .bind(&r.hostname)
        .bind(&r.os)
        .bind(&r.agent)
        .bind(&r.mode)
        .bind(r.outcome.as_str())
        .bind(&r.reason)
        .bind(&r.id)
        .bind(r.finished)
        .bind(&r.label)
        .execute(&mut *conn)
        .await?;
    if latest.rows_affected() == 0 {
        sqlx::query(sql::OLDER)
            .bind(r.finished)
            .bind(&r.device)
            .bind(&r.user)
            .execute(&mut *conn)
            .await?;
        return Ok(Stored::Accepted);
    }
    let done: Vec<String> = sqlx::query(sql::DONE_TASKS)
        .bind(&r.device)
        .bind(&r.user)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    for clear in [
        sql::UNCOUNT_TASKS,
        sql::PRUNE_COUNTS,
        sql::CLEAR_TASKS,
        sql::CLEAR_PROBLEMS,
    ] {
        sqlx::query(clear)
            .bind(&r.device)
            .bind(&r.user)
            .execute(&mut *conn)
            .await?;
    }
    for (task, status) in r.carried(&done) {
        sqlx::query(sql::TASK)
            .bind(&r.device)
            .bind(&r.user)
            .bind(task)
            .bind(status)
            .execute(&mut *conn)
            .await?;
        sqlx::query(sql::COUNT_TASK)
            .bind(task)
            .bind(status)
            .execute(&mut *conn)
            .await?;
    }
    for (task, status, detail) in &r.problems {
        sqlx::query(sql::PROBLEM)
            .bind(&r.device)
            .bind(&r.user)
            .bind(task)
            .bind(status)
            .bind(detail)
            .execute(&mut *conn)
            .await?;
    }
    if !r.orgs.is_empty() {
        for (org, switch, verified) in &r.orgs {
            sqlx::query(sql::ORG)
                .bind(&r.device)
                .bind(&r.user)
                .bind(org)
                .bind(switch)
                .bind(verified)
                .bind(&r.id)
                .execute(&mut *conn)
                .await?;
        }
        sqlx::query(sql::STALE_ORGS)
            .bind(&r.device)
            .bind(&r.user)
            .bind(&r.id)
            .execute(&mut *conn)
            .await?;
        sqlx::query(sql::VERIFIED)
            .bind(&r.device)
            .bind(&r.user)
            .execute(&mut *conn)
            .await?;
    }
    Ok(Stored::Accepted)
}

/// [`sql::ENROLL`] and [`sql::KEY`] on PostgreSQL's transaction.
async fn enroll_in(
    conn: &mut sqlx::AnyConnection,
    r: &Row,
    secret: &str,
) -> Result<DeviceKey, StoreError> {
    sqlx::query(sql::ENROLL)
        .bind(&r.device)
        .bind(&r.user)
        .bind(secret)
        .bind(&r.id)
        .bind(r.received)
        .execute(&mut *conn)
        .await?;
    let row = sqlx::query(sql::KEY)
        .bind(&r.device)
        .bind(&r.user)
        .fetch_one(&mut *conn)
        .await?;
    Ok((row.get(0), row.get(1)))
}

/// The items of a report that need someone, most serious first: (task, status, detail).
fn problems(report: &Report) -> Vec<(String, String, String)> {
    let mut found: Vec<(Status, String, String)> = report
        .tasks
        .iter()
        .flat_map(|task| {
            task.items
                .iter()
                .filter(|i| matches!(i.status, Status::Failed | Status::NeedsUser))
                .map(move |i| (i.status, task.id.clone(), i.detail.clone()))
        })
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.0));
    found
        .into_iter()
        .take(50)
        .map(|(status, task, detail)| (task, kebab(&status), detail))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_is_named_once() {
        let device = |os: &str, version: &str| crate::report::Device {
            hostname: "pc".into(),
            os: os.into(),
            os_version: version.into(),
            arch: "x86_64".into(),
            device_id: "id".into(),
        };
        assert_eq!(
            system_of(&device("linux", "Linux (Debian GNU/Linux 12)")),
            "Linux (Debian GNU/Linux 12)"
        );
        assert_eq!(
            system_of(&device("windows", "Windows 11 Pro")),
            "Windows 11 Pro"
        );
        assert_eq!(system_of(&device("windows", "11")), "windows 11");
    }
}
