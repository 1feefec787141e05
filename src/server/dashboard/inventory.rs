//! Before the switch: per organization, who will be hit and how (SSH users, old tokens, unsaved
//! work, legacy remotes, personal accounts, shared sign-in caches, pinned tenant ids), from the
//! inventories the agents send with `report.send_plans`; after the switch, what is still open of
//! that list. Each list exports as CSV, so admins can give people a heads-up before the date.

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use futures_util::StreamExt as _;
use maud::html;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::devices::cell;
use super::{AppState, PageError, csv_download, page, visible, when};
use crate::report::Category;
use crate::server::auth::Viewer;
use crate::server::store::{InventoryEntry, OrgInventory};

/// Entries shown per category on the page; the CSV has them all.
const SHOWN: i64 = 100;
/// Entries read per page of a CSV export.
const CSV_PAGE: i64 = 5_000;

/// A request the export cannot take (400), with what it needs.
fn refused(viewer: &Viewer, what: &str) -> PageError {
    PageError::Refused {
        status: StatusCode::BAD_REQUEST,
        who: Some(viewer.0.clone()),
        what: what.to_string(),
    }
}

/// What a category is called on the page.
pub(crate) fn label(category: Category) -> &'static str {
    match category {
        Category::Ssh => "Use SSH",
        Category::OldToken => "Old tokens and saved passwords",
        Category::LocalWork => "Unpushed or uncommitted work",
        Category::LegacyRemote => "Legacy visualstudio.com remotes",
        Category::PersonalAccount => "Used a personal Microsoft account",
        Category::SharedSignIn => {
            "Shared sign-in caches (Visual Studio, Azure CLI, MSAL, Artifacts)"
        }
        Category::PinnedTenant => "Pinned tenant ids",
        Category::Unknown => "Other",
    }
}

#[derive(serde::Deserialize)]
pub(super) struct InventoryQuery {
    org: Option<String>,
    group: Option<String>,
    category: Option<String>,
    /// `1`: only what is still open.
    open: Option<String>,
}

impl InventoryQuery {
    /// The organization asked for, lower case, if any.
    fn org(&self) -> Option<String> {
        self.org
            .as_deref()
            .map(str::to_lowercase)
            .filter(|o| !o.is_empty())
    }

    fn group(&self) -> Option<&str> {
        self.group.as_deref().filter(|g| !g.is_empty())
    }

    /// `org=...&group=...` for links.
    fn scope(&self, org: &str) -> String {
        let mut query = format!("org={}", utf8_percent_encode(org, NON_ALPHANUMERIC));
        if let Some(group) = self.group() {
            query.push_str(&format!(
                "&group={}",
                utf8_percent_encode(group, NON_ALPHANUMERIC)
            ));
        }
        query
    }
}

pub(super) async fn inventory_page(
    viewer: Viewer,
    axum::extract::State(state): AppState,
    Query(query): Query<InventoryQuery>,
) -> Result<Response, PageError> {
    let orgs = state
        .store
        .inventory_organizations()
        .await
        .map_err(PageError::unavailable)?;
    let groups = state
        .store
        .group_names()
        .await
        .map_err(PageError::unavailable)?;
    // The one asked for, else the first reported.
    let org = query.org().or_else(|| orgs.first().cloned());
    let group = query.group();
    let inventory = match &org {
        Some(org) => Some(
            state
                .store
                .inventory(org, group)
                .await
                .map_err(PageError::unavailable)?,
        ),
        None => None,
    };
    let mut lists = Vec::new();
    if let Some(inv) = &inventory {
        for c in inv.categories.iter().filter(|c| c.open.entries > 0) {
            let Some(category) = Category::parse(c.category) else {
                continue;
            };
            let entries = state
                .store
                .inventory_entries(&inv.organization, category, true, group, None, SHOWN)
                .await
                .map_err(PageError::unavailable)?;
            lists.push((category, c.open.entries, entries));
        }
    }
    let body = html! {
        h1 { "Before the switch" }
        p.muted {
            "Who will be hit, and how, when an organization is connected to Microsoft Entra ID: from what the agents find while the organization waits for its switch (turn it on with report.send_plans = true in the managed configuration). "
            "After the switch the same lists show what is still open: an entry closes when the device's next inventory no longer has it. Only where things are is shown, never a token or a password."
        }
        form.filters method="get" action="/inventory" {
            select name="org" aria-label="Organization" {
                @for name in &orgs { option value=(name) selected[org.as_deref() == Some(name.as_str())] { (visible(name)) } }
            }
            @if !groups.is_empty() {
                select name="group" aria-label="Group" {
                    option value="" selected[group.is_none()] { "Any group" }
                    @for name in &groups { option value=(name) selected[group == Some(name.as_str())] { (visible(name)) } }
                }
            }
            button type="submit" { "Show" }
        }
        @match &inventory {
            None => p.muted { "No device has reported an organization yet." },
            Some(inv) => {
                @let scope = query.scope(&inv.organization);
                (summary(inv))
                @let readiness = inv.readiness();
                @if readiness.is_empty() {
                    p.readiness.muted { "Nothing is open for " (visible(&inv.organization)) "." }
                } @else {
                    ul.readiness { @for line in &readiness { li { (visible(line)) } } }
                }
                table.inventory {
                    thead {
                        tr { th rowspan="2" { "" } th colspan="2" { "Found" } th colspan="2" { "Still open" } th rowspan="2" { "Export" } }
                        tr { th.num { "People" } th.num { "Places" } th.num { "People" } th.num { "Places" } }
                    }
                    tbody {
                        @for c in &inv.categories {
                            tr data-category=(c.category) {
                                td { (Category::parse(c.category).map_or(c.category, label)) }
                                td.num.found { (c.found.users) }
                                td.num { (c.found.entries) }
                                td.num.open { (c.open.users) }
                                td.num { (c.open.entries) }
                                td {
                                    a.export href={"/inventory.csv?" (scope) "&category=" (c.category) "&open=1"} { "Open (CSV)" }
                                    " · "
                                    a.export href={"/inventory.csv?" (scope) "&category=" (c.category)} { "All found (CSV)" }
                                }
                            }
                        }
                    }
                }
                @for (category, total, entries) in &lists {
                    h2 { (label(*category)) ": still open" }
                    (entry_table(entries))
                    @if *total > SHOWN {
                        p.muted { "The first " (SHOWN) " of " (total) " entries; the CSV has them all." }
                    }
                }
            }
        }
    };
    Ok(page("Before the switch", Some(&viewer.0), body))
}

/// "12 devices of 10 people report contoso; 9 still wait for its switch; 11 sent an inventory."
fn summary(inv: &OrgInventory) -> maud::Markup {
    html! {
        p.summary {
            (inv.devices) " devices of " (inv.users) " people report " strong { (visible(&inv.organization)) } "; "
            (inv.waiting) " still wait for its switch; " (inv.with_inventory) " sent an inventory."
            @if inv.with_inventory == 0 {
                " Turn on report.send_plans on the devices to see what the switch will touch."
            }
        }
    }
}

fn entry_table(entries: &[InventoryEntry]) -> maud::Markup {
    html! {
        table.entries {
            thead { tr { th { "User" } th { "Device" } th { "Group" } th { "Where" } th { "Found" } } }
            tbody {
                @for e in entries {
                    tr {
                        td { (visible(e.upn.as_deref().unwrap_or(&e.user_name))) }
                        td {
                            a href={"/devices/" (utf8_percent_encode(&e.device_id, NON_ALPHANUMERIC)) "/" (utf8_percent_encode(&e.user_name, NON_ALPHANUMERIC))} { (visible(&e.hostname)) }
                        }
                        td { (visible(e.group.as_deref().unwrap_or(""))) }
                        td { code { (visible(&e.target)) } }
                        td { (when(e.first_seen)) }
                    }
                }
            }
        }
    }
}

/// One category's entries of an organization as CSV (open only with `open=1`), streamed a page
/// at a time, each page read from the index where the last one ended. A database failure after
/// the first page ends the file early; the log says why.
pub(super) async fn inventory_csv(
    viewer: Viewer,
    axum::extract::State(state): AppState,
    Query(query): Query<InventoryQuery>,
) -> Result<Response, PageError> {
    let org = query
        .org()
        .ok_or_else(|| refused(&viewer, "The export needs ?org=<organization>."))?;
    let category = query
        .category
        .as_deref()
        .and_then(Category::parse)
        .ok_or_else(|| {
            refused(
                &viewer,
                "The export needs ?category= one of ssh, old-token, local-work, legacy-remote, personal-account, shared-sign-in, pinned-tenant.",
            )
        })?;
    let open_only = query.open.as_deref() == Some("1");
    let group = query.group().map(str::to_string);
    // The first page before the answer starts: a database that does not answer is an error
    // page, not an empty file.
    let first = state
        .store
        .inventory_entries(&org, category, open_only, group.as_deref(), None, CSV_PAGE)
        .await
        .map_err(PageError::unavailable)?;
    let header_line = "organization,category,user,upn,device,device_id,group,where,kind,first_seen,last_seen,closed\r\n";
    let pages = futures_util::stream::unfold(Some((first, state)), move |next| {
        let (org, group) = (org.clone(), group.clone());
        async move {
            let (rows, state) = next?;
            if rows.is_empty() {
                return None;
            }
            let chunk = csv_lines(&org, category, &rows);
            // A short page is the last one.
            let following = if (rows.len() as i64) < CSV_PAGE {
                None
            } else {
                let last = rows.last();
                match state
                    .store
                    .inventory_entries(&org, category, open_only, group.as_deref(), last, CSV_PAGE)
                    .await
                {
                    Ok(more) => Some((more, state)),
                    Err(err) => {
                        tracing::error!("the CSV export stopped early: {err}");
                        None
                    }
                }
            };
            Some((
                Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(chunk)),
                following,
            ))
        }
    });
    let body = futures_util::stream::once(async move {
        Ok::<_, std::convert::Infallible>(axum::body::Bytes::from_static(header_line.as_bytes()))
    })
    .chain(pages);
    let file = if open_only {
        "ado-cutover-inventory-open.csv"
    } else {
        "ado-cutover-inventory.csv"
    };
    Ok(csv_download(file, axum::body::Body::from_stream(body)))
}

/// Entries as CSV lines.
fn csv_lines(org: &str, category: Category, entries: &[InventoryEntry]) -> String {
    let mut out = String::new();
    for e in entries {
        let fields = [
            cell(org),
            cell(category.as_str()),
            cell(&e.user_name),
            cell(e.upn.as_deref().unwrap_or("")),
            cell(&e.hostname),
            cell(&e.device_id),
            cell(e.group.as_deref().unwrap_or("")),
            cell(&e.target),
            cell(&e.kind),
            cell(&when(e.first_seen)),
            cell(&when(e.last_seen)),
            cell(&e.closed_at.map(when).unwrap_or_default()),
        ];
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}
