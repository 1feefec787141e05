//! The inventory (#21): what each device's old identity left, per organization and category,
//! as its agent reported it (`report.inventory`, see [`crate::report::Found`]), kept so that the
//! list found before the switch stays and shows, after it, what is still open.
//!
//! A report that carries an inventory is the device's whole list at that time: its entries are
//! open, the device's other open entries are closed. A report older than the last one taken
//! (delivered late from a spool) changes nothing. The writers store it in the report's own
//! transaction ([`super::sql::INVENTORY_ENTRY`]). Only where things are is stored, never a
//! value: the agent sends no values, and the server stores no more than it was sent.

use std::collections::BTreeMap;

use sqlx::Row as _;

use super::queries::distinct_values;
use super::{Store, StoreError};
use crate::report::Category;

/// How many of one category, found (ever) and still open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// People (their UPN, else their user name) with at least one entry.
    pub users: i64,
    /// Entries (places).
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
    /// Whose it is: the UPN, else the user name, lower case (the lists' order).
    pub person: String,
}

impl Store {
    /// The organizations devices reported, sorted: what the inventory can be shown for.
    pub async fn inventory_organizations(&self) -> Result<Vec<String>, StoreError> {
        // One index seek per organization, not a read of every device's organizations.
        Ok(sqlx::query(concat!(
            "WITH RECURSIVE ",
            distinct_values!("o", "device_orgs", "org"),
            " SELECT name FROM o WHERE name IS NOT NULL ORDER BY 1"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
    }

    /// `org`'s inventory, of one group's devices or all.
    ///
    /// Four independent reads, run at once on the pool's connections: at 100,000 devices and
    /// 200,000 entries one organization took 2.5 s as one query joining every entry to its
    /// device and counting distinct devices and people; now the counts come from the index
    /// `inventory_lists` alone, and the page takes as long as its slowest read.
    pub async fn inventory(
        &self,
        org: &str,
        group: Option<&str>,
    ) -> Result<OrgInventory, StoreError> {
        let org = org.to_lowercase();
        // SQLite numbers `$n` in the order they first appear: the organization, then the group.
        let (devices_of, entries_of, in_group) = if group.is_some() {
            (
                " JOIN devices d ON d.device_id = o.device_id AND d.user_name = o.user_name",
                " JOIN devices d ON d.device_id = i.device_id AND d.user_name = i.user_name",
                " AND d.group_name = $2",
            )
        } else {
            ("", "", "")
        };
        let read = |sql: String| {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org.clone());
            if let Some(group) = group {
                query = query.bind(group.to_string());
            }
            query.fetch_all(&self.pool)
        };
        let (seen, people, taken, counts) = tokio::try_join!(
            read(format!(
                "SELECT COUNT(*), COALESCE(SUM(CASE WHEN o.switch <> 'switched' THEN 1 ELSE 0 END), 0)
                 FROM device_orgs o{devices_of} WHERE o.org = $1{in_group}"
            )),
            read(format!(
                "SELECT COUNT(DISTINCT COALESCE(d.upn, lower(d.user_name))) FROM device_orgs o
                 JOIN devices d ON d.device_id = o.device_id AND d.user_name = o.user_name
                 WHERE o.org = $1{in_group}"
            )),
            read(format!(
                "SELECT COUNT(*) FROM device_orgs o{devices_of}
                 JOIN inventory_taken t ON t.device_id = o.device_id AND t.user_name = o.user_name
                 WHERE o.org = $1{in_group}"
            )),
            read(format!(
                "SELECT i.category, COUNT(DISTINCT i.person), COUNT(*),
                        COUNT(DISTINCT CASE WHEN i.closed_at IS NULL THEN i.person END),
                        COALESCE(SUM(CASE WHEN i.closed_at IS NULL THEN 1 ELSE 0 END), 0)
                 FROM inventory i{entries_of}
                 WHERE i.organization = $1{in_group}
                 GROUP BY i.category"
            )),
        )?;
        let mut by_category: BTreeMap<String, CategoryCounts> = BTreeMap::new();
        for row in counts {
            let Some(category) = Category::parse(&row.get::<String, _>(0)) else {
                continue;
            };
            by_category.insert(
                category.as_str().to_string(),
                CategoryCounts {
                    category: category.as_str(),
                    found: Counts {
                        users: row.get(1),
                        entries: row.get(2),
                    },
                    open: Counts {
                        users: row.get(3),
                        entries: row.get(4),
                    },
                },
            );
        }
        let first = |rows: &[sqlx::any::AnyRow], column: usize| -> i64 {
            rows.first().map_or(0, |r| r.get(column))
        };
        Ok(OrgInventory {
            organization: org,
            devices: first(&seen, 0),
            waiting: first(&seen, 1),
            users: first(&people, 0),
            with_inventory: first(&taken, 0),
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
    /// by person and place: at most `limit`, after the entry `after` (the last of the page
    /// before), so an export reads each page from the index where the last one ended.
    pub async fn inventory_entries(
        &self,
        org: &str,
        category: Category,
        open_only: bool,
        group: Option<&str>,
        after: Option<&InventoryEntry>,
        limit: i64,
    ) -> Result<Vec<InventoryEntry>, StoreError> {
        // SQLite numbers `$n` in the order they first appear: keep them in order.
        let mut n = 2;
        let mut next = || {
            n += 1;
            n
        };
        let open = if open_only {
            " AND i.closed_at IS NULL"
        } else {
            ""
        };
        let in_group = match group {
            Some(_) => format!(" AND d.group_name = ${}", next()),
            None => String::new(),
        };
        let after_sql = match after {
            Some(_) => {
                let (a, b, c, d) = (next(), next(), next(), next());
                format!(
                    " AND (i.person, i.device_id, i.user_name, i.target) > (${a}, ${b}, ${c}, ${d})"
                )
            }
            None => String::new(),
        };
        let limit_sql = format!(" LIMIT ${}", next());
        let columns = "i.device_id, i.user_name, d.upn, d.hostname, d.group_name, i.category,
                       i.target, i.kind, i.first_seen, i.last_seen, i.closed_at, i.person";
        let join = "JOIN devices d ON d.device_id = i.device_id AND d.user_name = i.user_name";
        let order = "ORDER BY i.person, i.device_id, i.user_name, i.target";
        let sql = if group.is_some() {
            format!(
                "SELECT {columns} FROM inventory i {join}
                 WHERE i.organization = $1 AND i.category = $2{open}{in_group}{after_sql}
                 {order}{limit_sql}"
            )
        } else {
            // The page's entries first, in the index's order, then their devices: joined first,
            // PostgreSQL misjudged the two-column join as one row and sorted every entry of
            // the list (200 ms a list at 100,000 devices).
            format!(
                "SELECT {columns} FROM (SELECT * FROM inventory i
                   WHERE i.organization = $1 AND i.category = $2{open}{after_sql}
                   {order}{limit_sql}) i {join} {order}"
            )
        };
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.to_lowercase())
            .bind(category.as_str());
        if let Some(group) = group {
            query = query.bind(group);
        }
        if let Some(last) = after {
            query = query
                .bind(last.person.clone())
                .bind(last.device_id.clone())
                .bind(last.user_name.clone())
                .bind(last.target.clone());
        }
        Ok(query
            .bind(limit)
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
                person: r.get(11),
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
