//! Rollout groups and waves: each group's progress (expected users, devices per outcome,
//! verified working, who has not reported), and the start dates that make a group a wave.
//!
//! A group's progress is the share of its people verified working: devices verified working
//! over its devices plus its expected users no device reported for (each of them one device
//! still to come). "Done" in a wave means verified working, as everywhere on the dashboard.

use std::collections::BTreeMap;

use sqlx::Row as _;

use super::queries::{distinct_values, not_reported};
use super::{Store, StoreError};
use crate::server::outcome::FleetOutcome;

/// One group (or the devices and users in none) and how far it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct GroupProgress {
    /// The group's name; `None` for devices and expected users without a group.
    pub group: Option<String>,
    /// Expected users in the group (the upload's group column).
    pub expected: i64,
    /// Of those, how many no device reported for.
    pub not_reported: i64,
    /// Devices (device and user) in the group.
    pub devices: i64,
    /// Devices per outcome.
    pub outcomes: BTreeMap<FleetOutcome, i64>,
    /// Devices whose every organization was verified working.
    pub verified: i64,
    /// Devices whose verification failed or needs the person.
    pub not_verified: i64,
    /// The wave's start (Unix milliseconds, midnight UTC), when the group is a wave.
    pub starts_at: Option<i64>,
    /// Verified working, in whole percent (rounded down: 100 only when all are) of the devices
    /// and the expected users not reported yet.
    pub percent_done: i64,
}

impl GroupProgress {
    /// Devices with this outcome.
    pub fn outcome(&self, outcome: FleetOutcome) -> i64 {
        self.outcomes.get(&outcome).copied().unwrap_or(0)
    }

    /// A wave that has started by `now` (Unix milliseconds).
    pub fn open(&self, now: i64) -> bool {
        self.starts_at.is_some_and(|start| start <= now)
    }
}

impl Store {
    /// Every group's progress, named groups by name and then the devices in none.
    pub async fn groups(&self) -> Result<Vec<GroupProgress>, StoreError> {
        self.progress(false).await
    }

    /// The waves' progress (the groups with a start date), by name: what the overview shows,
    /// reading only the waves' devices and expected users.
    pub async fn waves(&self) -> Result<Vec<GroupProgress>, StoreError> {
        let mut waves = self.progress(true).await?;
        waves.retain(|g| g.starts_at.is_some());
        Ok(waves)
    }

    /// Each group's progress; of the waves only with `waves_only`.
    async fn progress(&self, waves_only: bool) -> Result<Vec<GroupProgress>, StoreError> {
        let (devices, expected, not_reported) = if waves_only {
            (
                "SELECT group_name, outcome, verified, COUNT(*) FROM devices
                 WHERE group_name IN (SELECT name FROM waves)
                 GROUP BY group_name, outcome, verified",
                "SELECT grp, COUNT(*) FROM expected_users
                 WHERE grp IN (SELECT name FROM waves) GROUP BY grp",
                concat!(
                    "SELECT e.grp, COUNT(*) ",
                    not_reported!(),
                    " AND e.grp IN (SELECT name FROM waves) GROUP BY e.grp"
                ),
            )
        } else {
            (
                "SELECT group_name, outcome, verified, COUNT(*) FROM devices
                 GROUP BY group_name, outcome, verified",
                "SELECT grp, COUNT(*) FROM expected_users GROUP BY grp",
                concat!(
                    "SELECT e.grp, COUNT(*) ",
                    not_reported!(),
                    " GROUP BY e.grp"
                ),
            )
        };
        // Four reads that do not depend on each other, at once (each on its own connection).
        let pool = &self.pool;
        let (devices, expected, not_reported, waves) = tokio::try_join!(
            sqlx::query(devices).fetch_all(pool),
            sqlx::query(expected).fetch_all(pool),
            sqlx::query(not_reported).fetch_all(pool),
            sqlx::query("SELECT name, starts_at FROM waves").fetch_all(pool),
        )?;
        let mut groups: BTreeMap<Option<String>, GroupProgress> = BTreeMap::new();
        for row in devices {
            let name: Option<String> = row.get(0);
            let outcome: FleetOutcome = row
                .get::<String, _>(1)
                .parse()
                .map_err(StoreError::Unknown)?;
            let verified: Option<String> = row.get(2);
            let count: i64 = row.get(3);
            let group = group_of(&mut groups, name);
            group.devices += count;
            *group.outcomes.entry(outcome).or_default() += count;
            match verified.as_deref() {
                Some("ok") => group.verified += count,
                Some("failed" | "needs-user") => group.not_verified += count,
                _ => {}
            }
        }
        for row in expected {
            group_of(&mut groups, row.get(0)).expected += row.get::<i64, _>(1);
        }
        for row in not_reported {
            group_of(&mut groups, row.get(0)).not_reported += row.get::<i64, _>(1);
        }
        for row in waves {
            group_of(&mut groups, Some(row.get(0))).starts_at = Some(row.get(1));
        }
        let mut list: Vec<GroupProgress> = groups.into_values().collect();
        for group in &mut list {
            let people = group.devices + group.not_reported;
            group.percent_done = if people == 0 {
                0
            } else {
                group.verified * 100 / people
            };
        }
        // Named groups first (by name), the devices in none last.
        list.sort_by(|a, b| (a.group.is_none(), &a.group).cmp(&(b.group.is_none(), &b.group)));
        Ok(list)
    }

    /// The names of every group, sorted: those of devices, expected users and waves (each
    /// table's by one index seek per name).
    pub async fn group_names(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query(concat!(
            "WITH RECURSIVE ",
            distinct_values!("d", "devices", "group_name"),
            ", ",
            distinct_values!("e", "expected_users", "grp"),
            " SELECT name FROM d WHERE name IS NOT NULL
              UNION SELECT name FROM e WHERE name IS NOT NULL
              UNION SELECT name FROM waves ORDER BY 1"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
    }

    /// The expected users (their key: UPN, else e-mail, else account) no device reported for,
    /// of one group or all, by name: at most `limit` after `offset`.
    pub async fn not_reported(
        &self,
        group: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<(String, Option<String>)>, StoreError> {
        // SQLite numbers `$n` in the order they appear: the group comes first when there is one.
        let query = match group {
            None => sqlx::query(concat!(
                "SELECT upn, grp ",
                not_reported!(),
                " ORDER BY upn LIMIT $1 OFFSET $2"
            )),
            Some(group) => sqlx::query(concat!(
                "SELECT upn, grp ",
                not_reported!(),
                " AND e.grp = $1 ORDER BY upn LIMIT $2 OFFSET $3"
            ))
            .bind(group),
        };
        Ok(query
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    /// Makes `group` a wave starting at `starts_at` (Unix milliseconds), or, with `None`, a
    /// plain group again. `by` is who did it (for the record; the audit log has the rest).
    pub async fn set_wave(
        &self,
        group: &str,
        starts_at: Option<i64>,
        by: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        match starts_at {
            Some(starts_at) => {
                sqlx::query(
                    "INSERT INTO waves (name, starts_at, set_by, set_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (name) DO UPDATE SET starts_at = excluded.starts_at,
                       set_by = excluded.set_by, set_at = excluded.set_at",
                )
                .bind(group)
                .bind(starts_at)
                .bind(by)
                .bind(now)
                .execute(&self.pool)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM waves WHERE name = $1")
                    .bind(group)
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(())
    }
}

fn group_of(
    groups: &mut BTreeMap<Option<String>, GroupProgress>,
    name: Option<String>,
) -> &mut GroupProgress {
    groups.entry(name.clone()).or_insert_with(|| GroupProgress {
        group: name,
        ..GroupProgress::default()
    })
}
