//! The admins' dashboard: server-rendered HTML (maud escapes every value; a report is
//! untrusted input), one stylesheet compiled in, no JavaScript, so it works everywhere and the
//! content security policy can forbid scripts outright.
//!
//! Pages: the fleet overview (outcomes, per task, reports over time as an SVG chart, who needs
//! action and why, failures by cause, who has not reported), the device list with search and
//! filters and its CSV export, and each device's history.

use axum::Form;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use time::OffsetDateTime;

use super::State;
use super::auth::{self, Admin};
use super::store::{DeviceFilter, DeviceRow, STALE_AFTER_MS, Summary, kebab, millis};
use crate::report::Report;

type AppState = axum::extract::State<State>;

pub fn routes() -> axum::Router<State> {
    axum::Router::new()
        .route("/", get(overview))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/devices", get(device_list))
        .route("/devices.csv", get(device_csv))
        .route("/devices/{device_id}/{user}", get(device_page))
        .route(
            "/devices/{device_id}/{user}/reports/{report_id}",
            get(report_page),
        )
        .route("/expected-users", post(expected_users))
        .route("/static/app.css", get(stylesheet))
}

const OUTCOMES: &[(&str, &str)] = &[
    ("done", "Done"),
    ("nothing-to-do", "Nothing to do"),
    ("not-checked", "Not everything checked"),
    ("action-needed", "Action needed"),
    ("failed", "Failed"),
];

fn page(title: &str, csrf: Option<&str>, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · ado-cutover" }
                link rel="stylesheet" href="/static/app.css";
            }
            body {
                header {
                    a.brand href="/" { "ado-cutover" }
                    @if let Some(csrf) = csrf {
                        nav {
                            a href="/" { "Overview" }
                            a href="/devices" { "Devices" }
                            form.inline method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(csrf);
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    };
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

fn when(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp(ms / 1000)
        .map(|t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                t.year(),
                t.month() as u8,
                t.day(),
                t.hour(),
                t.minute()
            )
        })
        .unwrap_or_default()
}

fn outcome_label(outcome: &str) -> &str {
    OUTCOMES
        .iter()
        .find(|(id, _)| *id == outcome)
        .map_or(outcome, |(_, label)| label)
}

/// A name as people must see it: characters that reorder or hide text (bidirectional controls,
/// zero-width characters, other control characters) shown as `⟨U+202E⟩`, so one host or user
/// name cannot pass for another. HTML escaping is maud's; this is about what the eye reads.
fn visible(name: &str) -> String {
    let hidden = |c: char| {
        c.is_control()
            || matches!(
                c,
                '\u{200B}'..='\u{200F}'
                    | '\u{202A}'..='\u{202E}'
                    | '\u{2060}'..='\u{2064}'
                    | '\u{2066}'..='\u{2069}'
                    | '\u{061C}'
                    | '\u{FEFF}'
            )
    };
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if hidden(c) {
            out.push_str(&format!("⟨U+{:04X}⟩", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn device_href(row: &DeviceRow) -> String {
    device_path(&row.device_id, &row.user_name)
}

/// The device page of a device and user.
fn device_path(device_id: &str, user: &str) -> String {
    format!(
        "/devices/{}/{}",
        utf8_percent_encode(device_id, NON_ALPHANUMERIC),
        utf8_percent_encode(user, NON_ALPHANUMERIC)
    )
}

fn percent(part: i64, whole: i64) -> String {
    if whole == 0 {
        "0%".into()
    } else {
        format!("{:.0}%", part as f64 * 100.0 / whole as f64)
    }
}

async fn overview(admin: Admin, axum::extract::State(state): AppState) -> Response {
    let now = state.now();
    let summary = match state.store.summary(now, 30).await {
        Ok(summary) => summary,
        Err(_) => return unavailable(),
    };
    let filter = DeviceFilter {
        outcome: Some("action-needed".into()),
        q: None,
    };
    let needing = state
        .store
        .devices(&filter, now, 50)
        .await
        .unwrap_or_default();
    let failed = DeviceFilter {
        outcome: Some("failed".into()),
        q: None,
    };
    let failing = state
        .store
        .devices(&failed, now, 50)
        .await
        .unwrap_or_default();
    let csrf = admin.csrf.as_deref().unwrap_or("");
    let body = html! {
        h1 { "Fleet overview" }
        section.cards {
            div.card { span.number id="devices-reported" { (summary.devices) } span.label { "devices reported" } }
            @for (id, label) in OUTCOMES {
                @let count = summary.outcomes.get(*id).copied().unwrap_or(0);
                div class={"card " (id)} {
                    span.number id={"outcome-" (id)} { (count) }
                    span.label { (label) " · " (percent(count, summary.devices)) }
                }
            }
            div.card { span.number id="stale" { (summary.stale) } span.label { "not seen for 7 days" } }
        }
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
            @if summary.outcomes.get("action-needed").copied().unwrap_or(0) > needing.len() as i64 {
                p { a href="/devices?outcome=action-needed" { "All devices needing action" } }
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
                        @for (task, detail, count) in &summary.failures {
                            tr { td { (task) } td { (detail) } td.num { (count) } }
                        }
                    }
                }
                (device_table(&failing, now, true))
            }
        }
        section {
            h2 { "Readiness" }
            @if summary.expected == 0 {
                p.muted { "Upload the users you expect (a CSV export of the organization's users, or one user principal name per line) to see who has not reported yet." }
            } @else {
                p { (summary.expected - summary.not_reported_count) " of " (summary.expected) " expected users have reported." }
                @if !summary.not_reported.is_empty() {
                    h3 { "Not reported yet" }
                    ul.not-reported { @for upn in &summary.not_reported { li { (upn) } } }
                    @if summary.not_reported_count > summary.not_reported.len() as i64 {
                        p.muted { "and " (summary.not_reported_count - summary.not_reported.len() as i64) " more." }
                    }
                }
            }
            form method="post" action="/expected-users" {
                input type="hidden" name="csrf" value=(csrf);
                label for="upns" { "Expected users" }
                textarea id="upns" name="upns" rows="4" placeholder="alice@contoso.com" {}
                button type="submit" { "Replace the list" }
            }
        }
    };
    page("Overview", Some(csrf), body)
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

/// Reports per day as stacked bars, drawn as SVG (no script, no external image).
fn chart(summary: &Summary, now: OffsetDateTime) -> Markup {
    const DAYS: i64 = 30;
    const W: i64 = 600;
    const H: i64 = 120;
    let today = millis(now) / (24 * 3600 * 1000);
    let totals: Vec<(i64, i64)> = (0..DAYS)
        .map(|i| {
            let day = today - DAYS + 1 + i;
            let counts = summary.days.get(&day);
            let get = |k: &str| counts.and_then(|c| c.get(k)).copied().unwrap_or(0);
            (
                get("done") + get("nothing-to-do"),
                get("action-needed") + get("failed") + get("not-checked"),
            )
        })
        .collect();
    let max = totals.iter().map(|(a, b)| a + b).max().unwrap_or(0).max(1);
    let bar = W / DAYS;
    html! {
        svg.chart viewBox={"0 0 " (W) " " (H + 16)} role="img" aria-label="Reports per day: done and needing action" {
            @for (i, (good, bad)) in totals.iter().enumerate() {
                @let x = i as i64 * bar;
                @let good_h = good * H / max;
                @let bad_h = bad * H / max;
                rect.good x=(x) y=(H - good_h) width=(bar - 2) height=(good_h) { title { (good) " done" } }
                rect.bad x=(x) y=(H - good_h - bad_h) width=(bar - 2) height=(bad_h) { title { (bad) " needing action, failed or not fully checked" } }
            }
            text x="0" y=(H + 14) { "30 days ago" }
            text x=(W) y=(H + 14) text-anchor="end" { "today" }
        }
        p.legend { span.good { "■" } " done or nothing to do  " span.bad { "■" } " needing action, failed or not fully checked" }
    }
}

fn device_table(rows: &[DeviceRow], now: OffsetDateTime, reason: bool) -> Markup {
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
                            td { span class={"badge " (row.outcome)} { (outcome_label(&row.outcome)) } }
                            td {
                                (when(row.last_seen))
                                @if row.last_seen < stale_before { " " span.badge.stale { "not seen for 7 days" } }
                            }
                            @if reason { td { (row.reason.as_deref().unwrap_or("")) } }
                        }
                    }
                }
            }
        }
    }
}

async fn device_list(
    admin: Admin,
    axum::extract::State(state): AppState,
    Query(filter): Query<DeviceFilter>,
) -> Response {
    let now = state.now();
    let Ok(rows) = state.store.devices(&filter, now, 1000).await else {
        return unavailable();
    };
    let selected = filter.outcome.clone().unwrap_or_default();
    let csv = format!(
        "/devices.csv?outcome={}&q={}",
        utf8_percent_encode(&selected, NON_ALPHANUMERIC),
        utf8_percent_encode(filter.q.as_deref().unwrap_or(""), NON_ALPHANUMERIC)
    );
    let body = html! {
        h1 { "Devices" }
        form.filters method="get" action="/devices" {
            input type="search" name="q" placeholder="host, user or UPN" value=(filter.q.as_deref().unwrap_or(""));
            select name="outcome" {
                option value="" selected[selected.is_empty()] { "Any outcome" }
                @for (id, label) in OUTCOMES { option value=(id) selected[selected == *id] { (label) } }
                option value="stale" selected[selected == "stale"] { "Not seen for 7 days" }
            }
            button type="submit" { "Filter" }
            a.export href=(csv) { "Export CSV" }
        }
        p.muted { (rows.len()) " shown" }
        (device_table(&rows, now, true))
    };
    page("Devices", admin.csrf.as_deref(), body)
}

/// A CSV cell: quoted, and never read as a formula by a spreadsheet.
fn cell(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    format!("\"{}\"", text.replace('"', "\"\""))
}

async fn device_csv(
    _: Admin,
    axum::extract::State(state): AppState,
    Query(filter): Query<DeviceFilter>,
) -> Response {
    let Ok(rows) = state.store.devices(&filter, state.now(), 1_000_000).await else {
        return unavailable();
    };
    let mut out = String::from(
        "hostname,user,upn,outcome,last_seen,reason,os,agent_version,reports,device_id\r\n",
    );
    for r in &rows {
        let fields = [
            r.hostname.clone(),
            r.user_name.clone(),
            r.upn.clone().unwrap_or_default(),
            r.outcome.clone(),
            when(r.last_seen),
            r.reason.clone().unwrap_or_default(),
            r.os.clone(),
            r.agent_version.clone(),
            r.reports.to_string(),
            r.device_id.clone(),
        ];
        let line: Vec<String> = fields.iter().map(|f| cell(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"ado-cutover-devices.csv\"",
            ),
        ],
        out,
    )
        .into_response()
}

async fn device_page(
    admin: Admin,
    axum::extract::State(state): AppState,
    Path((device_id, user)): Path<(String, String)>,
) -> Response {
    let found = match state.store.device(&device_id, &user).await {
        Ok(found) => found,
        Err(_) => return unavailable(),
    };
    let Some((device, reports, latest)) = found else {
        let body = html! { h1 { "Not found" } p { "No report came from this device and user." } };
        let mut response = page("Not found", admin.csrf.as_deref(), body);
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    };
    let here = device_path(&device.device_id, &device.user_name);
    let body = html! {
        h1 { (visible(&device.hostname)) }
        dl.facts {
            dt { "User" } dd { (visible(&device.user_name)) @if let Some(upn) = &device.upn { " (" (visible(upn)) ")" } }
            dt { "Outcome" } dd { span class={"badge " (device.outcome)} { (outcome_label(&device.outcome)) } }
            dt { "Last seen" } dd { (when(device.last_seen)) }
            dt { "First seen" } dd { (when(device.first_seen)) }
            dt { "System" } dd { (device.os) }
            dt { "Agent" } dd { (device.agent_version) }
            dt { "Device id" } dd { code { (device.device_id) } }
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
                        td { span class={"badge " (r.outcome)} { (outcome_label(&r.outcome)) } }
                        td { (r.agent_version) } td { (when(r.received_at)) }
                    }
                }
            }
        }
    };
    page(&visible(&device.hostname), admin.csrf.as_deref(), body)
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
async fn report_page(
    admin: Admin,
    axum::extract::State(state): AppState,
    Path((device_id, user, report_id)): Path<(String, String, String)>,
) -> Response {
    let report = match state.store.report(&device_id, &user, &report_id).await {
        Ok(found) => found,
        Err(_) => return unavailable(),
    };
    let Some(report) = report else {
        let body = html! { h1 { "Not found" } p { "This device and user sent no such report." } };
        let mut response = page("Not found", admin.csrf.as_deref(), body);
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    };
    let back = device_path(&device_id, &user);
    let title = format!("{} report", kebab(&report.mode));
    let body = html! {
        p { a href=(back) { "Back to " (visible(&report.device.hostname)) } }
        h1 { (visible(&report.device.hostname)) ": " (title) }
        dl.facts {
            dt { "User" } dd { (visible(&report.user.name)) @if let Some(upn) = &report.user.upn { " (" (visible(upn)) ")" } }
            dt { "Outcome" } dd { span class={"badge " (kebab(&report.outcome))} { (outcome_label(&kebab(&report.outcome))) } }
            dt { "Started" } dd { (when(millis(report.started_at))) }
            dt { "Finished" } dd { (when(millis(report.finished_at))) }
            dt { "Agent" } dd { (report.agent_version) }
            dt { "Report id" } dd { code { (report.report_id) } }
        }
        (report_tasks(&report))
    };
    page(&title, admin.csrf.as_deref(), body)
}

#[derive(serde::Deserialize)]
struct ExpectedForm {
    csrf: String,
    upns: String,
}

async fn expected_users(
    admin: Admin,
    axum::extract::State(state): AppState,
    Form(form): Form<ExpectedForm>,
) -> Response {
    if !admin.csrf_ok(&form.csrf) {
        return forbidden();
    }
    let upload = super::expected::parse(&form.upns);
    if state.store.set_expected_users(&upload.users).await.is_err() {
        return unavailable();
    }
    if upload.unreadable.is_empty() {
        return Redirect::to("/").into_response();
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
    page("Expected users", admin.csrf.as_deref(), body)
}

fn login_page(message: Option<&str>) -> Response {
    let body = html! {
        h1 { "Sign in" }
        @if let Some(message) = message { p.error role="alert" { (message) } }
        form.login method="post" action="/login" {
            label for="token" { "Admin token" }
            input id="token" type="password" name="token" autocomplete="current-password" required;
            button type="submit" { "Sign in" }
        }
        p.muted { "The admin token is the admin= line of the token file ado-cutover-server wrote at its first start (by default ado-cutover-server-tokens.txt next to the database); the whole line works too." }
    };
    page("Sign in", None, body)
}

async fn login_form() -> Response {
    login_page(None)
}

#[derive(serde::Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(axum::extract::State(state): AppState, Form(form): Form<LoginForm>) -> Response {
    // The token file's line as it is (`admin=<token>`) is accepted, like the agent's `enrollment=`.
    let token = form.token.trim();
    let token = token.strip_prefix("admin=").unwrap_or(token).trim();
    match auth::login(&state, token, state.secure_cookies).await {
        Some(cookie) => {
            let mut response = Redirect::to("/").into_response();
            response.headers_mut().insert(header::SET_COOKIE, cookie);
            response
        }
        None => {
            let mut response = login_page(Some("That is not the admin token."));
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            response
        }
    }
}

#[derive(serde::Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(
    admin: Admin,
    axum::extract::State(state): AppState,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !admin.csrf_ok(&form.csrf) {
        return forbidden();
    }
    let cookie = auth::logout(&state, &headers).await;
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response
}

fn forbidden() -> Response {
    let body = html! { h1 { "Refused" } p { "The form was not sent from this dashboard. Reload the page and try again." } };
    let mut response = page("Refused", None, body);
    *response.status_mut() = StatusCode::FORBIDDEN;
    response
}

fn unavailable() -> Response {
    let body = html! { h1 { "Unavailable" } p { "The database is not answering. Try again in a moment." } };
    let mut response = page("Unavailable", None, body);
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response
}

async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        PreEscaped(include_str!("app.css")).into_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_hide_or_reorder_characters() {
        assert_eq!(visible("pc-1"), "pc-1");
        assert_eq!(visible("pc\u{202E}1-gnp"), "pc⟨U+202E⟩1-gnp");
        assert_eq!(visible("ali\u{200B}ce"), "ali⟨U+200B⟩ce");
        assert_eq!(visible("a\tb"), "a⟨U+0009⟩b");
        assert_eq!(
            visible("Zoë <b>"),
            "Zoë <b>",
            "ordinary text, escaped later by maud"
        );
    }

    #[test]
    fn csv_cells_are_quoted_and_never_formulas() {
        assert_eq!(cell("plain"), "\"plain\"");
        assert_eq!(cell("a\"b"), "\"a\"\"b\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("-1+2"), "\"'-1+2\"");
    }
}
