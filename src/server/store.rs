//! Where reports live: embedded SQLite by default, PostgreSQL by URL, one SQL dialect for both
//! (sqlx's `Any` driver). Every query is shared; the migrations are kept per backend under
//! `migrations/` and compiled in.
//!
//! Nothing here lives only in this process: several servers may share one PostgreSQL.
//! Parameters are numbered in the order they first appear, which SQLite needs for `$n`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row as _};
use time::OffsetDateTime;

use super::expected::Expected;
use crate::report::{Outcome, Report, Status};

#[path = "sqlite_writer.rs"]
mod sqlite_writer;

/// A store error in words, with the fix.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what}\nhint: {hint}")]
    Setup { what: String, hint: String },
    #[error("the database failed: {0}")]
    Database(#[from] sqlx::Error),
}

/// Which database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The store.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    pub backend: Backend,
    /// SQLite: the batching writer.
    writer: Option<sqlite_writer::Writer>,
}

/// What storing a report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Accepted,
    /// A report with this id was stored before; nothing changed.
    Duplicate,
}

/// The latest state of one device and user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceRow {
    pub device_id: String,
    pub user_name: String,
    pub upn: Option<String>,
    pub hostname: String,
    pub os: String,
    pub agent_version: String,
    pub mode: String,
    pub outcome: String,
    /// The first problem of the latest report, in words.
    pub reason: Option<String>,
    pub first_seen: i64,
    pub last_seen: i64,
    pub reports: i64,
}

/// One stored report, for a device's history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReportRow {
    pub report_id: String,
    pub mode: String,
    pub outcome: String,
    pub agent_version: String,
    pub finished_at: i64,
    pub received_at: i64,
}

/// Filters for the device list.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct DeviceFilter {
    /// `done`, `action-needed`, `failed`, `nothing-to-do`, `not-checked`, or `stale` (not seen
    /// for 7 days).
    pub outcome: Option<String>,
    /// Part of the host name, user name or UPN (case-insensitive).
    pub q: Option<String>,
}

/// The fleet at a glance.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub devices: i64,
    /// Device count per outcome.
    pub outcomes: BTreeMap<String, i64>,
    /// Not seen for [`STALE_AFTER_MS`].
    pub stale: i64,
    /// Per task: device count per status.
    pub tasks: BTreeMap<String, BTreeMap<String, i64>>,
    /// Per day (Unix day number; ISO dates such as `2026-11-29` in JSON): report count per
    /// outcome.
    #[serde(serialize_with = "iso_days")]
    pub days: BTreeMap<i64, BTreeMap<String, i64>>,
    /// Failures grouped by cause: (task, detail, devices).
    pub failures: Vec<(String, String, i64)>,
    /// Expected users who have not reported yet (the first 200, by name).
    pub not_reported: Vec<String>,
    /// How many expected users have not reported yet (all of them, not only the list's).
    pub not_reported_count: i64,
    pub expected: i64,
}

/// Day numbers as the ISO dates people and tools read (`2026-11-29`).
fn iso_days<S: serde::Serializer>(
    days: &BTreeMap<i64, BTreeMap<String, i64>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = serializer.serialize_map(Some(days.len()))?;
    for (day, counts) in days {
        map.serialize_entry(&iso_date(*day), counts)?;
    }
    map.end()
}

/// `2026-11-29` for a Unix day number.
pub fn iso_date(day: i64) -> String {
    OffsetDateTime::from_unix_timestamp(day * 86_400)
        .map(|t| format!("{:04}-{:02}-{:02}", t.year(), t.month() as u8, t.day()))
        .unwrap_or_else(|_| day.to_string())
}

/// Creates an empty file only its owner can read and write (an empty file is an empty SQLite
/// database).
fn create_private(path: &std::path::Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        options.open(path)?;
        // The mode given to open is masked by the umask; set it outright.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
    }
    #[cfg(not(unix))]
    options.open(path).map(|_| ())
}

/// The columns [`device_row`] reads, in its order.
macro_rules! device_columns {
    () => {
        "device_id, user_name, upn, hostname, os, agent_version, mode, outcome, reason, first_seen, last_seen, reports"
    };
}

/// A device not seen for this long is stale.
pub const STALE_AFTER_MS: i64 = 7 * 24 * 3600 * 1000;
const DAY_MS: i64 = 24 * 3600 * 1000;

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Unix milliseconds.
pub fn millis(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

impl Store {
    /// Opens the database at `url` and applies the migrations. A SQLite file is created only
    /// when `create` is set (the default database); a mistyped path is an error, never a new
    /// empty database.
    pub async fn open(url: &str, create: bool) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::Setup {
                what: format!(
                    "`{}` is not a database URL this server knows",
                    redact_url(url)
                ),
                hint: "use sqlite://path/to/file.db or postgres://user@host/database".into(),
            });
        };
        let mut connect_url = url.to_string();
        if backend == Backend::Sqlite {
            let path = sqlite_path(url);
            if !create && !path.exists() {
                return Err(StoreError::Setup {
                    what: format!("the SQLite database {} does not exist", path.display()),
                    hint: "check the path; to start a new database there, add --create".into(),
                });
            }
            if create && !path.exists() {
                // Private whatever the umask: reports name people and machines. SQLite gives its
                // -wal and -shm files the database file's permissions.
                create_private(&path).map_err(|e| StoreError::Setup {
                    what: format!("cannot create the SQLite database {}: {e}", path.display()),
                    hint: "choose a writable folder with --database-url".into(),
                })?;
            }
            // The path is percent-encoded in the opaque `sqlite:` form, so that no URL parser
            // mistakes `C:` for a host or turns a Windows `\` into `/` on the way to SQLite.
            connect_url = format!(
                "sqlite:{}?mode={}",
                percent_encoding::utf8_percent_encode(
                    &path.to_string_lossy(),
                    percent_encoding::NON_ALPHANUMERIC
                ),
                if create { "rwc" } else { "rw" }
            );
        }
        let options = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 16 })
            .acquire_timeout(std::time::Duration::from_secs(5))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets the dashboard read while reports are written.
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = NORMAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 5000")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            });
        let pool = options.connect(&connect_url).await.map_err(|e| StoreError::Setup {
            what: format!("cannot open the database {}: {e}", redact_url(url)),
            hint: match backend {
                Backend::Sqlite => "check that the folder exists and is writable".into(),
                Backend::Postgres => {
                    "check the host, port, database name and credentials, and that PostgreSQL is running"
                        .into()
                }
            },
        })?;
        let migrator = match backend {
            Backend::Sqlite => &SQLITE,
            Backend::Postgres => &POSTGRES,
        };
        migrator.run(&pool).await.map_err(|e| StoreError::Setup {
            what: format!("cannot prepare the database: {e}"),
            hint: "the database may belong to a newer ado-cutover-server, or to something else"
                .into(),
        })?;
        let writer = match backend {
            Backend::Sqlite => Some(sqlite_writer::Writer::start(&sqlite_path(url)).map_err(
                |e| StoreError::Setup {
                    what: format!("cannot open the database for writing: {e}"),
                    hint: "check that the file and its folder are writable".into(),
                },
            )?),
            Backend::Postgres => None,
        };
        Ok(Store {
            pool,
            backend,
            writer,
        })
    }

    /// True when the database answers.
    pub async fn healthy(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

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
        let row = Row::new(report, body, millis(received_at));
        if let Some(writer) = &self.writer {
            return writer.store(row).await;
        }
        let mut tx = self.pool.begin().await?;
        let stored = insert_in(&mut tx, &row).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// Devices and users matching `filter`, most recently seen first.
    pub async fn devices(
        &self,
        filter: &DeviceFilter,
        now: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<DeviceRow>, StoreError> {
        let pattern = filter
            .q
            .as_deref()
            .filter(|q| !q.trim().is_empty())
            .map(|q| format!("%{}%", escape_like(&q.trim().to_lowercase())));
        let outcome = filter.outcome.as_deref().filter(|o| !o.is_empty());
        let stale_before = millis(now) - STALE_AFTER_MS;
        // Without a search, one query per filter, so each can use its index.
        let rows = match (pattern, outcome) {
            (None, None) => {
                sqlx::query(concat!(
                    "SELECT ", device_columns!(), " FROM devices
                     ORDER BY last_seen DESC, device_id, user_name LIMIT $1"
                ))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
            (None, Some("stale")) => {
                sqlx::query(concat!(
                    "SELECT ", device_columns!(), " FROM devices WHERE last_seen < $1
                     ORDER BY last_seen DESC, device_id, user_name LIMIT $2"
                ))
                .bind(stale_before)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
            (None, Some(outcome)) => {
                sqlx::query(concat!(
                    "SELECT ", device_columns!(), " FROM devices WHERE outcome = $1
                     ORDER BY last_seen DESC, device_id, user_name LIMIT $2"
                ))
                .bind(outcome)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
            (Some(pattern), outcome) => {
                sqlx::query(concat!(
                    "SELECT ", device_columns!(), " FROM devices
                     WHERE (lower(hostname) LIKE $1 ESCAPE '\\' OR lower(user_name) LIKE $1 ESCAPE '\\' OR lower(COALESCE(upn, '')) LIKE $1 ESCAPE '\\')
                       AND ($2 = '' OR ($2 = 'stale' AND last_seen < $3) OR outcome = $2)
                     ORDER BY last_seen DESC, device_id, user_name LIMIT $4"
                ))
                .bind(pattern)
                .bind(outcome.unwrap_or_default())
                .bind(stale_before)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
        };
        Ok(rows.iter().map(device_row).collect())
    }

    /// One device and user, with every report kept for it, newest first.
    pub async fn device(
        &self,
        device_id: &str,
        user_name: &str,
    ) -> Result<Option<(DeviceRow, Vec<ReportRow>, Option<Report>)>, StoreError> {
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
        let device = device_row(&row);
        let reports = sqlx::query(
            "SELECT report_id, mode, outcome, agent_version, finished_at, received_at FROM reports
             WHERE device_id = $1 AND user_name = $2 ORDER BY finished_at DESC LIMIT 500",
        )
        .bind(device_id)
        .bind(user_name)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| ReportRow {
            report_id: r.get(0),
            mode: r.get(1),
            outcome: r.get(2),
            agent_version: r.get(3),
            finished_at: r.get(4),
            received_at: r.get(5),
        })
        .collect();
        let latest: Option<String> = sqlx::query(
            "SELECT body FROM reports WHERE report_id = (SELECT last_report_id FROM devices WHERE device_id = $1 AND user_name = $2)",
        )
        .bind(device_id)
        .bind(user_name)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| r.get(0));
        let latest = latest.and_then(|body| serde_json::from_str(&body).ok());
        Ok(Some((device, reports, latest)))
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

    /// The fleet overview at `now`, with report counts for the last `days` days.
    pub async fn summary(&self, now: OffsetDateTime, days: i64) -> Result<Summary, StoreError> {
        let now = millis(now);
        let mut summary = Summary::default();
        for row in sqlx::query(
            "SELECT outcome, COUNT(*), SUM(CASE WHEN last_seen < $1 THEN 1 ELSE 0 END) FROM devices GROUP BY outcome",
        )
        .bind(now - STALE_AFTER_MS)
        .fetch_all(&self.pool)
        .await?
        {
            let count: i64 = row.get(1);
            let stale: i64 = row.try_get(2).unwrap_or(0);
            summary.devices += count;
            summary.stale += stale;
            summary.outcomes.insert(row.get(0), count);
        }
        for row in sqlx::query("SELECT task_id, status, devices FROM task_counts WHERE devices > 0")
            .fetch_all(&self.pool)
            .await?
        {
            summary
                .tasks
                .entry(row.get(0))
                .or_default()
                .insert(row.get(1), row.get(2));
        }
        let since = (now / DAY_MS - days + 1) * DAY_MS;
        for row in sqlx::query("SELECT day, outcome, reports FROM report_days WHERE day >= $1")
            .bind(since / DAY_MS)
            .fetch_all(&self.pool)
            .await?
        {
            summary
                .days
                .entry(row.get(0))
                .or_default()
                .insert(row.get(1), row.get(2));
        }
        summary.failures = sqlx::query(
            "SELECT task_id, detail, COUNT(*) AS n FROM problems WHERE status = 'failed'
             GROUP BY task_id, detail ORDER BY n DESC, task_id, detail LIMIT 20",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
        summary.expected = sqlx::query("SELECT COUNT(*) FROM expected_users")
            .fetch_one(&self.pool)
            .await?
            .get(0);
        // One matching rule for the list and its count.
        macro_rules! not_reported {
            () => {
                "FROM expected_users e WHERE NOT EXISTS (
                     SELECT 1 FROM devices d WHERE d.upn = e.upn OR d.upn = e.email
                         OR (e.account IS NOT NULL AND lower(d.user_name) = e.account))"
            };
        }
        summary.not_reported = sqlx::query(concat!(
            "SELECT upn ",
            not_reported!(),
            " ORDER BY upn LIMIT 200"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
        summary.not_reported_count = sqlx::query(concat!("SELECT COUNT(*) ", not_reported!()))
            .fetch_one(&self.pool)
            .await?
            .get(0);
        Ok(summary)
    }

    /// Replaces the list of expected users; returns how many.
    pub async fn set_expected_users(&self, users: &[Expected]) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM expected_users")
            .execute(&mut *tx)
            .await?;
        for user in users {
            sqlx::query(
                "INSERT INTO expected_users (upn, email, account) VALUES ($1, $2, $3)
                 ON CONFLICT (upn) DO NOTHING",
            )
            .bind(user.key.to_lowercase())
            .bind(user.email.as_deref().map(str::to_lowercase))
            .bind(user.account.as_deref().map(str::to_lowercase))
            .execute(&mut *tx)
            .await?;
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

    /// Ends a session, and forgets expired ones.
    pub async fn end_session(&self, sha256: &str, now: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE sha256 = $1 OR expires_at <= $2")
            .bind(sha256)
            .bind(millis(now))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// How many reports are stored.
    pub async fn report_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT COUNT(*) FROM reports")
            .fetch_one(&self.pool)
            .await?
            .get(0))
    }
}

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
    pub outcome: String,
    pub reason: Option<String>,
    pub finished: i64,
    pub received: i64,
    pub day: i64,
    pub body: String,
    /// Each task once, with its worst status.
    pub statuses: Vec<(String, String)>,
    /// (task, status, detail) of what needs someone.
    pub problems: Vec<(String, String, String)>,
}

/// The outcome the fleet sees: the report's, except that "done" or "nothing to do" with
/// something the agent could not check is `not-checked` (its own count, never ok). Agents that
/// predate the distinction send the same fields, so this works for every agent version.
pub(crate) fn outcome_of(report: &Report) -> String {
    match report.outcome {
        Outcome::Done | Outcome::NothingToDo if report.not_everything_checked() => {
            NOT_CHECKED.to_string()
        }
        outcome => kebab(&outcome),
    }
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

/// The derived outcome of a device whose latest report could not check everything.
pub const NOT_CHECKED: &str = "not-checked";

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
        let finished = millis(report.finished_at);
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
            outcome: outcome_of(report),
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
        }
    }
}

/// The statements that store a report, shared by both executors. In order: the report (no
/// row: a duplicate), the day's count, the device row (no row: an older report than the
/// device's latest, which then only counts), and the latest report's task statuses and problems.
pub(crate) mod sql {
    pub const REPORT: &str = "INSERT INTO reports (report_id, device_id, user_name, hostname, mode, outcome, agent_version, finished_at, received_at, body)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (report_id) DO NOTHING";
    pub const DAY: &str = "INSERT INTO report_days (day, outcome, reports) VALUES ($1, $2, 1)
         ON CONFLICT (day, outcome) DO UPDATE SET reports = report_days.reports + 1";
    pub const DEVICE: &str = "INSERT INTO devices (device_id, user_name, upn, hostname, os, agent_version, mode, outcome, reason, last_report_id, first_seen, last_seen, reports)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, 1)
         ON CONFLICT (device_id, user_name) DO UPDATE SET
           upn = COALESCE(excluded.upn, devices.upn), hostname = excluded.hostname, os = excluded.os,
           agent_version = excluded.agent_version, mode = excluded.mode,
           outcome = CASE WHEN excluded.outcome = 'nothing-to-do' AND devices.outcome = 'done'
                          THEN 'done' ELSE excluded.outcome END,
           reason = excluded.reason, last_report_id = excluded.last_report_id,
           first_seen = CASE WHEN devices.first_seen < excluded.first_seen THEN devices.first_seen ELSE excluded.first_seen END,
           last_seen = excluded.last_seen, reports = devices.reports + 1
         WHERE excluded.last_seen >= devices.last_seen";
    pub const OLDER: &str = "UPDATE devices SET reports = reports + 1,
           first_seen = CASE WHEN first_seen < $1 THEN first_seen ELSE $1 END
         WHERE device_id = $2 AND user_name = $3";
    /// The tasks a device finished in its previous latest report: a later "ok" keeps "done".
    pub const DONE_TASKS: &str = "SELECT task_id FROM task_status WHERE device_id = $1 AND user_name = $2 AND status = 'done'";
    /// Before a device's task statuses are replaced: they no longer count.
    pub const UNCOUNT_TASKS: &str = "UPDATE task_counts SET devices = devices - 1
         WHERE EXISTS (SELECT 1 FROM task_status t WHERE t.device_id = $1 AND t.user_name = $2
                       AND t.task_id = task_counts.task_id AND t.status = task_counts.status)";
    pub const CLEAR_TASKS: &str = "DELETE FROM task_status WHERE device_id = $1 AND user_name = $2";
    pub const COUNT_TASK: &str =
        "INSERT INTO task_counts (task_id, status, devices) VALUES ($1, $2, 1)
         ON CONFLICT (task_id, status) DO UPDATE SET devices = task_counts.devices + 1";
    pub const CLEAR_PROBLEMS: &str = "DELETE FROM problems WHERE device_id = $1 AND user_name = $2";
    pub const TASK: &str =
        "INSERT INTO task_status (device_id, user_name, task_id, status) VALUES ($1, $2, $3, $4)";
    pub const PROBLEM: &str = "INSERT INTO problems (device_id, user_name, task_id, status, detail) VALUES ($1, $2, $3, $4, $5)";
}

/// [`sql`] through sqlx, on a connection inside a transaction (PostgreSQL).
async fn insert_in(conn: &mut sqlx::AnyConnection, r: &Row) -> Result<Stored, StoreError> {
    let inserted = sqlx::query(sql::REPORT)
        .bind(&r.id)
        .bind(&r.device)
        .bind(&r.user)
        .bind(&r.hostname)
        .bind(&r.mode)
        .bind(&r.outcome)
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
        .bind(&r.outcome)
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
        .bind(&r.outcome)
        .bind(&r.reason)
        .bind(&r.id)
        .bind(r.finished)
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
    for clear in [sql::UNCOUNT_TASKS, sql::CLEAR_TASKS, sql::CLEAR_PROBLEMS] {
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
    Ok(Stored::Accepted)
}

fn device_row(r: &AnyRow) -> DeviceRow {
    DeviceRow {
        device_id: r.get(0),
        user_name: r.get(1),
        upn: r.get(2),
        hostname: r.get(3),
        os: r.get(4),
        agent_version: r.get(5),
        mode: r.get(6),
        outcome: r.get(7),
        reason: r.get(8),
        first_seen: r.get(9),
        last_seen: r.get(10),
        reports: r.get(11),
    }
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

/// The kebab-case name serde gives an enum value (`needs-user`, `action-needed`).
pub(crate) fn kebab<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// The file of a `sqlite://` URL (query removed).
fn sqlite_path(url: &str) -> PathBuf {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let rest = rest.split('?').next().unwrap_or(rest);
    Path::new(rest).to_path_buf()
}

/// A database URL without its password.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_days_are_iso_dates_in_json() {
        let mut summary = Summary::default();
        summary
            .days
            .entry(20_421)
            .or_default()
            .insert("done".into(), 2);
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["days"]["2025-11-29"]["done"], 2, "{json}");
        assert_eq!(iso_date(0), "1970-01-01");
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
