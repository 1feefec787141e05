//! Who may do what: enrollment tokens may only post reports; the admin token reads (API, by
//! `Authorization: Bearer`) and signs in to the dashboard (a cookie session after a login form,
//! with a CSRF token in every form). Tokens are kept and compared as SHA-256 hashes, in
//! constant time. Also the security headers every response carries, and per-token rate limits.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::State;
use super::error::ApiError;

/// The cookie that carries a dashboard session.
pub const SESSION_COOKIE: &str = "ado_cutover_session";
/// How long a dashboard session lasts.
pub const SESSION_HOURS: i64 = 12;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Enrollment,
    Admin,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Enrollment => "enrollment",
            Kind::Admin => "admin",
        }
    }
}

/// The hashes of the tokens this server accepts.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    pub enrollment: Vec<[u8; 32]>,
    pub admin: Vec<[u8; 32]>,
}

impl Tokens {
    /// Tokens from their plain values (tests, or tokens given by the environment).
    pub fn from_plain(enrollment: &[&str], admin: &[&str]) -> Tokens {
        Tokens {
            enrollment: enrollment.iter().map(|t| hash(t)).collect(),
            admin: admin.iter().map(|t| hash(t)).collect(),
        }
    }

    /// What `token` may do, if anything. Every hash is compared, in constant time.
    pub fn kind_of(&self, token: &str) -> Option<Kind> {
        let presented = hash(token);
        let matches = |set: &[[u8; 32]]| {
            set.iter()
                .fold(subtle::Choice::from(0), |found, known| {
                    found | known.ct_eq(&presented)
                })
                .into()
        };
        if matches(&self.admin) {
            Some(Kind::Admin)
        } else if matches(&self.enrollment) {
            Some(Kind::Enrollment)
        } else {
            None
        }
    }
}

/// SHA-256 of a token.
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses a hex SHA-256.
pub fn from_hex(text: &str) -> Option<[u8; 32]> {
    let bytes: Vec<u8> = (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<_>>()?;
    bytes.try_into().ok()
}

/// A new random secret: 32 bytes from the OS, as 64 hex characters.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    hex(&bytes)
}

/// The bearer token of a request.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// An admin: by bearer token (API) or by dashboard session (with that session's CSRF token).
pub struct Admin {
    /// The session's CSRF token; `None` for bearer-token requests, which need none.
    pub csrf: Option<String>,
}

/// Why an admin request was refused.
pub enum Refused {
    /// A dashboard page: go to the login form.
    Login,
    /// The API, or a database that did not answer.
    Api(ApiError),
}

impl Refused {
    fn api(status: StatusCode, why: &str) -> Refused {
        Refused::Api(ApiError::new(
            status,
            why,
            "send `Authorization: Bearer <admin token>`; the token is in the file the server printed at its first start",
        ))
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::Login => Redirect::to("/login").into_response(),
            Refused::Api(error) => error.into_response(),
        }
    }
}

/// An agent: a request with a valid enrollment token, within the token's rate limit. The
/// admin token is refused here (403): it reads everything, and must not also be able to write
/// reports, so a leaked admin script cannot forge a fleet's state.
pub struct Enrolled;

impl FromRequestParts<State> for Enrolled {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Enrolled, ApiError> {
        let Some(token) = bearer(&parts.headers) else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "no enrollment token was sent",
                "set report.enrollment_token_file in the agent's managed configuration",
            ));
        };
        match state.tokens.kind_of(token) {
            Some(Kind::Enrollment) => {}
            Some(Kind::Admin) => {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "the admin token cannot send reports",
                    "agents send reports with the enrollment token (report.enrollment_token_file)",
                ));
            }
            None => {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "the enrollment token is not valid",
                    "check the token in the agent's managed configuration against the server's",
                ));
            }
        }
        state.rate.check(token, state.now()).map_err(|wait| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too many reports for this token",
                "the agent retries later by itself",
            )
            .retry_after(wait)
        })?;
        Ok(Enrolled)
    }
}

impl FromRequestParts<State> for Admin {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Admin, Refused> {
        let api = parts.uri.path().starts_with("/api/");
        if let Some(token) = bearer(&parts.headers) {
            return match state.tokens.kind_of(token) {
                Some(Kind::Admin) => Ok(Admin { csrf: None }),
                Some(Kind::Enrollment) => Err(Refused::api(
                    StatusCode::FORBIDDEN,
                    "an enrollment token can only send reports",
                )),
                None => Err(Refused::api(
                    StatusCode::UNAUTHORIZED,
                    "the token is not valid",
                )),
            };
        }
        if let Some(session) = cookie(&parts.headers, SESSION_COOKIE) {
            let key = hex(&hash(session));
            match state.store.session(&key, state.now()).await {
                Ok(Some(csrf)) => return Ok(Admin { csrf: Some(csrf) }),
                Ok(None) => {}
                Err(err) => return Err(Refused::Api(ApiError::unavailable(err))),
            }
        }
        if api {
            Err(Refused::api(
                StatusCode::UNAUTHORIZED,
                "an admin token is needed",
            ))
        } else {
            Err(Refused::Login)
        }
    }
}

impl Admin {
    /// True when a form's CSRF field belongs to this session.
    pub fn csrf_ok(&self, presented: &str) -> bool {
        match &self.csrf {
            Some(csrf) => bool::from(csrf.as_bytes().ct_eq(presented.as_bytes())),
            None => true,
        }
    }
}

/// Starts a session for a correct admin token: the cookie to set, or `None`.
pub async fn login(state: &State, token: &str, secure: bool) -> Option<HeaderValue> {
    if state.tokens.kind_of(token) != Some(Kind::Admin) {
        return None;
    }
    let session = random_token();
    let csrf = random_token();
    let expires = state.now() + time::Duration::hours(SESSION_HOURS);
    state
        .store
        .add_session(&hex(&hash(&session)), &csrf, expires)
        .await
        .ok()?;
    let cookie = format!(
        "{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        SESSION_HOURS * 3600,
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&cookie).ok()
}

/// Ends the request's session; the cookie that clears it.
pub async fn logout(state: &State, headers: &HeaderMap) -> HeaderValue {
    if let Some(session) = cookie(headers, SESSION_COOKIE) {
        let _ = state
            .store
            .end_session(&hex(&hash(session)), state.now())
            .await;
    }
    HeaderValue::from_static("ado_cutover_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Security headers on every response. The dashboard uses no script at all. With `hsts` (the
/// server is reached over HTTPS, `--public-url https://...`), browsers are told to use HTTPS
/// only, for a year.
pub async fn security_headers(
    axum::extract::State(hsts): axum::extract::State<bool>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A fixed-window limit of requests per token per minute (per instance: each instance limits
/// on its own, which keeps instances independent).
pub struct RateLimiter {
    per_minute: u32,
    windows: Mutex<HashMap<[u8; 32], (i64, u32)>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request for `token` at `now`; `Err(seconds to wait)` when over the limit.
    pub fn check(&self, token: &str, now: time::OffsetDateTime) -> Result<(), u64> {
        let minute = now.unix_timestamp() / 60;
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() > 10_000 {
            windows.retain(|_, (m, _)| *m == minute);
        }
        let entry = windows.entry(hash(token)).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        entry.1 += 1;
        if entry.1 > self.per_minute {
            Err((60 - now.unix_timestamp() % 60) as u64)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_told_apart_by_their_hashes() {
        let tokens = Tokens::from_plain(&["agent-token"], &["admin-token"]);
        assert_eq!(tokens.kind_of("agent-token"), Some(Kind::Enrollment));
        assert_eq!(tokens.kind_of("admin-token"), Some(Kind::Admin));
        assert_eq!(tokens.kind_of("admin-token "), None);
        assert_eq!(tokens.kind_of(""), None);
    }

    #[test]
    fn hex_round_trips() {
        let h = hash("x");
        assert_eq!(from_hex(&hex(&h)), Some(h));
        assert_eq!(from_hex("zz"), None);
    }

    #[test]
    fn rate_limit_per_token_and_minute() {
        let limiter = RateLimiter::new(2);
        let t = time::OffsetDateTime::from_unix_timestamp(120).unwrap();
        assert!(limiter.check("a", t).is_ok());
        assert!(limiter.check("a", t).is_ok());
        assert_eq!(limiter.check("a", t), Err(60));
        assert!(limiter.check("b", t).is_ok());
        assert!(limiter.check("a", t + time::Duration::minutes(1)).is_ok());
    }
}
