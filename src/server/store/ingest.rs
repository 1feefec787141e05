//! Storing what comes in: a report (through the batching writer of its backend,
//! [`super::sqlite_writer`] or [`super::pg_writer`]), the list of expected users, and the pruning
//! of old reports.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::{DAY_MS, Store, StoreError, Stored, Writer, kebab, millis, sql};
use crate::report::limits::{KEY_TEXT, shortened};
use crate::report::{Report, Status};
use crate::server::expected::Expected;
use crate::server::outcome::FleetOutcome;

impl Store {
    /// Stores a report (its JSON as received in `body`). The device's latest state follows the
    /// report that finished last, so reports delivered late from a spool never hide newer ones.
    ///
    /// One writer per backend and instance commits reports in batches: a commit per report is
    /// what limited ingest (SQLite has one writer anyway; on PostgreSQL concurrent reports
    /// waited on each other's counter rows).
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
        match &self.writer {
            Writer::Sqlite(writer) => writer.store(row).await,
            Writer::Postgres(writer) => writer.store(row).await,
        }
    }

    /// Replaces the list of expected users, and puts every device into its group again;
    /// returns how many users.
    pub async fn set_expected_users(&self, users: &[Expected]) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM expected_users")
            .execute(&mut *tx)
            .await?;
        // Many rows per statement: a large organization's list (100,000 users and more) goes
        // in well under a second, so reports waiting on the database are not held up.
        for chunk in users.chunks(EXPECTED_PER_STATEMENT) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let n = 4 * i;
                    format!("(${}, ${}, ${}, ${})", n + 1, n + 2, n + 3, n + 4)
                })
                .collect();
            let sql = format!(
                "INSERT INTO expected_users (upn, email, account, grp) VALUES {} ON CONFLICT (upn) DO NOTHING",
                rows.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for user in chunk {
                query = query
                    .bind(user.key.to_lowercase())
                    .bind(user.email.as_deref().map(str::to_lowercase))
                    .bind(user.account.as_deref().map(str::to_lowercase))
                    .bind(user.group.clone());
            }
            query.execute(&mut *tx).await?;
        }
        sqlx::query(sql::ALL_GROUPS).execute(&mut *tx).await?;
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
    /// The group the device's own setting names (`report.group`).
    pub group: Option<String>,
    /// The report's inventory, when it carries one: (organization, category, target, kind),
    /// known categories only, each entry once.
    pub inventory: Option<Vec<(String, &'static str, String, String)>>,
    /// When the inventory was taken: the report's finish, never after it arrived.
    pub inventory_at: i64,
    /// The list is whole: the agent left nothing out to fit the limits. Only a whole list
    /// closes the device's entries it no longer has; one cut short adds and renews entries.
    pub inventory_whole: bool,
    /// Whose the inventory is, for the people counts: the UPN, else the user name.
    pub person: String,
}

/// What a batch adds to the counters: kept until its end, so that the rows every batch
/// updates (today's count, each task's) are written once a batch. On PostgreSQL they are then
/// locked only from there to the commit, and concurrent batches overlap everything else; on
/// SQLite a row update per report and task cost more than the rest of the task statuses.
#[derive(Default)]
pub(super) struct Counts {
    /// Reports per (day, outcome).
    pub(super) days: BTreeMap<(i64, String), i64>,
    /// Devices per (task, status), up or down.
    pub(super) tasks: BTreeMap<(String, String), i64>,
}

impl Counts {
    /// A report stored for the first time: its day counts it.
    pub(super) fn stored(&mut self, r: &Row) {
        *self
            .days
            .entry((r.day, r.outcome.as_str().to_string()))
            .or_default() += 1;
    }

    /// A device's task statuses replaced: `before` no longer count, `after` do.
    pub(super) fn replaced(&mut self, before: &[(String, String)], after: &[(&str, &str)]) {
        for status in before {
            *self.tasks.entry(status.clone()).or_default() -= 1;
        }
        for (task, status) in after {
            *self
                .tasks
                .entry((task.to_string(), status.to_string()))
                .or_default() += 1;
        }
    }
}

/// The tasks a device had finished ("done") among its task statuses before a report.
pub(super) fn done_before(statuses: &[(String, String)]) -> Vec<String> {
    statuses
        .iter()
        .filter(|(_, status)| status == "done")
        .map(|(task, _)| task.clone())
        .collect()
}

/// A device's key and the id of the report that enrolled it.
pub type DeviceKey = (String, String);

/// What a writer did with one report.
pub(super) type Saved = (Stored, Option<DeviceKey>);

/// The writer is gone (it stopped, or the server is shutting down).
pub(super) fn writer_stopped() -> StoreError {
    StoreError::Setup {
        what: "the database writer stopped".into(),
        hint: "restart the server; its log says why".into(),
    }
}

/// The database refused a report.
pub(super) fn not_stored(error: String) -> StoreError {
    StoreError::Setup {
        what: format!("the report could not be stored: {error}"),
        hint: "check the server's disk and database".into(),
    }
}

/// A report's inventory as stored: known categories only (a later agent's new word is not
/// counted), the organization in lower case, the target cut to [`KEY_TEXT`] (it is a key),
/// each place once.
fn inventory_of(found: &[crate::report::Found]) -> Vec<(String, &'static str, String, String)> {
    let mut entries: Vec<_> = found
        .iter()
        .filter(|f| f.category != crate::report::Category::Unknown)
        .map(|f| {
            (
                f.organization.to_lowercase(),
                f.category.as_str(),
                shortened(&f.target, KEY_TEXT),
                f.kind.clone(),
            )
        })
        .collect();
    entries.sort();
    entries.dedup_by(|a, b| (&a.0, a.1, &a.2) == (&b.0, b.1, &b.2));
    entries
}

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

    /// The device's verification once this report is its latest, when the report alone
    /// decides it: every organization it names (each once, a later entry's verification or the
    /// earlier one's) has a verification of its own. Then it is written with the device row,
    /// and the device is not written a second time (on PostgreSQL, a second version of the row
    /// and of its index entries, the most expensive statement of a batch). `None` when the
    /// report names no organization (the device keeps its verification), or leaves one
    /// unverified (that organization keeps its last one, which only the database knows:
    /// [`sql::VERIFIED`] counts it). The rule is [`sql::VERIFIED`]'s.
    pub(crate) fn verification(&self) -> Option<&'static str> {
        let mut orgs: BTreeMap<&str, Option<&str>> = BTreeMap::new();
        for (org, _, verified) in &self.orgs {
            let entry = orgs.entry(org).or_default();
            *entry = verified.as_deref().or(*entry);
        }
        let all: Vec<&str> = orgs.into_values().collect::<Option<_>>()?;
        if all.is_empty() {
            return None;
        }
        Some(if all.iter().all(|v| *v == "ok") {
            "ok"
        } else if all.contains(&"failed") {
            "failed"
        } else if all.contains(&"needs-user") {
            "needs-user"
        } else {
            "skipped"
        })
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
            inventory: report.inventory.as_deref().map(inventory_of),
            inventory_at: millis(report.finished_at).min(received),
            inventory_whole: report.inventory_left_out == 0,
            person: report
                .user
                .upn
                .as_deref()
                .unwrap_or(&report.user.name)
                .to_lowercase(),
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
            group: report
                .group
                .as_deref()
                .and_then(crate::server::expected::group_name),
        }
    }
}

/// The items of a report that need someone, most serious first: (task, status, detail), the
/// detail cut to [`KEY_TEXT`] (failures are grouped by it).
fn problems(report: &Report) -> Vec<(String, String, String)> {
    let mut found: Vec<(Status, String, String)> = report
        .tasks
        .iter()
        .flat_map(|task| {
            task.items
                .iter()
                .filter(|i| matches!(i.status, Status::Failed | Status::NeedsUser))
                .map(move |i| (i.status, task.id.clone(), shortened(&i.detail, KEY_TEXT)))
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
pub(super) mod tests {
    use super::*;

    /// A row with nothing in it but its ids.
    pub(in crate::server::store) fn row(id: &str, device: &str) -> Row {
        Row {
            id: id.into(),
            device: device.into(),
            user: "user".into(),
            upn: None,
            hostname: device.into(),
            os: "linux".into(),
            agent: "0.1.0".into(),
            mode: "run".into(),
            outcome: FleetOutcome::Done,
            reason: None,
            finished: 0,
            received: 0,
            day: 0,
            body: "{}".into(),
            statuses: Vec::new(),
            problems: Vec::new(),
            orgs: Vec::new(),
            enroll: None,
            label: None,
            group: None,
            inventory: None,
            inventory_at: 0,
            inventory_whole: true,
            person: "user".into(),
        }
    }

    #[test]
    fn a_report_decides_the_verification_only_when_it_verified_every_organization() {
        let with = |orgs: &[(&str, Option<&str>)]| {
            let mut r = row("r", "d");
            r.orgs = orgs
                .iter()
                .map(|(org, v)| (org.to_string(), "switched".into(), v.map(str::to_string)))
                .collect();
            r.verification()
        };
        assert_eq!(with(&[]), None, "no organization: the device keeps its own");
        assert_eq!(
            with(&[("a", Some("ok")), ("b", None)]),
            None,
            "b keeps its last"
        );
        assert_eq!(with(&[("a", Some("ok")), ("b", Some("ok"))]), Some("ok"));
        assert_eq!(
            with(&[("a", Some("needs-user")), ("b", Some("failed"))]),
            Some("failed")
        );
        assert_eq!(
            with(&[("a", Some("ok")), ("b", Some("needs-user"))]),
            Some("needs-user")
        );
        assert_eq!(
            with(&[("a", Some("ok")), ("b", Some("skipped"))]),
            Some("skipped")
        );
        // Named twice: the later entry's verification, or the earlier one's.
        assert_eq!(with(&[("a", Some("failed")), ("a", None)]), Some("failed"));
        assert_eq!(
            with(&[("a", Some("failed")), ("a", Some("ok"))]),
            Some("ok")
        );
        assert_eq!(with(&[("a", None), ("a", Some("ok"))]), Some("ok"));
    }

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
