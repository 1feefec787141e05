//! The inventory (#21): what each device's old identity left, per organization and category,
//! as its agent reported it (`report.inventory`, see [`crate::report::Found`]), kept so that the
//! list found before the switch stays and shows, after it, what is still open.
//!
//! A report that carries an inventory is the device's whole list at that time: its entries are
//! open, the device's other open entries are closed. A report older than the last one taken
//! (delivered late from a spool) changes nothing. Only where things are is stored, never a value:
//! the agent sends no values, and the server stores no more than it was sent.

use std::collections::BTreeMap;

use sqlx::Row as _;

use super::{Store, StoreError, millis};
use crate::report::{Category, Report};

/// Entries inserted by one statement (8 parameters each, under SQLite's limit).
const PER_STATEMENT: usize = 100;

/// How many of one category, found (ever) and still open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// People (their UPN, else their user name) with at least one entry.
    pub users: i64,
    /// Devices (device and user) with at least one entry.
    pub devices: i64,
    /// Entries.
    pub entries: i64,
}

/// One category of an organization's inventory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CategoryCounts {
    pub category: &'static str,
    /// Everything reported, open or closed since.
    pub found: Counts,
    /// What the devices' latest inventories still list.
    pub open: Counts,
}

/// An organization's inventory: who was seen and, per category, how many.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OrgInventory {
    pub organization: String,
    /// Devices (device and user) whose reports name the organization.
    pub devices: i64,
    /// Of those, how many still wait for its switch (waiting or not checked).
    pub waiting: i64,
    /// People among those devices (UPN, else user name).
    pub users: i64,
    /// Devices that sent an inventory for the organization.
    pub with_inventory: i64,
    pub categories: Vec<CategoryCounts>,
}

/// One entry, with whose it is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InventoryEntry {
    pub device_id: String,
    pub user_name: String,
    pub upn: Option<String>,
    pub hostname: String,
    pub group: Option<String>,
    pub category: String,
    pub target: String,
    pub kind: String,
    pub first_seen: i64,
    pub last_seen: i64,
    /// When a later inventory no longer listed it; `None` while it is open.
    pub closed_at: Option<i64>,
}

impl Store {
    /// Takes the inventory of `report`, if it carries one and is the device's newest that did.
    /// Idempotent: the same report again leaves the same entries.
    pub async fn record_inventory(
        &self,
        report: &Report,
        received_at: i64,
    ) -> Result<(), StoreError> {
        let Some(found) = &report.inventory else {
            return Ok(());
        };
        let device = &report.device.device_id;
        let user = &report.user.name;
        // The agent's clock, never ahead of the server's.
        let at = millis(report.finished_at).min(received_at);
        let mut tx = self.pool.begin().await?;
        let newest = sqlx::query(
            "INSERT INTO inventory_taken (device_id, user_name, taken_at) VALUES ($1, $2, $3)
             ON CONFLICT (device_id, user_name) DO UPDATE SET taken_at = excluded.taken_at
             WHERE inventory_taken.taken_at <= excluded.taken_at",
        )
        .bind(device)
        .bind(user)
        .bind(at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if newest == 0 {
            return Ok(());
        }
        sqlx::query(
            "UPDATE inventory SET closed_at = $1
             WHERE device_id = $2 AND user_name = $3 AND closed_at IS NULL",
        )
        .bind(at)
        .bind(device)
        .bind(user)
        .execute(&mut *tx)
        .await?;
        // Known categories only; an entry twice in one report counts once.
        let mut entries: Vec<_> = found
            .iter()
            .filter(|f| f.category != Category::Unknown)
            .map(|f| {
                (
                    f.organization.to_lowercase(),
                    f.category.as_str(),
                    f.target.as_str(),
                    f.kind.as_str(),
                )
            })
            .collect();
        entries.sort();
        entries.dedup_by(|a, b| (&a.0, a.1, a.2) == (&b.0, b.1, b.2));
        for chunk in entries.chunks(PER_STATEMENT) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let n = 8 * i;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, NULL)",
                        n + 1,
                        n + 2,
                        n + 3,
                        n + 4,
                        n + 5,
                        n + 6,
                        n + 7,
                        n + 8
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO inventory (device_id, user_name, organization, category, target, kind,
                   first_seen, last_seen, closed_at) VALUES {}
                 ON CONFLICT (device_id, user_name, organization, category, target) DO UPDATE SET
                   kind = excluded.kind, last_seen = excluded.last_seen, closed_at = NULL",
                rows.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (org, category, target, kind) in chunk {
                query = query
                    .bind(device)
                    .bind(user)
                    .bind(org.clone())
                    .bind(*category)
                    .bind(*target)
                    .bind(*kind)
                    .bind(at)
                    .bind(at);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The organizations devices reported, sorted: what the inventory can be shown for.
    pub async fn inventory_organizations(&self) -> Result<Vec<String>, StoreError> {
        // One index seek per organization, not a read of every device's organizations.
        Ok(sqlx::query(
            "WITH RECURSIVE o(name) AS (
               SELECT MIN(org) FROM device_orgs
               UNION ALL
               SELECT (SELECT MIN(org) FROM device_orgs WHERE org > o.name)
               FROM o WHERE o.name IS NOT NULL)
             SELECT name FROM o WHERE name IS NOT NULL ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
    }

    /// `org`'s inventory, of one group's devices or all.
    pub async fn inventory(
        &self,
        org: &str,
        group: Option<&str>,
    ) -> Result<OrgInventory, StoreError> {
        let org = org.to_lowercase();
        // SQLite numbers `$n` in the order they first appear: the organization, then the group.
        let in_group = if group.is_some() {
            " AND d.group_name = $2"
        } else {
            ""
        };
        let seen_sql = format!(
            "SELECT COUNT(*),
                    COALESCE(SUM(CASE WHEN o.switch <> 'switched' THEN 1 ELSE 0 END), 0),
                    COUNT(DISTINCT COALESCE(lower(d.upn), d.user_name))
             FROM device_orgs o JOIN devices d
               ON d.device_id = o.device_id AND d.user_name = o.user_name
             WHERE o.org = $1{in_group}"
        );
        let mut seen = sqlx::query(sqlx::AssertSqlSafe(seen_sql)).bind(&org);
        if let Some(group) = group {
            seen = seen.bind(group);
        }
        let seen = seen.fetch_one(&self.pool).await?;
        let device_key = "i.device_id || ' ' || i.user_name";
        let user_key = "COALESCE(lower(d.upn), d.user_name)";
        let counts_sql = format!(
            "SELECT i.category,
                    COUNT(DISTINCT {user_key}), COUNT(DISTINCT {device_key}), COUNT(*),
                    COUNT(DISTINCT CASE WHEN i.closed_at IS NULL THEN {user_key} END),
                    COUNT(DISTINCT CASE WHEN i.closed_at IS NULL THEN {device_key} END),
                    COALESCE(SUM(CASE WHEN i.closed_at IS NULL THEN 1 ELSE 0 END), 0)
             FROM inventory i JOIN devices d
               ON d.device_id = i.device_id AND d.user_name = i.user_name
             WHERE i.organization = $1{in_group}
             GROUP BY i.category"
        );
        let mut counts = sqlx::query(sqlx::AssertSqlSafe(counts_sql)).bind(&org);
        if let Some(group) = group {
            counts = counts.bind(group);
        }
        let mut by_category: BTreeMap<String, CategoryCounts> = BTreeMap::new();
        for row in counts.fetch_all(&self.pool).await? {
            let Some(category) = Category::parse(&row.get::<String, _>(0)) else {
                continue;
            };
            by_category.insert(
                category.as_str().to_string(),
                CategoryCounts {
                    category: category.as_str(),
                    found: Counts {
                        users: row.get(1),
                        devices: row.get(2),
                        entries: row.get(3),
                    },
                    open: Counts {
                        users: row.get(4),
                        devices: row.get(5),
                        entries: row.get(6),
                    },
                },
            );
        }
        let taken_sql = format!(
            "SELECT COUNT(*) FROM inventory_taken t JOIN devices d
               ON d.device_id = t.device_id AND d.user_name = t.user_name
             WHERE EXISTS (SELECT 1 FROM device_orgs o WHERE o.device_id = t.device_id
                           AND o.user_name = t.user_name AND o.org = $1){in_group}"
        );
        let mut taken = sqlx::query(sqlx::AssertSqlSafe(taken_sql)).bind(&org);
        if let Some(group) = group {
            taken = taken.bind(group);
        }
        let with_inventory: i64 = taken.fetch_one(&self.pool).await?.get(0);
        Ok(OrgInventory {
            organization: org,
            devices: seen.get(0),
            waiting: seen.get(1),
            users: seen.get(2),
            with_inventory,
            categories: Category::ALL
                .iter()
                .map(|c| {
                    by_category
                        .remove(c.as_str())
                        .unwrap_or_else(|| CategoryCounts {
                            category: c.as_str(),
                            found: Counts::default(),
                            open: Counts::default(),
                        })
                })
                .collect(),
        })
    }

    /// `org`'s entries of `category` (open only, or everything found), of one group or all,
    /// by person and place: at most `limit` after `offset`.
    pub async fn inventory_entries(
        &self,
        org: &str,
        category: Category,
        open_only: bool,
        group: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<InventoryEntry>, StoreError> {
        let open = if open_only {
            " AND i.closed_at IS NULL"
        } else {
            ""
        };
        let (in_group, page) = if group.is_some() {
            (" AND d.group_name = $3", "LIMIT $4 OFFSET $5")
        } else {
            ("", "LIMIT $3 OFFSET $4")
        };
        let sql = format!(
            "SELECT i.device_id, i.user_name, d.upn, d.hostname, d.group_name, i.category,
                    i.target, i.kind, i.first_seen, i.last_seen, i.closed_at
             FROM inventory i JOIN devices d
               ON d.device_id = i.device_id AND d.user_name = i.user_name
             WHERE i.organization = $1 AND i.category = $2{open}{in_group}
             ORDER BY COALESCE(lower(d.upn), d.user_name), d.hostname, i.target
             {page}"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.to_lowercase())
            .bind(category.as_str());
        if let Some(group) = group {
            query = query.bind(group);
        }
        Ok(query
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| InventoryEntry {
                device_id: r.get(0),
                user_name: r.get(1),
                upn: r.get(2),
                hostname: r.get(3),
                group: r.get(4),
                category: r.get(5),
                target: r.get(6),
                kind: r.get(7),
                first_seen: r.get(8),
                last_seen: r.get(9),
                closed_at: r.get(10),
            })
            .collect())
    }
}

impl OrgInventory {
    /// One line per category with something still open, for people: "3 users have unpushed or
    /// uncommitted work in contoso repositories".
    pub fn readiness(&self) -> Vec<String> {
        let org = &self.organization;
        self.categories
            .iter()
            .filter(|c| c.open.users > 0)
            .filter_map(|c| {
                let n = c.open.users;
                let (users, have, are, use_) = if n == 1 {
                    ("1 user".to_string(), "has", "is", "uses")
                } else {
                    (format!("{n} users"), "have", "are", "use")
                };
                let what = match Category::parse(c.category)? {
                    Category::Ssh => format!(
                        "{use_} SSH with {org}: their SSH keys must be added again under the new sign-in"
                    ),
                    Category::OldToken => format!(
                        "{have} old tokens or saved passwords for {org} (git credential stores, remote URLs, feed or shell files)"
                    ),
                    Category::LocalWork => format!(
                        "{have} unpushed or uncommitted work in {org} repositories"
                    ),
                    Category::LegacyRemote => format!(
                        "{have} repositories on the legacy {org}.visualstudio.com address"
                    ),
                    Category::PersonalAccount => {
                        format!("used {org} with a personal Microsoft account")
                    }
                    Category::SharedSignIn => format!(
                        "{are} signed in for {org} in Visual Studio, the Azure CLI or another shared sign-in cache"
                    ),
                    Category::PinnedTenant => {
                        format!("{have} files that pin {org}'s old tenant id")
                    }
                    Category::Unknown => return None,
                };
                Some(format!("{users} {what}"))
            })
            .collect()
    }
}
