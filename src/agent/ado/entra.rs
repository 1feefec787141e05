//! Signing the user in with Microsoft Entra ID for Azure DevOps, as a public client of the
//! company's own app registration (docs/entra-app.md).
//!
//! - In the browser: authorization code with PKCE (S256) and a loopback redirect
//!   (`http://localhost:{port}/`, any port; Entra ignores the port for localhost).
//! - Without a browser: the device code flow; the code and the address are shown to the user.
//! - Refresh with the refresh token, once, when Azure DevOps turns the access token down.
//!
//! Tokens live in memory for this run only and are never written, logged or shown: [`Secret`]
//! has no `Display` and its `Debug` is redacted. Requests and answers follow
//! ../shared/reference/azure-devops-api.md section 3.

use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use ssh_key::rand_core::{OsRng, RngCore};
use ureq::Agent;

use crate::agent::env::Env;

/// The environment variable that points sign-in elsewhere (a test server on 127.0.0.1).
pub(crate) const BASE_URL_VAR: &str = "ADO_CUTOVER_ENTRA_URL";
const DEFAULT_BASE: &str = "https://login.microsoftonline.com";

/// Azure DevOps' resource, all the scopes the app was granted, and a refresh token.
pub(crate) const SCOPE: &str = "499b84ac-1321-427f-aa17-267ca6975798/.default offline_access";

/// How long the browser sign-in may take.
const BROWSER_WAIT: Duration = Duration::from_secs(300);

/// A token. Never printed: no `Display`, and `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    pub(crate) fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for an `Authorization` header.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

/// What a sign-in gives.
#[derive(Debug, Clone)]
pub(crate) struct Tokens {
    pub access: Secret,
    pub refresh: Option<Secret>,
}

/// A finished sign-in: the tokens and where they came from (for a refresh).
#[derive(Debug, Clone)]
pub(crate) struct SignedIn {
    pub authority: Authority,
    pub tokens: Tokens,
}

/// Where and as which app to sign in.
#[derive(Debug, Clone)]
pub(crate) struct Authority {
    base: String,
    pub tenant: String,
    pub client_id: String,
}

impl Authority {
    pub(crate) fn new(env: &Env, tenant: &str, client_id: &str) -> Result<Authority, String> {
        Ok(Authority {
            base: super::base_url(env, BASE_URL_VAR, DEFAULT_BASE)?,
            tenant: tenant.to_string(),
            client_id: client_id.to_string(),
        })
    }

    fn endpoint(&self, name: &str) -> String {
        format!("{}/{}/oauth2/v2.0/{name}", self.base, self.tenant)
    }
}

/// Why signing in did not work, in words for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SignInError {
    #[error("sign-in was declined")]
    Declined,
    #[error("sign-in was not finished in time")]
    TimedOut,
    #[error("Microsoft Entra ID refused the sign-in: {0}")]
    Refused(String),
    #[error("no browser could be opened: {0}")]
    NoBrowser(String),
    #[error("Microsoft Entra ID could not be reached: {0}")]
    Unreachable(String),
    #[error("Microsoft Entra ID answered in an unexpected way: {0}")]
    Unexpected(String),
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    refresh_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct DeviceCodeAnswer {
    device_code: String,
    user_code: String,
    verification_uri: String,
    #[serde(default = "default_expiry")]
    expires_in: u64,
    #[serde(default = "default_interval")]
    interval: u64,
}

fn default_expiry() -> u64 {
    900
}

fn default_interval() -> u64 {
    5
}

/// Posts a form to the token endpoint and reads the answer, success or error.
fn post_form(http: &Agent, url: &str, form: &[(&str, &str)]) -> Result<TokenAnswer, SignInError> {
    let mut response = http
        .post(url)
        .header("Accept", "application/json")
        .send_form(form.iter().copied())
        .map_err(|e| SignInError::Unreachable(transport(&e)))?;
    let status = response.status();
    let body = response
        .body_mut()
        .read_to_string()
        .map_err(|e| SignInError::Unreachable(transport(&e)))?;
    serde_json::from_str(&body)
        .map_err(|_| SignInError::Unexpected(format!("status {status} without a JSON answer")))
}

/// A transport error in words (never a URL with a query, which could hold a code).
pub(crate) fn transport(err: &ureq::Error) -> String {
    match err {
        ureq::Error::Timeout(_) => "no answer in time".into(),
        ureq::Error::Io(_) | ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => {
            "offline, or the server is unreachable".into()
        }
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => "the secure connection failed".into(),
        _ => "the connection failed".into(),
    }
}

/// What a person or IT should do about a refused sign-in, for the AADSTS codes seen in the
/// field (reference section 5), or `None`.
pub(crate) fn advice(refusal: &str) -> Option<&'static str> {
    const ADVICE: &[(&str, &str)] = &[
        (
            "AADSTS53003",
            "a Conditional Access policy blocked this sign-in (a policy can forbid signing in with a code, or from this device): sign in from this computer's own browser, or ask IT which device or network is allowed",
        ),
        (
            "AADSTS50076",
            "your organization requires multi-factor authentication: finish it in the browser window",
        ),
        (
            "AADSTS50079",
            "your organization requires you to set up multi-factor authentication first: do so at https://aka.ms/mfasetup, then run ado-cutover again",
        ),
        (
            "AADSTS65001",
            "an administrator must grant ado-cutover's app registration its permissions (docs/entra-app.md)",
        ),
        (
            "AADSTS7000218",
            "the app registration must allow public client flows (docs/entra-app.md)",
        ),
        (
            "AADSTS700016",
            "entra.client_id names no app in this tenant: ask IT to check entra.client_id and entra.tenant",
        ),
        (
            "AADSTS50020",
            "you signed in with an account from another organization or a personal account: sign in with your work account",
        ),
        (
            "AADSTS90072",
            "you signed in with an account from another organization or a personal account: sign in with your work account",
        ),
    ];
    ADVICE
        .iter()
        .find(|(code, _)| refusal.contains(code))
        .map(|(_, advice)| *advice)
}

/// The first line of Entra's error description (`AADSTS…: …`), without trace ids.
fn described(answer: &TokenAnswer) -> String {
    let error = answer.error.as_deref().unwrap_or("unknown_error");
    match answer
        .error_description
        .as_deref()
        .and_then(|d| d.lines().next())
    {
        Some(first) => format!("{error}: {}", first.trim()),
        None => error.to_string(),
    }
}

fn tokens(answer: TokenAnswer) -> Result<Tokens, SignInError> {
    match answer.access_token {
        Some(access) if !access.is_empty() => Ok(Tokens {
            access: Secret(access),
            refresh: answer.refresh_token.map(Secret),
        }),
        _ => Err(SignInError::Refused(described(&answer))),
    }
}

/// The device code flow. `show` gets the sentence to show the user (address and code).
pub(crate) fn device_code(
    http: &Agent,
    authority: &Authority,
    show: &dyn Fn(&str),
) -> Result<Tokens, SignInError> {
    let mut response = http
        .post(&authority.endpoint("devicecode"))
        .header("Accept", "application/json")
        .send_form([
            ("client_id", authority.client_id.as_str()),
            ("scope", SCOPE),
        ])
        .map_err(|e| SignInError::Unreachable(transport(&e)))?;
    let body = response
        .body_mut()
        .read_to_string()
        .map_err(|e| SignInError::Unreachable(transport(&e)))?;
    let code: DeviceCodeAnswer = match serde_json::from_str(&body) {
        Ok(code) => code,
        Err(_) => {
            let answer: TokenAnswer = serde_json::from_str(&body).map_err(|_| {
                SignInError::Unexpected("the device code answer could not be read".into())
            })?;
            return Err(SignInError::Refused(described(&answer)));
        }
    };
    show(&format!(
        "To sign in, open {} in a browser on any device and enter the code {}",
        code.verification_uri, code.user_code
    ));
    let deadline = Instant::now() + Duration::from_secs(code.expires_in);
    let mut interval = Duration::from_secs(code.interval.max(1));
    loop {
        std::thread::sleep(interval);
        if Instant::now() > deadline {
            return Err(SignInError::TimedOut);
        }
        let answer = post_form(
            http,
            &authority.endpoint("token"),
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", &authority.client_id),
                ("device_code", &code.device_code),
            ],
        )?;
        match answer.error.as_deref() {
            None => return tokens(answer),
            Some("authorization_pending") => {}
            Some("slow_down") => interval += Duration::from_secs(5),
            Some("authorization_declined") => return Err(SignInError::Declined),
            Some("expired_token") => return Err(SignInError::TimedOut),
            Some(_) => return Err(SignInError::Refused(described(&answer))),
        }
    }
}

fn random_url_safe(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// The PKCE challenge for a verifier: base64url(SHA-256(verifier)).
pub(crate) fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Authorization code with PKCE in the browser. `open` opens the sign-in page; `waiting` is
/// told once the page is open.
pub(crate) fn browser(
    http: &Agent,
    authority: &Authority,
    open: &dyn Fn(&str) -> Result<(), String>,
    waiting: &dyn Fn(&str),
) -> Result<Tokens, SignInError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| SignInError::Unexpected(format!("no local port for the sign-in: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| SignInError::Unexpected(e.to_string()))?
        .port();
    // `localhost` may resolve to ::1 first; listen there too when the machine has IPv6.
    let mut listeners = vec![listener];
    listeners.extend(TcpListener::bind(("::1", port)).ok());
    let redirect = format!("http://localhost:{port}/");
    let verifier = random_url_safe(32);
    let state = random_url_safe(16);
    let mut url = url::Url::parse(&authority.endpoint("authorize"))
        .map_err(|e| SignInError::Unexpected(e.to_string()))?;
    url.query_pairs_mut()
        .append_pair("client_id", &authority.client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &redirect)
        .append_pair("response_mode", "query")
        .append_pair("scope", &format!("{SCOPE} openid profile"))
        .append_pair("state", &state)
        .append_pair("code_challenge", &challenge(&verifier))
        .append_pair("code_challenge_method", "S256")
        .append_pair("prompt", "select_account");
    open(url.as_str()).map_err(SignInError::NoBrowser)?;
    waiting("Sign in in the browser window that opened; ado-cutover waits here.");
    let code = wait_for_code(&listeners, &state)?;
    let answer = post_form(
        http,
        &authority.endpoint("token"),
        &[
            ("client_id", &authority.client_id),
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect),
            ("code_verifier", &verifier),
            ("scope", SCOPE),
        ],
    )?;
    tokens(answer)
}

/// Waits for the browser to come back to the loopback address with the code.
fn wait_for_code(listeners: &[TcpListener], state: &str) -> Result<String, SignInError> {
    for listener in listeners {
        listener
            .set_nonblocking(true)
            .map_err(|e| SignInError::Unexpected(e.to_string()))?;
    }
    let deadline = Instant::now() + BROWSER_WAIT;
    while Instant::now() < deadline {
        let mut idle = true;
        for listener in listeners {
            match listener.accept() {
                Ok((stream, _)) => {
                    idle = false;
                    if let Some(result) = answer_browser(stream, state) {
                        return result;
                    }
                }
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(err) => return Err(SignInError::Unexpected(err.to_string())),
            }
        }
        if idle {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Err(SignInError::TimedOut)
}

/// Reads one request on the loopback address. `None` when it was not the sign-in's answer
/// (a browser asking for `/favicon.ico`), so waiting goes on.
fn answer_browser(mut stream: TcpStream, state: &str) -> Option<Result<String, SignInError>> {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).ok()?;
    let target = line.split_whitespace().nth(1)?;
    let query = target
        .strip_prefix("/?")
        .or_else(|| (target == "/").then_some(""));
    let Some(query) = query else {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return None;
    };
    let pairs: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
    let result = if pairs.get("state").map(String::as_str) != Some(state) {
        Err(SignInError::Unexpected(
            "the browser came back from a different sign-in (state mismatch)".into(),
        ))
    } else if let Some(code) = pairs.get("code") {
        Ok(code.clone())
    } else {
        let error = pairs.get("error").map(String::as_str).unwrap_or("no code");
        let description = pairs
            .get("error_description")
            .and_then(|d| d.lines().next())
            .unwrap_or("");
        if error == "access_denied" {
            Err(SignInError::Declined)
        } else {
            Err(SignInError::Refused(format!("{error}: {description}")))
        }
    };
    let page = match &result {
        Ok(_) => {
            "<!doctype html><title>ado-cutover</title><p>You are signed in. You can close this tab and go back to ado-cutover.</p>"
        }
        Err(_) => {
            "<!doctype html><title>ado-cutover</title><p>Sign-in did not work. Go back to ado-cutover to see why.</p>"
        }
    };
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
        page.len()
    );
    Some(result)
}

/// A new access token from the refresh token.
pub(crate) fn refresh(
    http: &Agent,
    authority: &Authority,
    old: &Tokens,
) -> Result<Tokens, SignInError> {
    let Some(refresh) = &old.refresh else {
        return Err(SignInError::Refused("no refresh token was given".into()));
    };
    let answer = post_form(
        http,
        &authority.endpoint("token"),
        &[
            ("client_id", &authority.client_id),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.expose()),
            ("scope", SCOPE),
        ],
    )?;
    tokens(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_refusals_come_with_advice() {
        let blocked = "interaction_required: AADSTS53003: Access has been blocked by Conditional Access policies.";
        assert!(advice(blocked).unwrap().contains("Conditional Access"));
        assert!(
            advice("invalid_client: AADSTS7000218: x")
                .unwrap()
                .contains("public client")
        );
        assert_eq!(
            advice("invalid_grant: AADSTS70000: The provided code is invalid."),
            None
        );
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let tokens = Tokens {
            access: Secret("eyJ0eXAi.secret".into()),
            refresh: Some(Secret("0.AAAA-refresh".into())),
        };
        let shown = format!("{tokens:?}");
        assert!(
            !shown.contains("secret") && !shown.contains("AAAA"),
            "{shown}"
        );
    }

    #[test]
    fn pkce_challenge_matches_rfc_7636_appendix_b() {
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn entra_errors_keep_only_their_first_line() {
        let answer = TokenAnswer {
            access_token: None,
            refresh_token: None,
            error: Some("invalid_client".into()),
            error_description: Some(
                "AADSTS7000218: The request body must contain client_secret.\r\nTrace ID: 1\r\nCorrelation ID: 2"
                    .into(),
            ),
        };
        assert_eq!(
            described(&answer),
            "invalid_client: AADSTS7000218: The request body must contain client_secret."
        );
    }
}
