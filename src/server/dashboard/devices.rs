//! The device list (search, filters, CSV export), each device's page with its history, and
//! one report in full.

use axum::Form;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect, Response};
use futures_util::StreamExt as _;
use maud::{Markup, html};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use time::OffsetDateTime;

use super::groups::group_query;
use super::{
    AppState, PageError, badge, csv_download, device_href, device_path, page, visible, when,
};
use crate::report::Report;
use crate::server::auth::{Admin, Role, Viewer};
use crate::server::outcome::FleetOutcome;
use crate::server::store::{
    DeviceDetail, DeviceFilter, DeviceRow, PAGE_MAX, STALE_AFTER_DAYS, STALE_AFTER_MS, kebab,
    millis,
};

pub(super) fn device_table(rows: &[DeviceRow], now: OffsetDateTime, reason: bool) -> Markup {
    let stale_before = millis(now) - STALE_AFTER_MS;
    html! {
        @if rows.is_empty() {
            p.muted { "None." }
        } @else {
            table.devices {
                thead { tr {
                    th { "Host" } th { "User" } th { "Outcome" } th { "Last seen" }
                    @if reason { th { "Reason" } }
                } }
                tbody {
                    @for row in rows {
                        tr {
                            td { a href=(device_href(row)) { (visible(&row.hostname)) } }
                            td { (visible(row.upn.as_deref().unwrap_or(&row.user_name))) }
                            td { (badge(row.outcome)) }
                            td {
                                (when(row.last_seen))
                                @if row.last_seen < stale_before { " " span.badge.stale { "not seen for " (STALE_AFTER_DAYS) " days" } }
                            }
                            @if reason { td { (row.reason.as_deref().unwrap_or("")) } }
                        }
                    }
                }
            }
        }
    }
}

pub(super) async fn device_list(
    admin: Viewer,
    axum::extract::State(state): AppState,
    Query(filter): Query<DeviceFilter>,
) -> Result<Response, PageError> {
    let now = state.now();
    let mut rows = state
        .store
        .devices(&filter, now, PAGE_MAX + 1)
        .await
        .map_err(PageError::unavailable)?;
    let more = rows.len() as i64 > PAGE_MAX;
    rows.truncate(PAGE_MAX as usize);
    let offset = filter.offset.unwrap_or(0).max(0);
    let selected = filter.outcome.clone().unwrap_or_default();
    let group = filter.group.clone().unwrap_or_default();
    let names = state
        .store
        .group_names()
        .await
        .map_err(PageError::unavailable)?;
    // The filters as a query, for the pages and the export.
    let filters = format!(
        "outcome={}&q={}&group={}",
        utf8_percent_encode(&selected, NON_ALPHANUMERIC),
        utf8_percent_encode(filter.q.as_deref().unwrap_or(""), NON_ALPHANUMERIC),
        utf8_percent_encode(&group, NON_ALPHANUMERIC)
    );
    let page_at = |at: i64| format!("/devices?{filters}&offset={at}");
    let csv = format!("/devices.csv?{filters}");
    let body = html! {
        h1 { "Devices" }
        form.filters method="get" action="/devices" {
            input type="search" name="q" placeholder="host, user or UPN" value=(filter.q.as_deref().unwrap_or(""));
            select name="outcome" {
                option value="" selected[selected.is_empty()] { "Any outcome" }
                @for outcome in FleetOutcome::ALL { option value=(outcome.as_str()) selected[selected == outcome.as_str()] { (outcome.label()) } }
                option value="stale" selected[selected == "stale"] { "Not seen for " (STALE_AFTER_DAYS) " days" }
                option value="verified" selected[selected == "verified"] { "Verified working" }
                option value="not-verified" selected[selected == "not-verified"] { "Verification failing" }
            }
            @if !names.is_empty() || !group.is_empty() {
                select name="group" aria-label="Group" {
                    option value="" selected[group.is_empty()] { "Any group" }
                    @for name in &names { option value=(name) selected[&group == name] { (visible(name)) } }
                }
            }
            button type="submit" { "Filter" }
            a.export href=(csv) { "Export CSV" }
        }
        p.muted {
            @if rows.is_empty() { "None shown" } @else { (offset + 1) " to " (offset + rows.len() as i64) " shown" }
        }
        (device_table(&rows, now, true))
        nav.pages {
            @if offset > 0 { a href=(page_at((offset - PAGE_MAX).max(0))) { "Previous page" } " " }
            @if more { a href=(page_at(offset + PAGE_MAX)) { "Next page" } }
        }
    };
    Ok(page("Devices", Some(&admin.0), body))
}

/// A CSV cell: quoted, and never read as a formula by a spreadsheet.
pub(super) fn cell(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// The device list as CSV, streamed a page at a time, so a large fleet's export never sits
/// in memory whole. A database failure after the first page ends the file early; the log says
/// why.
pub(super) async fn device_csv(
    _: Viewer,
    axum::extract::State(state): AppState,
    Query(filter): Query<DeviceFilter>,
) -> Result<Response, PageError> {
    let now = state.now();
    // The first page before the answer starts: a database that does not answer is an error
    // page, not an empty file.
    let first = state
        .store
        .devices(&filter, now, PAGE_MAX)
        .await
        .map_err(PageError::unavailable)?;
    let header_line = "hostname,user,upn,outcome,last_seen,reason,os,agent_version,reports,device_id,enrollment_label,group\r\n";
    let start = filter.offset.unwrap_or(0).max(0);
    let pages = futures_util::stream::unfold(
        (Some(first), start, filter, state),
        move |(page, offset, filter, state)| async move {
            let rows = match page {
                Some(rows) => rows,
                None => {
                    let next = DeviceFilter {
                        offset: Some(offset),
                        ..filter.clone()
                    };
                    match state.store.devices(&next, now, PAGE_MAX).await {
                        Ok(rows) => rows,
                        Err(err) => {
                            tracing::error!("the CSV export stopped early: {err}");
                            return None;
                        }
                    }
                }
            };
            if rows.is_empty() {
                return None;
            }
            let full = rows.len() as i64 == PAGE_MAX;
            let chunk = csv_lines(&rows);
            let next_offset = offset + rows.len() as i64;
            // A short page is the last one: end after it.
            let state_next = if full {
                (None, next_offset, filter, state)
            } else {
                (Some(Vec::new()), next_offset, filter, state)
            };
            Some((
                Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(chunk)),
                state_next,
            ))
        },
    );
    let body = futures_util::stream::once(async move {
        Ok::<_, std::convert::Infallible>(axum::body::Bytes::from_static(header_line.as_bytes()))
    })
    .chain(pages);
    Ok(csv_download(
        "ado-cutover-devices.csv",
        axum::body::Body::from_stream(body),
    ))
}

/// Rows as CSV lines.
fn csv_lines(rows: &[DeviceRow]) -> String {
    let mut out = String::new();
    for r in rows {
        let fields = [
            r.hostname.clone(),
            r.user_name.clone(),
            r.upn.clone().unwrap_or_default(),
            r.outcome.to_string(),
            when(r.last_seen),
            r.reason.clone().unwrap_or_default(),
            r.os.clone(),
            r.agent_version.clone(),
            r.reports.to_string(),
            r.device_id.clone(),
            r.enrollment_label.clone().unwrap_or_default(),
            r.group.clone().unwrap_or_default(),
        ];
        let line: Vec<String> = fields.iter().map(|f| cell(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

pub(super) async fn device_page(
    admin: Viewer,
    axum::extract::State(state): AppState,
    Path((device_id, user)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let found = state
        .store
        .device(&device_id, &user)
        .await
        .map_err(PageError::unavailable)?;
    let Some(DeviceDetail {
        device,
        reports,
        latest,
    }) = found
    else {
        return Err(PageError::NotFound {
            who: Some(admin.0),
            what: "No report came from this device and user.",
        });
    };
    let here = device_path(&device.device_id, &device.user_name);
    let signed = state
        .store
        .device_key(&device.device_id, &device.user_name)
        .await
        .map_err(PageError::unavailable)?
        .is_some();
    let csrf = admin.csrf.clone().unwrap_or_default();
    let body = html! {
        h1 { (visible(&device.hostname)) }
        dl.facts {
            dt { "User" } dd { (visible(&device.user_name)) @if let Some(upn) = &device.upn { " (" (visible(upn)) ")" } }
            dt { "Outcome" } dd { (badge(device.outcome)) }
            dt { "Last seen" } dd { (when(device.last_seen)) }
            dt { "First seen" } dd { (when(device.first_seen)) }
            dt { "System" } dd { (device.os) }
            dt { "Agent" } dd { (device.agent_version) }
            dt { "Device id" } dd { code { (device.device_id) } }
            @if let Some(group) = &device.group {
                dt { "Group" } dd id="group" { a href={"/?" (group_query(Some(group)))} { (visible(group)) } }
            }
            @if let Some(label) = &device.enrollment_label {
                dt { "Enrolled with" } dd id="enrollment-label" { "the token labelled " (visible(label)) }
            }
            dt { "Reports" } dd {
                @if signed {
                    "signed with the key this device was given"
                    @if admin.role == Role::Admin { form.inline method="post" action=(format!("{here}/forget-key")) {
                        input type="hidden" name="csrf" value=(csrf);
                        button type="submit" title="After a reinstall: the device's next report is taken and it gets a new key" { "Forget this device's key" }
                    } }
                } @else {
                    "not signed yet: the next report gives the device its key"
                }
            }
        }
        @if let Some(report) = latest.as_ref().filter(|r| !r.organizations.is_empty()) {
            h2 { "Organizations" }
            table.orgs {
                thead { tr { th { "Organization" } th { "Switch" } th { "Verified" } } }
                tbody {
                    @for org in &report.organizations {
                        tr {
                            td { (visible(&org.name)) }
                            td { (org.switch.as_str()) }
                            td { @match org.verified {
                                Some(status) => span class={"badge " (kebab(&status))} { (kebab(&status)) },
                                None => span.muted { "not verified in this report" },
                            } }
                        }
                    }
                }
            }
        }
        @if let Some(report) = &latest {
            h2 { "Latest report" }
            (report_tasks(report))
        }
        h2 { "Every report" }
        table.history {
            thead { tr { th { "Finished" } th { "Mode" } th { "Outcome" } th { "Agent" } th { "Received" } } }
            tbody {
                @for r in &reports {
                    tr {
                        td { a href=(format!("{}/reports/{}", here, utf8_percent_encode(&r.report_id, NON_ALPHANUMERIC))) { (when(r.finished_at)) } }
                        td { (r.mode) }
                        td { (badge(r.outcome)) }
                        td { (r.agent_version) } td { (when(r.received_at)) }
                    }
                }
            }
        }
    };
    Ok(page(&visible(&device.hostname), Some(&admin.0), body))
}

/// Forgets a device's key (after a reinstall): its next report is taken and enrolls it again.
pub(super) async fn forget_key(
    admin: Admin,
    axum::extract::State(state): AppState,
    Path((device_id, user)): Path<(String, String)>,
    Form(form): Form<super::login::CsrfForm>,
) -> Result<Response, PageError> {
    if !admin.csrf_ok(&form.csrf) {
        return Err(PageError::Forbidden);
    }
    let forgot = state
        .store
        .forget_device_key(&device_id, &user)
        .await
        .map_err(PageError::unavailable)?;
    tracing::info!("the key of device {device_id} ({user}) was forgotten: {forgot}");
    let entry = admin.audit(
        millis(state.now()),
        "device-key-forgotten",
        &format!("{device_id} ({user})"),
        if forgot {
            "its next report enrolls it again"
        } else {
            "it had no key"
        },
    );
    state
        .store
        .add_audit(&entry)
        .await
        .map_err(PageError::unavailable)?;
    Ok(Redirect::to(&device_path(&device_id, &user)).into_response())
}

/// Every task of a report with its items, as the agent sent them (escaped like everything else).
fn report_tasks(report: &Report) -> Markup {
    html! {
        @for task in &report.tasks {
            h3 { (task.id) " " span class={"badge " (kebab(&task.status))} { (kebab(&task.status)) } }
            p { (task.summary) }
            @if !task.items.is_empty() {
                table.items {
                    thead { tr { th { "Status" } th { "What" } th { "Detail" } } }
                    tbody {
                        @for item in &task.items {
                            tr { td { (kebab(&item.status)) } td { code { (item.target) } } td { (item.detail) } }
                        }
                    }
                }
            }
        }
    }
}

/// One older report in full, from the device page's history.
pub(super) async fn report_page(
    admin: Viewer,
    axum::extract::State(state): AppState,
    Path((device_id, user, report_id)): Path<(String, String, String)>,
) -> Result<Response, PageError> {
    let report = state
        .store
        .report(&device_id, &user, &report_id)
        .await
        .map_err(PageError::unavailable)?;
    let Some(report) = report else {
        return Err(PageError::NotFound {
            who: Some(admin.0),
            what: "This device and user sent no such report.",
        });
    };
    let back = device_path(&device_id, &user);
    let title = format!("{} report", kebab(&report.mode));
    let body = html! {
        p { a href=(back) { "Back to " (visible(&report.device.hostname)) } }
        h1 { (visible(&report.device.hostname)) ": " (title) }
        dl.facts {
            dt { "User" } dd { (visible(&report.user.name)) @if let Some(upn) = &report.user.upn { " (" (visible(upn)) ")" } }
            dt { "Outcome" } dd { (badge(FleetOutcome::of_report(&report))) }
            dt { "Started" } dd { (when(millis(report.started_at))) }
            dt { "Finished" } dd { (when(millis(report.finished_at))) }
            dt { "Agent" } dd { (report.agent_version) }
            dt { "Report id" } dd { code { (report.report_id) } }
        }
        (report_tasks(&report))
    };
    Ok(page(&title, Some(&admin.0), body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_never_formulas() {
        assert_eq!(cell("plain"), "\"plain\"");
        assert_eq!(cell("a\"b"), "\"a\"\"b\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("-1+2"), "\"'-1+2\"");
    }
}
