//! The admins' dashboard: server-rendered HTML (maud escapes every value; a report is
//! untrusted input), one stylesheet compiled in, no JavaScript, so it works everywhere and the
//! content security policy can forbid scripts outright.
//!
//! Pages: the fleet overview (outcomes, per task, reports over time as an SVG chart, who needs
//! action and why, failures by cause, who has not reported), the device list with search and
//! filters and its CSV export, and each device's history; groups and waves with their
//! progress; before the switch, per organization, who will be hit and how (the agents'
//! inventories); for admins, tokens, webhooks and the audit log.
//! Every handler names [`Viewer`](crate::server::auth::Viewer) or
//! [`Admin`](crate::server::auth::Admin); navigation hides what a viewer cannot use, the
//! server refuses it.

mod audit;
mod chart;
mod devices;
mod groups;
mod inventory;
mod login;
mod overview;
mod tokens;
mod webhooks;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use time::OffsetDateTime;

use super::State;
use super::auth::{Principal, Role};
use super::error::with_cause;
use super::outcome::FleetOutcome;
use super::store::DeviceRow;
use devices::{device_csv, device_list, device_page, forget_key, report_page};
pub(super) use login::too_many_sign_ins;
use login::{login, login_form, logout, logout_everywhere};
use overview::{expected_users, overview};
use tokens::{create_token, revoke_token, token_list};

pub(super) type AppState = axum::extract::State<State>;

pub fn routes(upload_bytes: usize) -> axum::Router<State> {
    axum::Router::new()
        .route("/", get(overview))
        .route("/login", get(login_form).post(login))
        .route("/login/entra", get(super::oidc::start))
        .route("/login/entra/callback", get(super::oidc::finish))
        .route("/tokens", get(token_list).post(create_token))
        .route("/tokens/{id}/revoke", post(revoke_token))
        .route(
            "/webhooks",
            get(webhooks::webhook_list).post(webhooks::create_webhook),
        )
        .route("/webhooks/{id}/delete", post(webhooks::delete_webhook))
        .route("/audit", get(audit::audit_page))
        .route("/audit.csv", get(audit::audit_csv))
        .route("/logout", post(logout))
        .route("/logout-everywhere", post(logout_everywhere))
        .route("/groups", get(groups::groups_page))
        .route("/groups.csv", get(groups::groups_csv))
        .route("/groups/wave", post(groups::set_wave))
        .route("/not-reported.csv", get(groups::not_reported_csv))
        .route("/inventory", get(inventory::inventory_page))
        .route("/inventory.csv", get(inventory::inventory_csv))
        .route("/devices", get(device_list))
        .route("/devices.csv", get(device_csv))
        .route("/devices/{device_id}/{user}", get(device_page))
        .route("/devices/{device_id}/{user}/forget-key", post(forget_key))
        .route(
            "/devices/{device_id}/{user}/reports/{report_id}",
            get(report_page),
        )
        .route(
            "/expected-users",
            post(expected_users).layer(axum::extract::DefaultBodyLimit::max(upload_bytes)),
        )
        .route("/static/app.css", get(stylesheet))
}

/// A page; with `who` (signed in), the navigation for their role.
pub(super) fn page(title: &str, who: Option<&Principal>, body: Markup) -> Response {
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
                    @if let Some(who) = who {
                        @let csrf = who.csrf.as_deref().unwrap_or("");
                        @let admin = who.role == Role::Admin;
                        nav {
                            a href="/" { "Overview" }
                            a href="/devices" { "Devices" }
                            a href="/groups" { "Groups" }
                            a href="/inventory" { "Before the switch" }
                            @if admin {
                                a href="/tokens" { "Tokens" }
                                a href="/webhooks" { "Webhooks" }
                                a href="/audit" { "Audit log" }
                            }
                            span.who id="signed-in-as" { (visible(&who.who)) " · " (who.role.name()) }
                            form.inline method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(csrf);
                                button type="submit" { "Sign out" }
                            }
                            @if admin {
                                form.inline method="post" action="/logout-everywhere" {
                                    input type="hidden" name="csrf" value=(csrf);
                                    button type="submit" title="Ends every dashboard session, on every computer" { "Sign out everywhere" }
                                }
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

/// A CSV download named `file` (every export: devices, groups, not reported, the inventory,
/// the audit log); `body` whole or streamed.
pub(super) fn csv_download(file: &str, body: impl Into<axum::body::Body>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        body.into(),
    )
        .into_response()
}

pub(crate) fn when(ms: i64) -> String {
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

/// An outcome as a badge: its word as the class, its label as the text.
pub(super) fn badge(outcome: FleetOutcome) -> Markup {
    html! { span class={"badge " (outcome.as_str())} { (outcome.label()) } }
}

/// A name as people must see it: characters that reorder or hide text (bidirectional controls,
/// zero-width characters, other control characters) shown as `⟨U+202E⟩`, so one host or user
/// name cannot pass for another. HTML escaping is maud's; this is about what the eye reads.
pub(super) fn visible(name: &str) -> String {
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

pub(super) fn device_href(row: &DeviceRow) -> String {
    device_path(&row.device_id, &row.user_name)
}

/// The device page of a device and user.
pub(super) fn device_path(device_id: &str, user: &str) -> String {
    format!(
        "/devices/{}/{}",
        utf8_percent_encode(device_id, NON_ALPHANUMERIC),
        utf8_percent_encode(user, NON_ALPHANUMERIC)
    )
}

pub(super) fn percent(part: i64, whole: i64) -> String {
    if whole == 0 {
        "0%".into()
    } else {
        format!("{:.0}%", part as f64 * 100.0 / whole as f64)
    }
}

/// Why a page could not be shown, as a page.
pub(super) enum PageError {
    /// The database did not answer (the cause goes to the log, not the page).
    Unavailable(String),
    NotFound {
        /// Who asked, for the page's navigation.
        who: Option<Principal>,
        what: &'static str,
    },
    /// A form that was not sent from this dashboard (wrong CSRF token).
    Forbidden,
    /// A request this page cannot take (too large, unreadable), with what to do.
    Refused {
        status: StatusCode,
        who: Option<Principal>,
        what: String,
    },
}

impl PageError {
    pub(super) fn unavailable(err: impl std::fmt::Display) -> PageError {
        PageError::Unavailable(err.to_string())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, text, who, cause): (_, _, std::borrow::Cow<'_, str>, _, _) = match self
        {
            PageError::Unavailable(cause) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                "The database is not answering. Try again in a moment.".into(),
                None,
                Some(cause),
            ),
            PageError::NotFound { who, what } => {
                (StatusCode::NOT_FOUND, "Not found", what.into(), who, None)
            }
            PageError::Forbidden => (
                StatusCode::FORBIDDEN,
                "Refused",
                "The form was not sent from this dashboard. Reload the page and try again.".into(),
                None,
                None,
            ),
            PageError::Refused { status, who, what } => {
                (status, "Not taken", what.into(), who, None)
            }
        };
        let body = html! { h1 { (title) } p { (text) } };
        let mut response = page(title, who.as_ref(), body);
        *response.status_mut() = status;
        match cause {
            Some(cause) => with_cause(response, cause),
            None => response,
        }
    }
}

/// The page a viewer gets at an admin's page or form (403).
pub(super) fn not_admin() -> Response {
    let body = html! {
        h1 { "Admins only" }
        p { "This needs the admin role, and you are signed in as a viewer. An admin of this dashboard can do it, or give you the admin role (Microsoft Entra ID: the app's admin role)." }
        p { a href="/" { "Back to the overview" } }
    };
    let mut response = page("Admins only", None, body);
    *response.status_mut() = StatusCode::FORBIDDEN;
    response
}

/// The page for an address the dashboard does not have.
pub(super) fn not_found() -> PageError {
    PageError::NotFound {
        who: None,
        what: "There is no such page. The overview is at /.",
    }
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
}
