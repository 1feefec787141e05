//! The fleet overview: outcome cards, the chart, per task, who needs action and why,
//! failures by cause, and readiness (who of the expected users has not reported), with the
//! upload of the expected users.

use axum::Form;
use axum::extract::Query;
use axum::extract::rejection::FormRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::chart::chart;
use super::devices::device_table;
use super::groups::{group_query, group_table};
use super::{AppState, PageError, device_path, page, percent, visible, when};
use crate::server::auth::{Admin, Role, Viewer};
use crate::server::outcome::FleetOutcome;
use crate::server::store::{DeviceFilter, DeviceRow, STALE_AFTER_DAYS, Summary, millis};

#[derive(serde::Deserialize)]
pub(super) struct OverviewQuery {
    /// Only this group's devices and expected users.
    group: Option<String>,
}

pub(super) async fn overview(
    admin: Viewer,
    axum::extract::State(state): AppState,
    Query(query): Query<OverviewQuery>,
) -> Result<Response, PageError> {
    let now = state.now();
    let group = query.group.filter(|g| !g.is_empty());
    let in_group = DeviceFilter {
        group: group.clone(),
        ..DeviceFilter::default()
    };
    let and_group = match group.as_deref() {
        Some(g) => format!("&{}", group_query(Some(g))),
        None => String::new(),
    };
    let listed = |outcome: &str| DeviceFilter {
        outcome: Some(outcome.into()),
        ..in_group.clone()
    };
    let (needing, failed, not_verified) = (
        listed("action-needed"),
        listed("failed"),
        listed("not-verified"),
    );
    // The page's reads do not depend on each other: they run at once, each on its own
    // connection, so the page waits for the longest rather than for their sum.
    let store = &state.store;
    let (summary, names, waves, needing, failing, not_working, refused) = tokio::try_join!(
        async {
            match &group {
                None => state.summary().await,
                Some(group) => store.summary_in(now, 30, Some(group)).await,
            }
        },
        store.group_names(),
        // The overview shows the waves' progress (the groups page shows every group's).
        async {
            match group {
                None => store.waves().await,
                Some(_) => Ok(Vec::new()),
            }
        },
        store.devices(&needing, now, 50),
        store.devices(&failed, now, 50),
        store.devices(&not_verified, now, 50),
        store.refused(20),
    )
    .map_err(PageError::unavailable)?;
    let csrf = admin.csrf.as_deref().unwrap_or("");
    let millis_now = millis(now);
    let body = html! {
        @match &group {
            Some(g) => h1 { "Overview: " (visible(g)) },
            None => h1 { "Fleet overview" },
        }
        @if !names.is_empty() {
            form.filters method="get" action="/" {
                label for="group" { "Group" }
                select id="group" name="group" {
                    option value="" selected[group.is_none()] { "All devices" }
                    @for name in &names { option value=(name) selected[group.as_deref() == Some(name.as_str())] { (visible(name)) } }
                }
                button type="submit" { "Show" }
            }
        }
        @if group.is_none() && !waves.is_empty() {
            section.waves {
                h2 { "Waves" }
                (group_table(&waves, millis_now, None))
                p { a href="/groups" { "All groups" } }
            }
        }
        section.cards {
            div.card { span.number id="devices-reported" { (summary.devices) } span.label { "devices reported" } }
            @for outcome in FleetOutcome::ALL {
                @let (id, label) = (outcome.as_str(), outcome.label());
                @let count = summary.outcomes.get(&outcome).copied().unwrap_or(0);
                div class={"card " (id)} {
                    span.number id={"outcome-" (id)} { (count) }
                    span.label { (label) " · " (percent(count, summary.devices)) }
                }
            }
            div.card { span.number id="stale" { (summary.stale) } span.label { "not seen for " (STALE_AFTER_DAYS) " days" } }
        }
        (verification(&summary, &not_working, now, &and_group))
        section {
            h2 { "Reports over the last 30 days" }
            (chart(&summary, now))
        }
        section {
            h2 { "Per task" }
            (task_table(&summary))
        }
        section {
            h2 { "Needing action" }
            (device_table(&needing, now, true))
            @if summary.outcomes.get(&FleetOutcome::ActionNeeded).copied().unwrap_or(0) > needing.len() as i64 {
                p { a href={"/devices?outcome=action-needed" (and_group)} { "All devices needing action" } }
            }
        }
        section {
            h2 { "Failures by cause" }
            @if summary.failures.is_empty() {
                p.muted { "No failures." }
            } @else {
                table {
                    thead { tr { th { "Task" } th { "Cause" } th.num { "Devices" } } }
                    tbody {
                        @for group in &summary.failures {
                            tr { td { (group.task) } td { (group.detail) } td.num { (group.devices) } }
                        }
                    }
                }
                (device_table(&failing, now, true))
            }
        }
        @if !refused.is_empty() {
            section {
                h2 { "Refused reports" }
                p.muted { "Reports that claimed a device whose key they did not have: someone else sent them with the enrollment token, or ado-cutover was reinstalled there (then forget the device's key on its page)." }
                table {
                    thead { tr { th { "Host" } th { "User" } th { "When" } th { "Why" } } }
                    tbody {
                        @for r in &refused {
                            tr {
                                td { a href=(device_path(&r.device_id, &r.user_name)) { (visible(&r.hostname)) } }
                                td { (visible(&r.user_name)) }
                                td { (when(r.refused_at)) }
                                td { (r.reason) }
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { "Readiness" }
            @if summary.expected == 0 {
                p.muted { "Upload the users you expect (a CSV export of the organization's users, or one user principal name per line) to see who has not reported yet." }
            } @else {
                p { (summary.expected - summary.not_reported_count) " of " (summary.expected) " expected users have reported." }
                @if summary.not_reported_count > 0 {
                    p { a.export href={"/not-reported.csv?" (group_query(group.as_deref()))} { "Export who has not reported (CSV)" } }
                }
                @if !summary.not_reported.is_empty() {
                    h3 { "Not reported yet" }
                    ul.not-reported { @for upn in &summary.not_reported { li { (upn) } } }
                    @if summary.not_reported_count > summary.not_reported.len() as i64 {
                        p.muted { "and " (summary.not_reported_count - summary.not_reported.len() as i64) " more." }
                    }
                }
            }
            @if admin.role == Role::Admin {
                form method="post" action="/expected-users" {
                    input type="hidden" name="csrf" value=(csrf);
                    label for="upns" { "Expected users" }
                    textarea id="upns" name="upns" rows="4" placeholder="alice@contoso.com" {}
                    button type="submit" { "Replace the list" }
                }
            }
        }
    };
    Ok(page("Overview", Some(&admin.0), body))
}

/// "Verified working": the share of devices whose every organization passed the `verify`
/// task's checks, the organizations (waiting, switched, verified), and the devices whose
/// verification failed, with why.
/// `and_group`: `&group=…` when the overview shows one group, for its links.
fn verification(
    summary: &Summary,
    not_working: &[DeviceRow],
    now: time::OffsetDateTime,
    and_group: &str,
) -> Markup {
    let verified = summary.verified.get("ok").copied().unwrap_or(0);
    let failing: i64 = ["failed", "needs-user"]
        .iter()
        .map(|k| summary.verified.get(*k).copied().unwrap_or(0))
        .sum();
    html! {
        section {
            h2 { "Verified working" }
            section.cards {
                div.card.done {
                    span.number id="verified-working" { (verified) }
                    span.label { "verified working · " (percent(verified, summary.devices)) }
                }
                div.card.failed {
                    span.number id="verified-failing" { (failing) }
                    span.label { a href={"/devices?outcome=not-verified" (and_group)} { "verification failing" } }
                }
            }
            p.muted { "A device counts as verified working when, after its cleanup, git over HTTPS and SSH, its package feeds and its sign-in all worked with the new identity for every organization." }
            @if !summary.orgs.is_empty() {
                table.orgs {
                    thead { tr { th { "Organization" } th.num { "Waiting for the switch" } th.num { "Not checked" } th.num { "Switched and cleaned" } th.num { "Verified working" } th.num { "Verification failing" } } }
                    tbody {
                        @for org in &summary.orgs {
                            tr {
                                td { (visible(&org.org)) }
                                td.num { (org.waiting) }
                                td.num { (org.not_checked) }
                                td.num { (org.switched) }
                                td.num { (org.verified) }
                                td.num { (org.not_verified) }
                            }
                        }
                    }
                }
            }
            @if !not_working.is_empty() {
                h3 { "Verification failing" }
                (device_table(not_working, now, true))
            }
        }
    }
}

fn task_table(summary: &Summary) -> Markup {
    const COLUMNS: &[&str] = &[
        "done",
        "ok",
        "planned",
        "needs-user",
        "failed",
        "skipped",
        "info",
    ];
    html! {
        table.tasks {
            thead { tr { th { "Task" } @for c in COLUMNS { th.num { (c) } } } }
            tbody {
                @for (task, counts) in &summary.tasks {
                    tr {
                        td { (task) }
                        @for c in COLUMNS { td.num { (counts.get(*c).copied().unwrap_or(0)) } }
                    }
                }
            }
        }
    }
}

#[derive(serde::Deserialize)]
pub(super) struct ExpectedForm {
    csrf: String,
    upns: String,
}

pub(super) async fn expected_users(
    admin: Admin,
    axum::extract::State(state): AppState,
    form: Result<Form<ExpectedForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Form(form) = form.map_err(|rejection| {
        let too_large = rejection.status() == StatusCode::PAYLOAD_TOO_LARGE;
        PageError::Refused {
            status: rejection.status(),
            who: Some(admin.0.clone()),
            what: if too_large {
                format!(
                    "The list is larger than this server takes ({} MiB). Upload only the columns it reads (userPrincipalName, mail, SamAccountName), or start the server with a larger --max-upload-bytes.",
                    state.limits.upload_bytes / (1024 * 1024)
                )
            } else {
                "The list could not be read. Paste the CSV export, or one name per line, and send the form again.".into()
            },
        }
    })?;
    if !admin.csrf_ok(&form.csrf) {
        return Err(PageError::Forbidden);
    }
    let upload = crate::server::expected::parse(&form.upns);
    state
        .store
        .set_expected_users(&upload.users)
        .await
        .map_err(PageError::unavailable)?;
    let entry = admin.audit(
        millis(state.now()),
        "expected-users-uploaded",
        "",
        &format!(
            "{} expected users; {} rows unreadable",
            upload.users.len(),
            upload.unreadable.len()
        ),
    );
    state
        .store
        .add_audit(&entry)
        .await
        .map_err(PageError::unavailable)?;
    if upload.unreadable.is_empty() {
        return Ok(Redirect::to("/").into_response());
    }
    // Rows that named nobody are said, with their lines, never dropped silently.
    let body = html! {
        h1 { "Expected users" }
        p { (upload.users.len()) " expected users were stored. These rows could not be read, so nobody from them is expected:" }
        ul.unreadable {
            @for (line, why) in &upload.unreadable { li { "line " (line) ": " (why) } }
        }
        p { "Each row needs a user principal name, an e-mail address or an account name (DOMAIN\\user). Fix the file and upload it again." }
        p { a href="/" { "Back to the overview" } }
    };
    Ok(page("Expected users", Some(&admin.0), body))
}
