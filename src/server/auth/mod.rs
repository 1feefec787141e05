//! Who may do what.
//!
//! - Enrollment tokens only post reports ([`Enrolled`]), and carry their label onto the devices.
//! - API tokens read, as a viewer (scripts: `Authorization: Bearer`).
//! - The admin token (break-glass) reads and manages, by bearer or through the dashboard's
//!   sign-in form; it can be turned off.
//! - People sign in with Microsoft Entra ID ([`crate::server::oidc`]) as `admin` or `viewer`.
//!
//! Tokens are looked up by their SHA-256 hash in the database on every request, so a token
//! made or revoked on one instance is taken or refused at once by all of them. Dashboard sessions
//! are database rows too. [`Viewer`] admits both roles, [`Admin`] only admins: every route names
//! one of them, so a viewer is refused by the server, not by a hidden button.

mod address;
mod headers;
mod rate;
mod secret;

use std::collections::HashMap;
use std::sync::Mutex;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq;

pub use address::{Peer, client_address};
pub use headers::security_headers;
pub use rate::RateLimiter;
pub use secret::{bearer, cookie, from_hex, hash, hash_hex, hex, random_bytes, random_token};

use super::State;
use super::error::ApiError;
use super::store::{AuditEntry, SessionRow, TokenInfo, millis};

/// The cookie that carries a dashboard session.
pub const SESSION_COOKIE: &str = "ado_cutover_session";
/// How long a dashboard session lasts.
pub const SESSION_HOURS: i64 = 12;
/// The `Set-Cookie` value that ends the session cookie.
pub const CLEAR_SESSION: &str =
    "ado_cutover_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0";

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Posts reports, nothing else.
    Enrollment,
    /// Reads (the API, as a viewer): for scripts.
    Api,
    /// Reads and manages; signs in to the dashboard (break-glass).
    Admin,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Enrollment => "enrollment",
            Kind::Api => "api",
            Kind::Admin => "admin",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        [Kind::Enrollment, Kind::Api, Kind::Admin]
            .into_iter()
            .find(|k| k.name() == name)
    }
}

/// What a signed-in person or script may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Sees everything, exports CSV.
    Viewer,
    /// Also uploads expected users, manages tokens and sessions, forgets device keys.
    Admin,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "viewer" => Some(Role::Viewer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// Who sent a request, with what role.
#[derive(Debug, Clone)]
pub struct Principal {
    /// A user principal name, `admin token <id>` or `api token <id>`.
    pub who: String,
    pub role: Role,
    /// The session's CSRF token; `None` for bearer-token requests, which need none.
    pub csrf: Option<String>,
    /// The client's address (see [`client_address`]).
    pub address: String,
}

impl Principal {
    /// True when a form's CSRF field belongs to this session.
    pub fn csrf_ok(&self, presented: &str) -> bool {
        match &self.csrf {
            Some(csrf) => bool::from(csrf.as_bytes().ct_eq(presented.as_bytes())),
            None => true,
        }
    }

    /// An audit entry by this principal, at `at`.
    pub fn audit(&self, at: i64, action: &str, target: &str, detail: &str) -> AuditEntry {
        AuditEntry {
            id: 0,
            at,
            actor: self.who.clone(),
            action: action.into(),
            target: target.into(),
            outcome: "ok".into(),
            address: self.address.clone(),
            detail: detail.into(),
        }
    }
}

/// Anyone who may read: a viewer or an admin.
pub struct Viewer(pub Principal);

/// An admin.
pub struct Admin(pub Principal);

impl std::ops::Deref for Viewer {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.0
    }
}

impl std::ops::Deref for Admin {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.0
    }
}

/// Why a request was refused.
pub enum Refused {
    /// A dashboard page: go to the sign-in page.
    Login,
    /// A dashboard page a viewer may not use.
    NotAdmin,
    /// The API, or a database that did not answer.
    Api(ApiError),
}

const TOKEN_HINT: &str = "send `Authorization: Bearer <token>`: an API token (`ado-cutover-server token create --kind api`) reads, the admin token also manages";

impl Refused {
    fn api(status: StatusCode, why: impl Into<String>) -> Refused {
        Refused::Api(ApiError::new(status, why, TOKEN_HINT))
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::Login => Redirect::to("/login").into_response(),
            Refused::NotAdmin => super::dashboard::not_admin(),
            Refused::Api(error) => error.into_response(),
        }
    }
}

/// A token that may be used now, or why not.
fn usable(info: Option<TokenInfo>, now: i64) -> Result<TokenInfo, &'static str> {
    let info = info.ok_or("is not valid")?;
    match info.state(now) {
        "active" => Ok(info),
        "expired" => Err("has expired"),
        _ => Err("was revoked"),
    }
}

/// Looks a presented token up; notes its use (at most once a minute per token and instance).
async fn token(
    state: &State,
    presented: &str,
) -> Result<Result<TokenInfo, &'static str>, ApiError> {
    let found = state
        .store
        .token_by_hash(&hash_hex(presented))
        .await
        .map_err(ApiError::unavailable)?;
    let now = state.now();
    let usable = usable(found, millis(now));
    if let Ok(info) = &usable {
        state.token_use.note(state, &info.id, now);
    }
    Ok(usable)
}

/// When each token was last noted as used by this instance (Unix minute), so a busy token
/// costs one write a minute, not one per request.
#[derive(Default)]
pub struct TokenUse(Mutex<HashMap<String, i64>>);

impl TokenUse {
    fn note(&self, state: &State, id: &str, now: time::OffsetDateTime) {
        let minute = now.unix_timestamp() / 60;
        {
            let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
            if seen.get(id) == Some(&minute) {
                return;
            }
            if seen.len() > 10_000 {
                seen.clear();
            }
            seen.insert(id.to_string(), minute);
        }
        let store = state.store.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            if let Err(err) = store.touch_token(&id, now).await {
                tracing::warn!("noting that token {id} was used failed: {err}");
            }
        });
    }
}

/// An agent: a request with a valid enrollment token, within the token's rate limit. Admin and
/// API tokens are refused here (403): a leaked script token must not be able to forge a fleet's
/// state.
pub struct Enrolled {
    /// The token's label (a rollout wave, a department), put on the device.
    pub label: Option<String>,
}

impl FromRequestParts<State> for Enrolled {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Enrolled, ApiError> {
        let Some(presented) = bearer(&parts.headers) else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "no enrollment token was sent",
                "set report.enrollment_token_file in the agent's managed configuration",
            ));
        };
        let info = match token(state, presented).await? {
            Ok(info) if info.kind == Kind::Enrollment.name() => info,
            Ok(_) => {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "only an enrollment token can send reports",
                    "agents send reports with an enrollment token (report.enrollment_token_file)",
                ));
            }
            Err(why) => {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    format!("the enrollment token {why}"),
                    "give the agents a current enrollment token (`ado-cutover-server token create --kind enrollment`) in their managed configuration",
                ));
            }
        };
        state.rate.check(presented, state.now()).map_err(|wait| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too many reports for this token",
                "the agent retries later by itself",
            )
            .retry_after(wait)
        })?;
        Ok(Enrolled { label: info.label })
    }
}

/// The principal of a request: by bearer token, or by dashboard session.
async fn principal(parts: &Parts, state: &State) -> Result<Principal, Refused> {
    let address = client_address(parts, state);
    if let Some(presented) = bearer(&parts.headers) {
        let info = token(state, presented)
            .await
            .map_err(Refused::Api)?
            .map_err(|why| Refused::api(StatusCode::UNAUTHORIZED, format!("the token {why}")))?;
        let role = match Kind::parse(&info.kind) {
            Some(Kind::Admin) if state.admin_token => Role::Admin,
            Some(Kind::Admin) => {
                return Err(Refused::api(
                    StatusCode::FORBIDDEN,
                    "the admin token is turned off on this server",
                ));
            }
            Some(Kind::Api) => Role::Viewer,
            _ => {
                return Err(Refused::api(
                    StatusCode::FORBIDDEN,
                    "an enrollment token can only send reports",
                ));
            }
        };
        return Ok(Principal {
            who: format!("{} token {}", info.kind, info.id),
            role,
            csrf: None,
            address,
        });
    }
    if let Some(session) = cookie(&parts.headers, SESSION_COOKIE) {
        match state.store.session(&hash_hex(session), state.now()).await {
            Ok(Some(row)) => {
                let from_token = row.who.starts_with("admin token");
                if let (Some(role), false) =
                    (Role::parse(&row.role), from_token && !state.admin_token)
                {
                    return Ok(Principal {
                        who: row.who,
                        role,
                        csrf: Some(row.csrf),
                        address,
                    });
                }
            }
            Ok(None) => {}
            Err(err) => return Err(Refused::Api(ApiError::unavailable(err))),
        }
    }
    if parts.uri.path().starts_with("/api/") || parts.uri.path() == "/metrics" {
        Err(Refused::api(StatusCode::UNAUTHORIZED, "a token is needed"))
    } else {
        Err(Refused::Login)
    }
}

impl FromRequestParts<State> for Viewer {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Viewer, Refused> {
        principal(parts, state).await.map(Viewer)
    }
}

impl FromRequestParts<State> for Admin {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Admin, Refused> {
        let principal = principal(parts, state).await?;
        if principal.role == Role::Admin {
            return Ok(Admin(principal));
        }
        // A viewer at an admin's door is worth a line in the audit log.
        let entry = AuditEntry {
            outcome: "refused".into(),
            ..principal.audit(
                millis(state.now()),
                "forbidden",
                parts.uri.path(),
                "this needs the admin role",
            )
        };
        if let Err(err) = state.store.add_audit(&entry).await {
            tracing::warn!("recording a refused request in the audit log failed: {err}");
        }
        if parts.uri.path().starts_with("/api/") || principal.csrf.is_none() {
            Err(Refused::api(
                StatusCode::FORBIDDEN,
                "this needs the admin role; this token or account is a viewer",
            ))
        } else {
            Err(Refused::NotAdmin)
        }
    }
}

/// Starts a dashboard session for `who` with `role`: the cookie to set.
pub async fn start_session(
    state: &State,
    who: &str,
    role: Role,
) -> Result<HeaderValue, super::store::StoreError> {
    let session = random_token();
    let expires = state.now() + time::Duration::hours(SESSION_HOURS);
    let row = SessionRow {
        csrf: random_token(),
        who: who.into(),
        role: role.name().into(),
    };
    state
        .store
        .add_session(&hash_hex(&session), &row, expires)
        .await?;
    // Strict: no other site's page can make a browser send it. The way back from Microsoft is
    // a cross-site navigation, so the Entra sign-in answers it with a page of our own that moves
    // on to the dashboard (see `oidc`), which is same-site and carries the cookie.
    let cookie = format!(
        "{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        SESSION_HOURS * 3600,
        if state.secure_cookies { "; Secure" } else { "" }
    );
    Ok(HeaderValue::from_str(&cookie).expect("a cookie of hex and ASCII"))
}

/// Signs in with the admin token: the cookie to set, or why not (recorded in the audit log
/// either way).
pub async fn login(state: &State, parts: &Parts, presented: &str) -> Result<HeaderValue, String> {
    let address = client_address(parts, state);
    let now = state.now();
    let found = state
        .store
        .token_by_hash(&hash_hex(presented))
        .await
        .map_err(|err| format!("the database did not answer: {err}"))?;
    let (actor, refused) = match &found {
        None => ("unknown".to_string(), Some("that is not the admin token")),
        Some(info) => {
            let actor = format!("{} token {}", info.kind, info.id);
            let why = match usable(Some(info.clone()), millis(now)) {
                _ if info.kind != Kind::Admin.name() => Some("only the admin token signs in here"),
                Err("has expired") => Some("the admin token has expired"),
                Err(_) => Some("the admin token was revoked"),
                Ok(_) if !state.admin_token => Some("the admin token is turned off on this server"),
                Ok(_) => None,
            };
            (actor, why)
        }
    };
    let mut entry = AuditEntry {
        id: 0,
        at: millis(now),
        actor: actor.clone(),
        action: "sign-in".into(),
        target: String::new(),
        outcome: "ok".into(),
        address,
        detail: "with the admin token".into(),
    };
    let result = match refused {
        Some(why) => Err(why.to_string()),
        None => start_session(state, &actor, Role::Admin)
            .await
            .map_err(|err| format!("the database did not answer: {err}")),
    };
    if let Err(why) = &result {
        entry.outcome = "refused".into();
        entry.detail = why.clone();
    }
    if let Err(err) = state.store.add_audit(&entry).await {
        tracing::warn!("recording a sign-in in the audit log failed: {err}");
    }
    result
}

/// Counts a sign-in request from the client of `parts`; `Err(seconds to wait)` when the address
/// made too many this minute.
pub fn sign_in_allowed(state: &State, parts: &Parts) -> Result<(), u64> {
    let address = client_address(parts, state);
    state.sign_in_rate.check(&address, state.now())
}

/// Ends the request's session; the cookie that clears it.
pub async fn logout(state: &State, headers: &HeaderMap) -> HeaderValue {
    if let Some(session) = cookie(headers, SESSION_COOKIE) {
        let _ = state
            .store
            .end_session(&hash_hex(session), state.now())
            .await;
    }
    HeaderValue::from_static(CLEAR_SESSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(kind: &str, expires: Option<i64>, revoked: Option<i64>) -> TokenInfo {
        TokenInfo {
            id: "abc".into(),
            kind: kind.into(),
            label: None,
            created_at: 0,
            created_by: "test".into(),
            expires_at: expires,
            revoked_at: revoked,
            last_used_at: None,
        }
    }

    #[test]
    fn a_token_is_usable_until_it_expires_or_is_revoked() {
        assert!(usable(Some(token("api", None, None)), 10).is_ok());
        assert!(usable(Some(token("api", Some(11), None)), 10).is_ok());
        assert_eq!(
            usable(Some(token("api", Some(10), None)), 10).unwrap_err(),
            "has expired"
        );
        assert_eq!(
            usable(Some(token("api", None, Some(5))), 10).unwrap_err(),
            "was revoked"
        );
        assert_eq!(usable(None, 10).unwrap_err(), "is not valid");
    }

    #[test]
    fn kinds_and_roles_round_trip_by_name() {
        for kind in [Kind::Enrollment, Kind::Api, Kind::Admin] {
            assert_eq!(Kind::parse(kind.name()), Some(kind));
        }
        assert_eq!(Kind::parse("Admin"), None);
        assert_eq!(Role::parse("viewer"), Some(Role::Viewer));
        assert!(Role::Admin > Role::Viewer);
    }
}
