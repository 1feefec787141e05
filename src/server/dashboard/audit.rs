//! The audit log, for admins: newest first, a page at a time, and as CSV (every entry).

use axum::extract::Query;
use axum::response::Response;
use maud::html;

use super::{AppState, PageError, csv_download, page, visible, when};
use crate::server::auth::Admin;
use crate::server::store::AuditEntry;

/// Entries per page.
const PAGE: i64 = 200;

#[derive(serde::Deserialize)]
pub(super) struct Before {
    before: Option<i64>,
}

pub(super) async fn audit_page(
    admin: Admin,
    axum::extract::State(state): AppState,
    Query(at): Query<Before>,
) -> Result<Response, PageError> {
    let entries = state
        .store
        .audit(at.before, PAGE)
        .await
        .map_err(PageError::unavailable)?;
    let body = html! {
        h1 { "Audit log" }
        p { a.export href="/audit.csv" { "Export CSV" } }
        table.audit {
            thead { tr {
                th { "When" } th { "Who" } th { "What" } th { "On" } th { "Outcome" } th { "From" } th { "Detail" }
            } }
            tbody {
                @for e in &entries {
                    tr class={"audit " (e.outcome)} {
                        td { (when(e.at)) }
                        td { (visible(&e.actor)) }
                        td { (e.action) }
                        td { (visible(&e.target)) }
                        td.outcome { (e.outcome) }
                        td { (e.address) }
                        td { (visible(&e.detail)) }
                    }
                }
            }
        }
        @if entries.len() as i64 == PAGE
            && let Some(last) = entries.last() {
            nav.pages { a href=(format!("/audit?before={}", last.id)) { "Older entries" } }
        }
    };
    Ok(page("Audit log", Some(&admin.0), body))
}

/// Every entry as CSV, newest first.
pub(super) async fn audit_csv(
    _: Admin,
    axum::extract::State(state): AppState,
) -> Result<Response, PageError> {
    let mut out = String::from("at,actor,action,target,outcome,address,detail\r\n");
    let mut before = None;
    loop {
        let entries = state
            .store
            .audit(before, 1000)
            .await
            .map_err(PageError::unavailable)?;
        out.push_str(&csv_lines(&entries));
        match entries.last() {
            Some(last) if entries.len() == 1000 => before = Some(last.id),
            _ => break,
        }
    }
    Ok(csv_download("ado-cutover-audit.csv", out))
}

fn csv_lines(entries: &[AuditEntry]) -> String {
    let mut out = String::new();
    for e in entries {
        let fields = [
            when(e.at),
            e.actor.clone(),
            e.action.clone(),
            e.target.clone(),
            e.outcome.clone(),
            e.address.clone(),
            e.detail.clone(),
        ];
        let line: Vec<String> = fields.iter().map(|f| super::devices::cell(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}
