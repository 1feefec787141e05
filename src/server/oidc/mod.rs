//! Signing in to the dashboard with Microsoft Entra ID: OpenID Connect's authorization code
//! flow with PKCE, the app authenticated by a client secret or a certificate, the ID token
//! checked in full ([`id_token`]), only one tenant's people admitted, and their app roles or
//! groups mapped to `admin` or `viewer`.
//!
//! `GET /login/entra` stores a sign-in (hash of `state`, hash of a browser cookie, nonce, PKCE
//! verifier; ten minutes) and sends the browser to the provider. `GET /login/entra/callback`
//! takes the sign-in out by its `state` (so a state works once, on any instance), checks that
//! the same browser came back, exchanges the code, checks the token, and starts a session.
//! Every attempt, admitted or refused, leaves exactly one audit entry.

pub mod id_token;
pub mod provider;

use axum::extract::{Query, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::State;
use super::auth::{self, Role, client_address, cookie, hash_hex, random_token};
use super::store::{AuditEntry, PendingSignIn, millis};
pub use provider::{Credential, Provider};

/// The cookie that ties a sign-in to the browser that started it.
const SIGN_IN_COOKIE: &str = "ado_cutover_sign_in";
/// How long a sign-in may take at the provider.
const SIGN_IN_MINUTES: i64 = 10;
/// The app role values that make an admin and a viewer unless configured otherwise.
pub const DEFAULT_ADMIN_ROLE: &str = "Cutover.Admin";
pub const DEFAULT_VIEWER_ROLE: &str = "Cutover.Viewer";

/// The sign-in's settings and its provider.
pub struct Entra {
    pub provider: Provider,
    pub client_id: String,
    pub credential: Credential,
    /// The tenant (id) whose people may sign in.
    pub tenant: String,
    /// App role values or group object ids that make an admin / a viewer.
    pub admin: Vec<String>,
    pub viewer: Vec<String>,
    /// `<public url>/login/entra/callback`, as registered with the app.
    pub redirect_uri: String,
}

impl Entra {
    /// The role of an account with these claims: admin wins over viewer.
    pub fn role_of(&self, claims: &id_token::Claims) -> Option<Role> {
        let has = |wanted: &[String]| {
            claims
                .roles
                .iter()
                .chain(&claims.groups)
                .any(|c| wanted.iter().any(|w| w.eq_ignore_ascii_case(c)))
        };
        if has(&self.admin) {
            Some(Role::Admin)
        } else if has(&self.viewer) {
            Some(Role::Viewer)
        } else {
            None
        }
    }

    /// The settings in words, for the audit log's "settings changed" entries: never the secret.
    pub fn describe(&self) -> String {
        format!(
            "Entra sign-in: issuer {}, client {}, tenant {}, credential {}, admin {}, viewer {}",
            self.provider.issuer(),
            self.client_id,
            self.tenant,
            match self.credential {
                Credential::Secret(_) => "client secret",
                Credential::Certificate { .. } => "certificate",
            },
            self.admin.join(","),
            self.viewer.join(",")
        )
    }
}

/// `GET /login/entra`: off to the provider.
pub async fn start(
    axum::extract::State(state): axum::extract::State<State>,
    parts: axum::http::request::Parts,
) -> Response {
    let Some(entra) = state.entra.clone() else {
        return super::dashboard::not_found().into_response();
    };
    if let Err(wait) = auth::sign_in_allowed(&state, &parts) {
        return super::dashboard::too_many_sign_ins(wait);
    }
    let metadata = match entra.provider.metadata().await {
        Ok(metadata) => metadata,
        Err(why) => {
            tracing::warn!("Entra sign-in: {why}");
            return refused_page(
                StatusCode::BAD_GATEWAY,
                "Microsoft's sign-in could not be reached. Try again in a moment; if it keeps failing, the server's log says why.",
            );
        }
    };
    let (state_value, browser, nonce, verifier) = (
        random_token(),
        random_token(),
        random_token(),
        random_token(),
    );
    let pending = PendingSignIn {
        browser: hash_hex(&browser),
        nonce: nonce.clone(),
        verifier: verifier.clone(),
        expires_at: millis(state.now() + time::Duration::minutes(SIGN_IN_MINUTES)),
    };
    if let Err(err) = state
        .store
        .add_sign_in(&hash_hex(&state_value), &pending)
        .await
    {
        return super::dashboard::PageError::unavailable(err).into_response();
    }
    let mut url = match url::Url::parse(&metadata.authorization_endpoint) {
        Ok(url) => url,
        Err(_) => {
            return refused_page(
                StatusCode::BAD_GATEWAY,
                "The identity provider names an authorization address that is not a URL.",
            );
        }
    };
    url.query_pairs_mut()
        .append_pair("client_id", &entra.client_id)
        .append_pair("response_type", "code")
        .append_pair("response_mode", "query")
        .append_pair("redirect_uri", &entra.redirect_uri)
        .append_pair("scope", "openid profile email")
        .append_pair("state", &state_value)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &provider::challenge(&verifier))
        .append_pair("code_challenge_method", "S256");
    let mut response = Redirect::to(url.as_str()).into_response();
    // Lax: this cookie must come back on the provider's (cross-site) redirect to the callback.
    let cookie = format!(
        "{SIGN_IN_COOKIE}={browser}; Path=/login/entra; HttpOnly; SameSite=Lax; Max-Age={}{}",
        SIGN_IN_MINUTES * 60,
        if state.secure_cookies { "; Secure" } else { "" }
    );
    if let Ok(value) = cookie.parse() {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[derive(serde::Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Why a sign-in was refused: the audit log's actor and detail, and what the page says.
struct Refusal {
    actor: String,
    why: String,
}

impl Refusal {
    fn new(why: impl Into<String>) -> Refusal {
        Refusal {
            actor: "unknown".into(),
            why: why.into(),
        }
    }
}

/// `GET /login/entra/callback`: back from the provider.
pub async fn finish(
    axum::extract::State(state): axum::extract::State<State>,
    Query(callback): Query<Callback>,
    request: Request,
) -> Response {
    let Some(entra) = state.entra.clone() else {
        return super::dashboard::not_found().into_response();
    };
    let (parts, _) = request.into_parts();
    if let Err(wait) = auth::sign_in_allowed(&state, &parts) {
        return super::dashboard::too_many_sign_ins(wait);
    }
    let address = client_address(&parts, &state);
    let outcome = sign_in(&state, &entra, &callback, &parts.headers).await;
    let mut entry = AuditEntry {
        id: 0,
        at: millis(state.now()),
        actor: String::new(),
        action: "sign-in".into(),
        target: String::new(),
        outcome: "ok".into(),
        address,
        detail: String::new(),
    };
    let clear_sign_in =
        format!("{SIGN_IN_COOKIE}=; Path=/login/entra; HttpOnly; SameSite=Lax; Max-Age=0");
    let response = match outcome {
        Ok((who, role, cookie)) => {
            entry.actor = who.clone();
            entry.detail = format!("with Microsoft Entra ID, as {}", role.name());
            let mut response = signed_in_page(&who);
            response.headers_mut().append(header::SET_COOKIE, cookie);
            response
        }
        Err(refusal) => {
            entry.actor = refusal.actor;
            entry.outcome = "refused".into();
            entry.detail = format!("with Microsoft Entra ID: {}", refusal.why);
            refused_page(
                StatusCode::FORBIDDEN,
                &format!("The sign-in was refused: {}.", refusal.why),
            )
        }
    };
    if let Err(err) = state.store.add_audit(&entry).await {
        tracing::warn!("recording a sign-in in the audit log failed: {err}");
    }
    let mut response = response;
    if let Ok(value) = clear_sign_in.parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

async fn sign_in(
    state: &State,
    entra: &Entra,
    callback: &Callback,
    headers: &axum::http::HeaderMap,
) -> Result<(String, Role, axum::http::HeaderValue), Refusal> {
    let state_value = callback
        .state
        .as_deref()
        .ok_or_else(|| Refusal::new("the answer from the identity provider names no sign-in"))?;
    let pending = state
        .store
        .take_sign_in(&hash_hex(state_value))
        .await
        .map_err(|err| Refusal::new(format!("the database did not answer ({err})")))?
        .ok_or_else(|| {
            Refusal::new("this sign-in was already used, or is not one this server started")
        })?;
    if pending.expires_at <= millis(state.now()) {
        return Err(Refusal::new("the sign-in took longer than ten minutes"));
    }
    let same_browser =
        cookie(headers, SIGN_IN_COOKIE).is_some_and(|browser| hash_hex(browser) == pending.browser);
    if !same_browser {
        return Err(Refusal::new("the sign-in was started in another browser"));
    }
    if let Some(error) = &callback.error {
        return Err(Refusal::new(format!(
            "the identity provider said {error}: {}",
            callback.error_description.as_deref().unwrap_or("")
        )));
    }
    let code = callback
        .code
        .as_deref()
        .ok_or_else(|| Refusal::new("the identity provider sent no sign-in code"))?;
    let token = entra
        .provider
        .exchange(
            &entra.client_id,
            &entra.credential,
            code,
            &entra.redirect_uri,
            &pending.verifier,
        )
        .await
        .map_err(Refusal::new)?;
    let claims = check(state, entra, &token, &pending.nonce).await?;
    let who = claims.display();
    let Some(role) = entra.role_of(&claims) else {
        return Err(Refusal {
            actor: who,
            why: "the account has neither the admin nor the viewer role of this app".into(),
        });
    };
    let cookie = auth::start_session(state, &who, role)
        .await
        .map_err(|err| Refusal::new(format!("the database did not answer ({err})")))?;
    Ok((who, role, cookie))
}

/// Checks the ID token; an unknown key fetches the keys again once (rotation).
async fn check(
    state: &State,
    entra: &Entra,
    token: &str,
    nonce: &str,
) -> Result<id_token::Claims, Refusal> {
    let expect = id_token::Expect {
        issuer: entra.provider.issuer(),
        client_id: &entra.client_id,
        tenant: &entra.tenant,
        nonce,
        now: state.now().unix_timestamp(),
    };
    let mut refresh = false;
    loop {
        let keys = entra.provider.keys(refresh).await.map_err(Refusal::new)?;
        match id_token::validate(token, &keys, &expect) {
            Err(id_token::Invalid::UnknownKey(_)) if !refresh => refresh = true,
            Err(invalid) => {
                // Who it was, when the token says so, even if it is refused.
                let actor = unverified_name(token).unwrap_or_else(|| "unknown".into());
                return Err(Refusal {
                    actor,
                    why: invalid.to_string(),
                });
            }
            Ok(claims) => return Ok(claims),
        }
    }
}

/// The account name a refused token claims (for the audit log only, marked as unverified).
fn unverified_name(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let name = claims["preferred_username"]
        .as_str()
        .or(claims["email"].as_str())?;
    Some(format!(
        "{} (unverified)",
        name.chars().take(200).collect::<String>()
    ))
}

/// After a sign-in: a page of our own that moves on to the dashboard. The way back from the
/// provider is a cross-site navigation, on which the browser does not send a `SameSite=Strict`
/// cookie; the dashboard is reached from this page, same-site, so the session is sent.
fn signed_in_page(who: &str) -> Response {
    let body = html! {
        meta http-equiv="refresh" content="0;url=/";
        h1 { "Signed in" }
        p { "Signed in as " (super::dashboard::visible(who)) ". " a href="/" { "Continue to the dashboard" } }
    };
    super::dashboard::page("Signed in", None, body)
}

fn refused_page(status: StatusCode, text: &str) -> Response {
    let body = html! {
        h1 { "Not signed in" }
        p.error role="alert" { (text) }
        p { a href="/login" { "Back to the sign-in page" } }
    };
    let mut response = super::dashboard::page("Not signed in", None, body);
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(roles: &[&str], groups: &[&str]) -> id_token::Claims {
        serde_json::from_value(serde_json::json!({
            "iss": "i", "sub": "s", "exp": 1, "roles": roles, "groups": groups
        }))
        .unwrap()
    }

    #[test]
    fn roles_and_groups_map_to_admin_before_viewer() {
        let entra = Entra {
            provider: Provider::new("https://login.example/t/v2.0"),
            client_id: "app".into(),
            credential: Credential::Secret("super-secret-value".into()),
            tenant: "t".into(),
            admin: vec!["Cutover.Admin".into(), "group-admins".into()],
            viewer: vec!["Cutover.Viewer".into()],
            redirect_uri: "https://cutover.example/login/entra/callback".into(),
        };
        assert_eq!(
            entra.role_of(&claims(&["Cutover.Viewer"], &[])),
            Some(Role::Viewer)
        );
        assert_eq!(
            entra.role_of(&claims(&["cutover.admin"], &[])),
            Some(Role::Admin)
        );
        assert_eq!(
            entra.role_of(&claims(&["Cutover.Viewer"], &["group-admins"])),
            Some(Role::Admin)
        );
        assert_eq!(entra.role_of(&claims(&["Other"], &["g"])), None);
        let described = entra.describe();
        assert!(described.contains("client secret"), "{described}");
        assert!(!described.contains("super-secret-value"), "{described}");
    }
}
