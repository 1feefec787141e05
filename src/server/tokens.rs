//! Making tokens, the same way from the command line (`ado-cutover-server token create`) and the
//! dashboard: a random secret shown once, its hash stored with a public id, a label and an
//! expiry, and an audit entry.

use time::OffsetDateTime;

use super::auth::{Kind, hash_hex, hex, random_bytes, random_token};
use super::store::{AuditEntry, NewToken, Store, StoreError, TokenInfo, millis};

/// The longest label.
pub const LABEL_MAX: usize = 64;

/// A label as given, checked: `None` for an empty one.
pub fn label(text: &str) -> Result<Option<String>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.chars().count() > LABEL_MAX {
        return Err(format!("the label is longer than {LABEL_MAX} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err("the label holds a control character".into());
    }
    Ok(Some(text.to_string()))
}

/// A lifetime such as `90d`, `12h`, `2w` or `30m`; `never` (or empty) for none.
pub fn lifetime(text: &str) -> Result<Option<time::Duration>, String> {
    let text = text.trim();
    if text.is_empty() || text.eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    let bad = || {
        format!(
            "`{text}` is not a lifetime: write a number and a unit, e.g. 90d (days), 12h (hours), 2w (weeks), 30m (minutes), or `never`"
        )
    };
    let (number, unit) = text.split_at(text.len() - 1);
    let number: i64 = number.parse().ok().filter(|n| *n > 0).ok_or_else(bad)?;
    let minutes = match unit {
        "m" => 1,
        "h" => 60,
        "d" => 24 * 60,
        "w" => 7 * 24 * 60,
        _ => return Err(bad()),
    };
    number
        .checked_mul(minutes)
        .filter(|m| *m <= 10 * 366 * 24 * 60)
        .map(|m| Some(time::Duration::minutes(m)))
        .ok_or_else(|| format!("`{text}` is longer than ten years"))
}

/// A new token: its secret (to show once) and what admins see of it. Recorded with an audit
/// entry by `actor` from `address`.
pub async fn issue(
    store: &Store,
    kind: Kind,
    label: Option<&str>,
    lifetime: Option<time::Duration>,
    actor: &str,
    address: &str,
    now: OffsetDateTime,
) -> Result<(String, TokenInfo), StoreError> {
    let secret = random_token();
    let id = hex(&random_bytes::<6>());
    let expires_at = lifetime.map(|l| now + l);
    store
        .add_token(
            &NewToken {
                id: &id,
                sha256: &hash_hex(&secret),
                kind: kind.name(),
                label,
                expires_at,
                created_by: actor,
            },
            now,
        )
        .await?;
    let detail = format!(
        "{} token{}{}",
        kind.name(),
        label.map(|l| format!(", label {l}")).unwrap_or_default(),
        expires_at
            .map(|at| format!(", expires {}", super::dashboard::when(millis(at))))
            .unwrap_or_default()
    );
    store
        .add_audit(&AuditEntry {
            id: 0,
            at: millis(now),
            actor: actor.into(),
            action: "token-created".into(),
            target: id.clone(),
            outcome: "ok".into(),
            address: address.into(),
            detail,
        })
        .await?;
    let info = TokenInfo {
        id,
        kind: kind.name().into(),
        label: label.map(str::to_string),
        created_at: millis(now),
        created_by: actor.into(),
        expires_at: expires_at.map(millis),
        revoked_at: None,
        last_used_at: None,
    };
    Ok((secret, info))
}

/// Revokes token `id`, ends the dashboard sessions it started, and records it: the token, or
/// `None` when there is no such token.
pub async fn revoke(
    store: &Store,
    id: &str,
    actor: &str,
    address: &str,
    now: OffsetDateTime,
) -> Result<Option<TokenInfo>, StoreError> {
    let Some(info) = store.revoke_token(id, now).await? else {
        return Ok(None);
    };
    let ended = store
        .end_sessions_of(&format!("{} token {}", info.kind, info.id))
        .await?;
    store
        .add_audit(&AuditEntry {
            id: 0,
            at: millis(now),
            actor: actor.into(),
            action: "token-revoked".into(),
            target: info.id.clone(),
            outcome: "ok".into(),
            address: address.into(),
            detail: format!(
                "{} token{}; {ended} dashboard sessions ended",
                info.kind,
                info.label
                    .as_deref()
                    .map(|l| format!(", label {l}"))
                    .unwrap_or_default()
            ),
        })
        .await?;
    Ok(Some(info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_are_numbers_with_a_unit() {
        assert_eq!(lifetime("90d"), Ok(Some(time::Duration::days(90))));
        assert_eq!(lifetime("2w"), Ok(Some(time::Duration::weeks(2))));
        assert_eq!(lifetime("12h"), Ok(Some(time::Duration::hours(12))));
        assert_eq!(lifetime("never"), Ok(None));
        assert_eq!(lifetime(""), Ok(None));
        for bad in ["90", "d", "0d", "-1d", "1y", "99999999999999d"] {
            assert!(lifetime(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn labels_are_short_plain_text() {
        assert_eq!(label("  wave-1 "), Ok(Some("wave-1".into())));
        assert_eq!(label(""), Ok(None));
        assert!(label(&"x".repeat(65)).is_err());
        assert!(label("a\u{7}b").is_err());
    }
}
