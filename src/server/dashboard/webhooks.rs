//! Webhooks, for admins: the list (where each goes, shown without its path; its events; its
//! last delivery), making one (its signing secret shown once), deleting one, and the latest
//! deliveries with their tries, answers and next try.

use axum::Form;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::{AppState, PageError, page, visible, when};
use crate::server::auth::Admin;
use crate::server::auth::{hex, random_bytes, random_token};
use crate::server::store::{Delivery, WebhookRow, millis};
use crate::server::webhooks::{EVENTS, MAX_ATTEMPTS, SIGNATURE, check_url, shown_url};

fn webhook_page(
    admin: &Admin,
    hooks: &[WebhookRow],
    deliveries: &[Delivery],
    made: Option<&WebhookRow>,
    error: Option<&str>,
) -> Response {
    let csrf = admin.csrf.as_deref().unwrap_or("");
    let last = |id: &str| deliveries.iter().find(|d| d.webhook_id == id);
    let body = html! {
        h1 { "Webhooks" }
        p.muted {
            "Each delivery is a JSON POST with a plain text field (Microsoft Teams and Slack incoming webhooks post it as it is), signed with the webhook's secret: the "
            code { (SIGNATURE) } " header holds sha256= and the hex HMAC-SHA256 of the body. "
            "A delivery that fails is tried again, waiting longer each time, " (MAX_ATTEMPTS) " tries in all. Notices name devices, users and groups, never a token or a secret."
        }
        @if let Some(hook) = made {
            section.new-token {
                h2 { "New webhook " code { (hook.id) } }
                p { "Its signing secret: copy it now into the receiver; it is not shown again." }
                pre id="new-webhook-secret" { (hook.secret) }
            }
        }
        @if let Some(error) = error { p.error role="alert" { (error) } }
        form.new-token method="post" action="/webhooks" {
            input type="hidden" name="csrf" value=(csrf);
            label for="url" { "Address" }
            input id="url" name="url" type="url" required size="40" placeholder="https://…";
            @for (event, what) in EVENTS {
                label { input type="checkbox" name=(event) value="on" checked; " " (what) }
            }
            label for="stuck_days" { "N days" }
            input id="stuck_days" name="stuck_days" type="number" min="1" max="365" value="3";
            label for="wave_percent" { "Wave share (%)" }
            input id="wave_percent" name="wave_percent" type="number" min="1" max="100" value="90";
            label for="digest_hour" { "Digest hour (UTC)" }
            input id="digest_hour" name="digest_hour" type="number" min="0" max="23" value="7";
            button type="submit" { "Add the webhook" }
        }
        table.webhooks {
            thead { tr {
                th { "Id" } th { "Address" } th { "Events" } th { "Made" } th { "Last delivery" } th {}
            } }
            tbody {
                @for hook in hooks {
                    tr id={"webhook-" (hook.id)} {
                        td { code { (hook.id) } }
                        td { (shown_url(&hook.url)) }
                        td {
                            (hook.events.join(", "))
                            @if hook.events.iter().any(|e| e == "needs-action") { br; span.muted { "needs action: after " (hook.stuck_days) " days" } }
                            @if hook.events.iter().any(|e| e == "wave-reached") { br; span.muted { "waves: at " (hook.wave_percent) "%" } }
                            @if hook.events.iter().any(|e| e == "digest") { br; span.muted { "digest: " (hook.digest_hour) ":00 UTC" } }
                        }
                        td { (when(hook.created_at)) " by " (visible(&hook.created_by)) }
                        td.last-delivery {
                            @match last(&hook.id) {
                                Some(d) => { (d.event) ": " (delivery_state(d)) },
                                None => span.muted { "none yet" },
                            }
                        }
                        td {
                            form.inline method="post" action=(format!("/webhooks/{}/delete", hook.id)) {
                                input type="hidden" name="csrf" value=(csrf);
                                button type="submit" { "Delete" }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Latest deliveries" }
        @if deliveries.is_empty() {
            p.muted { "None yet." }
        } @else {
            table.deliveries {
                thead { tr { th { "Delivery" } th { "Webhook" } th { "Event" } th { "Queued" } th.num { "Tries" } th { "State" } } }
                tbody {
                    @for d in deliveries {
                        tr id={"delivery-" (d.id)} {
                            td { (d.id) } td { code { (d.webhook_id) } } td { (d.event) }
                            td { (when(d.created_at)) } td.num { (d.attempts) } td.state { (delivery_state(d)) }
                        }
                    }
                }
            }
        }
    };
    page("Webhooks", Some(&admin.0), body)
}

/// "delivered …", "HTTP 500; next try …", "given up after 8 tries: HTTP 500", "queued".
fn delivery_state(d: &Delivery) -> String {
    let status = d.last_status.as_deref().unwrap_or("");
    match (d.delivered_at, d.next_try_at) {
        (Some(at), _) => format!("delivered {} ({status})", when(at)),
        (None, Some(_)) if d.attempts == 0 => "queued".into(),
        (None, Some(next)) => format!("{status}; next try {}", when(next)),
        (None, None) => format!("given up after {} tries: {status}", d.attempts),
    }
}

async fn show(
    admin: &Admin,
    state: &crate::server::State,
    made: Option<&WebhookRow>,
    error: Option<&str>,
) -> Result<Response, PageError> {
    let hooks = state
        .store
        .webhooks()
        .await
        .map_err(PageError::unavailable)?;
    let deliveries = state
        .store
        .deliveries(None, 50)
        .await
        .map_err(PageError::unavailable)?;
    Ok(webhook_page(admin, &hooks, &deliveries, made, error))
}

pub(super) async fn webhook_list(
    admin: Admin,
    axum::extract::State(state): AppState,
) -> Result<Response, PageError> {
    show(&admin, &state, None, None).await
}

#[derive(serde::Deserialize)]
pub(super) struct CreateForm {
    csrf: String,
    url: String,
    #[serde(rename = "device-failed")]
    failed: Option<String>,
    #[serde(rename = "needs-action")]
    needs_action: Option<String>,
    #[serde(rename = "wave-reached")]
    wave_reached: Option<String>,
    digest: Option<String>,
    #[serde(default)]
    stuck_days: String,
    #[serde(default)]
    wave_percent: String,
    #[serde(default)]
    digest_hour: String,
}

/// A whole number in `range`, or what is wrong with it.
fn number(text: &str, range: std::ops::RangeInclusive<i64>, what: &str) -> Result<i64, String> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            format!(
                "{what} must be a whole number from {} to {}",
                range.start(),
                range.end()
            )
        })
}

pub(super) async fn create_webhook(
    admin: Admin,
    axum::extract::State(state): AppState,
    Form(form): Form<CreateForm>,
) -> Result<Response, PageError> {
    if !admin.csrf_ok(&form.csrf) {
        return Err(PageError::Forbidden);
    }
    let events: Vec<String> = [
        ("device-failed", &form.failed),
        ("needs-action", &form.needs_action),
        ("wave-reached", &form.wave_reached),
        ("digest", &form.digest),
    ]
    .into_iter()
    .filter(|(_, on)| on.is_some())
    .map(|(event, _)| event.to_string())
    .collect();
    let checked = (|| {
        let url = check_url(&form.url)?;
        if events.is_empty() {
            return Err("choose at least one event to send".to_string());
        }
        Ok((
            url,
            number(&form.stuck_days, 1..=365, "N days")?,
            number(&form.wave_percent, 1..=100, "the wave share")?,
            number(&form.digest_hour, 0..=23, "the digest hour")?,
        ))
    })();
    let (url, stuck_days, wave_percent, digest_hour) = match checked {
        Ok(checked) => checked,
        Err(error) => {
            let mut response = show(&admin, &state, None, Some(&error)).await?;
            *response.status_mut() = StatusCode::BAD_REQUEST;
            return Ok(response);
        }
    };
    let now = millis(state.now());
    let hook = WebhookRow {
        id: hex(&random_bytes::<6>()),
        url,
        secret: random_token(),
        events,
        stuck_days,
        wave_percent,
        digest_hour,
        created_by: admin.who.clone(),
        created_at: now,
    };
    state
        .store
        .add_webhook(&hook)
        .await
        .map_err(PageError::unavailable)?;
    let entry = admin.audit(
        now,
        "webhook-created",
        &hook.id,
        &format!("{} for {}", shown_url(&hook.url), hook.events.join(", ")),
    );
    state
        .store
        .add_audit(&entry)
        .await
        .map_err(PageError::unavailable)?;
    show(&admin, &state, Some(&hook), None).await
}

pub(super) async fn delete_webhook(
    admin: Admin,
    axum::extract::State(state): AppState,
    Path(id): Path<String>,
    Form(form): Form<super::login::CsrfForm>,
) -> Result<Response, PageError> {
    if !admin.csrf_ok(&form.csrf) {
        return Err(PageError::Forbidden);
    }
    if !state
        .store
        .delete_webhook(&id)
        .await
        .map_err(PageError::unavailable)?
    {
        return Err(PageError::NotFound {
            who: Some(admin.0),
            what: "There is no webhook with this id.",
        });
    }
    let entry = admin.audit(millis(state.now()), "webhook-deleted", &id, "");
    state
        .store
        .add_audit(&entry)
        .await
        .map_err(PageError::unavailable)?;
    Ok(Redirect::to("/webhooks").into_response())
}
