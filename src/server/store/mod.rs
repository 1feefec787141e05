//! Where reports live: embedded SQLite by default, PostgreSQL by URL, one SQL dialect for both
//! (sqlx's `Any` driver). Every query is shared; the migrations are kept per backend under
//! `migrations/` and compiled in.
//!
//! Nothing here lives only in this process: several servers may share one PostgreSQL.
//! Parameters are numbered in the order they first appear, which SQLite needs for `$n`.

use std::collections::BTreeMap;

use sqlx::AnyPool;
use time::OffsetDateTime;

use super::outcome::FleetOutcome;
use crate::report::Report;

mod audit;
mod counts;
mod device_keys;
mod fleet;
mod groups;
mod ingest;
mod inventory;
mod leases;
mod pg_lookups;
mod pg_writer;
mod queries;
mod sessions;
mod setup;
mod sql;
mod sqlite_checkpoint;
mod sqlite_lookups;
mod sqlite_writer;
mod tokens;
mod webhooks;

pub use audit::AuditEntry;
pub use device_keys::RefusedReport;
pub use groups::GroupProgress;
pub use ingest::DeviceKey;
pub(crate) use ingest::Row;
pub use inventory::{CategoryCounts, Counts, InventoryEntry, OrgInventory};
pub use sessions::{PendingSignIn, SessionRow};
pub use setup::redact_url;
pub use tokens::{NewToken, TokenInfo};
pub use webhooks::{Delivery, NoticeDevice, WebhookRow};

/// A store error in words, with the fix.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what}\nhint: {hint}")]
    Setup { what: String, hint: String },
    #[error("the database failed: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored value this server does not know (written by something else, or a newer
    /// server).
    #[error("the database holds a value this server does not know: {0}")]
    Unknown(String),
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
    /// The batching writer of reports.
    writer: Writer,
    /// Tokens and device keys: every request looks one up.
    lookups: Lookups,
}

/// The point lookups, per backend: on the asking thread (SQLite), batched (PostgreSQL).
#[derive(Clone)]
enum Lookups {
    Sqlite(std::sync::Arc<sqlite_lookups::Lookups>),
    Postgres(std::sync::Arc<pg_lookups::Lookups>),
}

/// The batching writer of this instance, per backend.
#[derive(Clone)]
enum Writer {
    Sqlite(sqlite_writer::Writer),
    Postgres(pg_writer::Writer),
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
    pub outcome: FleetOutcome,
    /// The first problem of the latest report, in words.
    pub reason: Option<String>,
    pub first_seen: i64,
    pub last_seen: i64,
    pub reports: i64,
    /// The label of the enrollment token its latest report came with (a wave, a department).
    pub enrollment_label: Option<String>,
    /// Its rollout group: its own setting `report.group`, else its enrollment token's label,
    /// else the group of the expected user it matches.
    pub group: Option<String>,
}

/// One stored report, for a device's history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReportRow {
    pub report_id: String,
    pub mode: String,
    pub outcome: FleetOutcome,
    pub agent_version: String,
    pub finished_at: i64,
    pub received_at: i64,
}

/// One device and user with the reports kept for them (newest first) and the latest report.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DeviceDetail {
    pub device: DeviceRow,
    pub reports: Vec<ReportRow>,
    pub latest: Option<Report>,
}

/// Devices that failed a task with the same detail. In JSON a `[task, detail, devices]`
/// triple, as the API has always sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureGroup {
    pub task: String,
    pub detail: String,
    pub devices: i64,
}

impl serde::Serialize for FailureGroup {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (&self.task, &self.detail, self.devices).serialize(serializer)
    }
}

/// Filters for the device list.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct DeviceFilter {
    /// `done`, `action-needed`, `failed`, `nothing-to-do`, `not-checked`, `waiting`, `stale`
    /// (not seen for 7 days), `verified` (every organization verified working) or
    /// `not-verified` (a check failed or needs the person).
    pub outcome: Option<String>,
    /// Part of the host name, user name or UPN (case-insensitive).
    pub q: Option<String>,
    /// Only the devices of this group (exact name).
    pub group: Option<String>,
    /// How many to skip (paging; see [`PAGE_MAX`]).
    #[serde(default)]
    pub offset: Option<i64>,
    /// How many at most, up to [`PAGE_MAX`] (the API; the default is [`PAGE_MAX`]).
    #[serde(default)]
    pub limit: Option<i64>,
}

/// The most devices one page of the device list holds.
pub const PAGE_MAX: i64 = 1000;

/// Devices per outcome and per verification, and the stale ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetCounts {
    pub devices: i64,
    pub outcomes: BTreeMap<FleetOutcome, i64>,
    /// Devices per verification (`ok`, `failed`, `needs-user`, `skipped`); devices never
    /// verified are not counted.
    pub verified: BTreeMap<String, i64>,
    /// Not seen for [`STALE_AFTER_MS`].
    pub stale: i64,
}

/// The fleet at a glance.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub devices: i64,
    /// Device count per outcome.
    pub outcomes: BTreeMap<FleetOutcome, i64>,
    /// Not seen for [`STALE_AFTER_MS`].
    pub stale: i64,
    /// Per task: device count per status.
    pub tasks: BTreeMap<String, BTreeMap<String, i64>>,
    /// Per day (Unix day number; ISO dates such as `2026-11-29` in JSON): report count per
    /// outcome.
    #[serde(serialize_with = "iso_days")]
    pub days: BTreeMap<i64, BTreeMap<FleetOutcome, i64>>,
    /// Failures grouped by cause, most devices first.
    pub failures: Vec<FailureGroup>,
    /// Expected users who have not reported yet (the first 200, by name).
    pub not_reported: Vec<String>,
    /// How many expected users have not reported yet (all of them, not only the list's).
    pub not_reported_count: i64,
    pub expected: i64,
    /// Devices per verification of their latest verifying run (`ok`, `failed`, `needs-user`,
    /// `skipped`); devices never verified are not counted.
    pub verified: BTreeMap<String, i64>,
    /// Per organization: devices waiting for its switch, switched, verified working.
    pub orgs: Vec<OrgSummary>,
}

/// One organization across the fleet: device and user counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct OrgSummary {
    pub org: String,
    /// Not switched to its new tenant yet: nothing was changed for it.
    pub waiting: i64,
    /// The agent could not tell (offline): nothing was changed for it.
    pub not_checked: i64,
    /// Switched, and cleaned up.
    pub switched: i64,
    /// Verified working: every check passed.
    pub verified: i64,
    /// A check failed or needs the person.
    pub not_verified: i64,
}

/// Day numbers as the ISO dates people and tools read (`2026-11-29`).
fn iso_days<S: serde::Serializer>(
    days: &BTreeMap<i64, BTreeMap<FleetOutcome, i64>>,
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

/// A device not seen for this many days is stale (the dashboard, the API and the metrics all
/// say so with this number).
pub const STALE_AFTER_DAYS: i64 = 7;
/// One day in milliseconds.
pub const DAY_MS: i64 = 24 * 3600 * 1000;
/// [`STALE_AFTER_DAYS`] in milliseconds.
pub const STALE_AFTER_MS: i64 = STALE_AFTER_DAYS * DAY_MS;

/// Unix milliseconds.
pub fn millis(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The kebab-case name serde gives an enum value (`needs-user`, `action-needed`).
pub(crate) fn kebab<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
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
            .insert(FleetOutcome::Done, 2);
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["days"]["2025-11-29"]["done"], 2, "{json}");
        assert_eq!(iso_date(0), "1970-01-01");
    }
}
