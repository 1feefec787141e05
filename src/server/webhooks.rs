//! Notifications: webhooks the admins configure are told when a device fails, when a device has
//! needed action for more than N days, when a wave reaches a share verified working, and once a
//! day with a digest. Every delivery is JSON with a plain `text` field (Microsoft Teams and
//! Slack incoming webhooks post it as it is), signed with the webhook's secret
//! (HMAC-SHA256 of the exact body, hex, in [`SIGNATURE`] as `sha256=<hex>`), retried with
//! backoff when the receiver fails, and recorded (attempts, last answer, next try).
//!
//! One instance does this for all that share a database: the one holding the "webhooks"
//! lease. Notices name devices, users and groups, never a token, a key or a secret; a
//! webhook's URL (Teams and Slack put their secret in it) is never logged or shown whole.

use std::time::Duration;

use serde_json::json;
use time::OffsetDateTime;

use crate::report::signature::sign;
use crate::server::State;
use crate::server::store::{
    DAY_MS, GroupProgress, NoticeDevice, Store, StoreError, WebhookRow, iso_date, millis,
};

/// The header that carries a delivery's signature: `sha256=<hex>`.
pub const SIGNATURE: &str = "X-Ado-Cutover-Signature";
/// The header that names the event.
pub const EVENT: &str = "X-Ado-Cutover-Event";
/// The header that carries the delivery's id (the same on every try of it).
pub const DELIVERY: &str = "X-Ado-Cutover-Delivery";

/// The events a webhook can take.
pub const EVENTS: [(&str, &str); 4] = [
    ("device-failed", "a device's outcome changes to failed"),
    (
        "needs-action",
        "a device has needed action for more than N days",
    ),
    ("wave-reached", "a wave reaches its share verified working"),
    ("digest", "a daily digest"),
];

/// Days a finished delivery (delivered or given up) stays on the Webhooks page.
pub const KEEP_DELIVERIES_DAYS: i64 = 30;

/// Tries of one delivery before it is given up.
pub const MAX_ATTEMPTS: i64 = 8;
/// Devices named in one notice (the count says how many more).
const NAMED: usize = 20;
/// Devices taken per event and webhook in one round.
const PER_ROUND: i64 = 500;
/// Deliveries sent per round.
const SENDS_PER_ROUND: i64 = 50;

/// How often the notifier looks, and the first wait before a failed delivery is tried again
/// (each further wait is four times longer, at most six hours).
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub interval: Duration,
    pub retry_base: Duration,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            interval: Duration::from_secs(30),
            retry_base: Duration::from_secs(30),
        }
    }
}

/// The wait before try `attempts + 1`, after `attempts` failed tries; `None`: give up.
pub fn backoff(retry_base: Duration, attempts: i64) -> Option<Duration> {
    if attempts >= MAX_ATTEMPTS {
        return None;
    }
    let factor = 4u32.saturating_pow(u32::try_from(attempts.max(1) - 1).unwrap_or(u32::MAX));
    Some(
        retry_base
            .saturating_mul(factor)
            .min(Duration::from_secs(6 * 3600)),
    )
}

/// Runs the notifier until the process ends: a round every `timing.interval` while this
/// instance holds the lease.
pub async fn run(state: State, instance: String) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(err) => {
            tracing::error!("webhooks are off: the HTTP client could not be made: {err}");
            return;
        }
    };
    let timing = state.webhooks;
    loop {
        if let Err(err) = round(&state.store, &client, &instance, state.now(), timing).await {
            tracing::warn!("a round of webhook notices failed (the next round tries again): {err}");
        }
        tokio::time::sleep(timing.interval).await;
    }
}

/// One round: notices for what happened since the last, then the deliveries that are due.
pub async fn round(
    store: &Store,
    client: &reqwest::Client,
    instance: &str,
    now: OffsetDateTime,
    timing: Timing,
) -> Result<(), StoreError> {
    let hooks = store.webhooks().await?;
    if hooks.is_empty() {
        return Ok(());
    }
    let at = millis(now);
    // Held a little longer than three rounds: another instance takes over when this one is gone.
    let until = at + 3 * timing.interval.as_millis() as i64 + 5_000;
    if !store.take_lease("webhooks", instance, at, until).await? {
        return Ok(());
    }
    let mut groups: Option<Vec<GroupProgress>> = None;
    for hook in &hooks {
        let wants = |event: &str| hook.events.iter().any(|e| e == event);
        if wants("device-failed") {
            devices_notice(store, hook, "device-failed", "failed", at, at).await?;
        }
        if wants("needs-action") {
            let since_before = at - hook.stuck_days * DAY_MS;
            devices_notice(
                store,
                hook,
                "needs-action",
                "action-needed",
                since_before,
                at,
            )
            .await?;
        }
        if (wants("wave-reached") || wants("digest")) && groups.is_none() {
            groups = Some(store.waves().await?);
        }
        let groups = groups.as_deref().unwrap_or_default();
        if wants("wave-reached") {
            waves_notice(store, hook, groups, at).await?;
        }
        if wants("digest") && i64::from(now.hour()) >= hook.digest_hour {
            digest_notice(store, hook, groups, now).await?;
        }
    }
    send_due(store, client, at, timing).await
}

/// Tells `hook` about devices that have `outcome` since `since_before` and it was not told of;
/// forgets those that no longer have it (they are told again if they get it again).
async fn devices_notice(
    store: &Store,
    hook: &WebhookRow,
    event: &str,
    outcome: &str,
    since_before: i64,
    at: i64,
) -> Result<(), StoreError> {
    store.forget_resolved(&hook.id, event, outcome).await?;
    let devices = store
        .untold_devices(&hook.id, event, outcome, since_before, PER_ROUND)
        .await?;
    if devices.is_empty() {
        return Ok(());
    }
    let headline = match event {
        "device-failed" if devices.len() == 1 => "1 device failed".to_string(),
        "device-failed" => format!("{} devices failed", devices.len()),
        _ if devices.len() == 1 => format!(
            "1 device has needed action for more than {} days",
            hook.stuck_days
        ),
        _ => format!(
            "{} devices have needed action for more than {} days",
            devices.len(),
            hook.stuck_days
        ),
    };
    let named = &devices[..devices.len().min(NAMED)];
    let mut text = format!("ado-cutover: {headline}.");
    for d in named {
        text.push_str(&format!("\n- {}", device_line(d)));
    }
    if devices.len() > named.len() {
        text.push_str(&format!("\n- and {} more", devices.len() - named.len()));
    }
    let body = json!({
        "event": event,
        "text": text,
        "at": rfc3339(at),
        "count": devices.len(),
        "devices": named,
    });
    let items: Vec<(String, String)> = devices
        .iter()
        .map(|d| (d.device_id.clone(), d.user_name.clone()))
        .collect();
    store
        .queue_notice(&hook.id, event, &body.to_string(), &items, at)
        .await
}

/// "pc-1 (alice@contoso.com, wave 1): credentials: could not delete …"
fn device_line(d: &NoticeDevice) -> String {
    let who = d.upn.as_deref().unwrap_or(&d.user_name);
    let group = d
        .group
        .as_deref()
        .map(|g| format!(", {g}"))
        .unwrap_or_default();
    let reason = d
        .reason
        .as_deref()
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    format!("{} ({who}{group}){reason}", d.hostname)
}

/// Tells `hook` about open waves that reached its share, once per wave.
async fn waves_notice(
    store: &Store,
    hook: &WebhookRow,
    groups: &[GroupProgress],
    at: i64,
) -> Result<(), StoreError> {
    for wave in groups.iter().filter(|g| g.open(at)) {
        let Some(name) = wave.group.as_deref() else {
            continue;
        };
        let people = wave.devices + wave.not_reported;
        if people == 0 || wave.percent_done < hook.wave_percent {
            continue;
        }
        if store.was_told(&hook.id, "wave-reached", name).await? {
            continue;
        }
        let text = format!(
            "ado-cutover: wave \"{name}\" reached {}% verified working ({} of {}; {} need action, {} failed, {} expected users have not reported).",
            wave.percent_done,
            wave.verified,
            people,
            wave.outcome(crate::server::outcome::FleetOutcome::ActionNeeded),
            wave.outcome(crate::server::outcome::FleetOutcome::Failed),
            wave.not_reported,
        );
        let body = json!({
            "event": "wave-reached",
            "text": text,
            "at": rfc3339(at),
            "wave": wave,
            "percent_goal": hook.wave_percent,
        });
        store
            .queue_notice(
                &hook.id,
                "wave-reached",
                &body.to_string(),
                &[(name.to_string(), String::new())],
                at,
            )
            .await?;
    }
    Ok(())
}

/// The day's digest for `hook`, once per day (UTC).
async fn digest_notice(
    store: &Store,
    hook: &WebhookRow,
    groups: &[GroupProgress],
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let at = millis(now);
    let day = iso_date(at.div_euclid(DAY_MS));
    if store.was_told(&hook.id, "digest", &day).await? {
        return Ok(());
    }
    let summary = store.summary(now, 1).await?;
    let count = |o| summary.outcomes.get(&o).copied().unwrap_or(0);
    use crate::server::outcome::FleetOutcome;
    let verified = summary.verified.get("ok").copied().unwrap_or(0);
    let mut text = format!(
        "ado-cutover daily digest, {day}: {} devices, {} verified working ({}%), {} waiting for the switch, {} need action, {} failed; {} of {} expected users have not reported.",
        summary.devices,
        verified,
        if summary.devices == 0 {
            0
        } else {
            verified * 100 / summary.devices
        },
        count(FleetOutcome::Waiting),
        count(FleetOutcome::ActionNeeded),
        count(FleetOutcome::Failed),
        summary.not_reported_count,
        summary.expected,
    );
    let open: Vec<&GroupProgress> = groups.iter().filter(|g| g.open(at)).collect();
    for wave in &open {
        text.push_str(&format!(
            "\n- wave \"{}\": {}% verified working, {} need action, {} failed, {} not reported",
            wave.group.as_deref().unwrap_or_default(),
            wave.percent_done,
            wave.outcome(FleetOutcome::ActionNeeded),
            wave.outcome(FleetOutcome::Failed),
            wave.not_reported
        ));
    }
    let body = json!({
        "event": "digest",
        "text": text,
        "at": rfc3339(at),
        "day": day,
        "devices": summary.devices,
        "outcomes": summary.outcomes,
        "verified": summary.verified,
        "expected": summary.expected,
        "not_reported": summary.not_reported_count,
        "waves": open,
    });
    store
        .queue_notice(
            &hook.id,
            "digest",
            &body.to_string(),
            &[(day, String::new())],
            at,
        )
        .await
}

/// Sends the deliveries that are due, each signed with its webhook's secret.
async fn send_due(
    store: &Store,
    client: &reqwest::Client,
    at: i64,
    timing: Timing,
) -> Result<(), StoreError> {
    // A round sends for at most one interval (plus one timeout), well inside the lease: a
    // receiver that hangs delays the rest to the next round, it never lets the lease run out
    // under a round still sending (another instance would then send the same deliveries).
    let started = std::time::Instant::now();
    let due = store.due_deliveries(at, SENDS_PER_ROUND).await?;
    // The webhooks as they are now: one deleted since the round began is not sent to.
    let hooks = if due.is_empty() {
        Vec::new()
    } else {
        store.webhooks().await?
    };
    for delivery in due {
        if started.elapsed() > timing.interval {
            break;
        }
        let Some(hook) = hooks.iter().find(|h| h.id == delivery.webhook_id) else {
            continue;
        };
        let sent = client
            .post(&hook.url)
            .header("Content-Type", "application/json")
            .header(
                "User-Agent",
                concat!("ado-cutover-server/", env!("CARGO_PKG_VERSION")),
            )
            .header(
                SIGNATURE,
                format!("sha256={}", sign(&hook.secret, delivery.body.as_bytes())),
            )
            .header(EVENT, &delivery.event)
            .header(DELIVERY, delivery.id.to_string())
            .body(delivery.body.clone())
            .send()
            .await;
        let (status, delivered) = match sent {
            Ok(answer) if answer.status().is_success() => {
                (answer.status().as_u16().to_string(), true)
            }
            Ok(answer) => (format!("HTTP {}", answer.status().as_u16()), false),
            // Without the URL: Teams and Slack keep their secret in it.
            Err(err) => (format!("not delivered: {}", err.without_url()), false),
        };
        let attempts = delivery.attempts + 1;
        let next = if delivered {
            None
        } else {
            backoff(timing.retry_base, attempts).map(|wait| at + wait.as_millis() as i64)
        };
        if !delivered {
            tracing::warn!(
                "webhook {} ({}): delivery {} try {attempts} failed: {status}{}",
                hook.id,
                shown_url(&hook.url),
                delivery.id,
                if next.is_none() { "; given up" } else { "" }
            );
        }
        store
            .record_try(delivery.id, &status, at, delivered, next)
            .await?;
    }
    Ok(())
}

/// A webhook's URL as people may see it: scheme and host only (the path of a Teams or Slack
/// webhook is its secret).
pub fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}{}/…",
            u.scheme(),
            u.host_str().unwrap_or_default(),
            u.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        Err(_) => "(not a URL)".into(),
    }
}

/// Checks a webhook URL an admin gave: http or https with a host, no user or password.
pub fn check_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    let url = url::Url::parse(text).map_err(|_| {
        "the webhook address is not a URL; give the full address, e.g. https://example.webhook.office.com/...".to_string()
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(
            "the webhook address must start with https:// (or http://) and name a host".into(),
        );
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the webhook address must not hold a user name or password; receivers check the signature header instead".into());
    }
    Ok(text.to_string())
}

fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_fourfold_up_to_six_hours_then_gives_up() {
        let base = Duration::from_secs(30);
        let waits: Vec<Option<u64>> = (1..=MAX_ATTEMPTS)
            .map(|n| backoff(base, n).map(|d| d.as_secs()))
            .collect();
        assert_eq!(
            waits,
            [
                Some(30),
                Some(120),
                Some(480),
                Some(1920),
                Some(7680),
                Some(21600),
                Some(21600),
                None
            ]
        );
    }

    #[test]
    fn urls_are_checked_and_shown_without_their_path() {
        assert!(check_url("https://example.webhook.office.com/webhookb2/abc").is_ok());
        assert!(check_url("ftp://example.com/x").is_err());
        assert!(check_url("not a url").is_err());
        assert!(check_url("https://user:pass@example.com/").is_err());
        assert_eq!(
            shown_url("https://hooks.slack.com/services/T0/B0/secret"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            shown_url("http://127.0.0.1:8080/x"),
            "http://127.0.0.1:8080/…"
        );
    }

    #[test]
    fn a_device_line_names_host_person_group_and_reason() {
        let d = NoticeDevice {
            device_id: "id".into(),
            user_name: "ana".into(),
            hostname: "pc-1".into(),
            upn: Some("ana@contoso.com".into()),
            group: Some("wave 1".into()),
            reason: Some("credentials: locked".into()),
            since: 0,
        };
        assert_eq!(
            device_line(&d),
            "pc-1 (ana@contoso.com, wave 1): credentials: locked"
        );
    }
}
