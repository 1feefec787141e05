//! The sign-in page (Microsoft Entra ID when configured, and the admin token as break-glass
//! unless it is turned off), and signing out.

use axum::Form;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::{AppState, PageError, page};
use crate::server::State;
use crate::server::auth::{self, Admin, CLEAR_SESSION, Viewer};
use crate::server::store::millis;

fn login_page(state: &State, message: Option<&str>) -> Response {
    let body = html! {
        h1 { "Sign in" }
        @if let Some(message) = message { p.error role="alert" { (message) } }
        @if state.entra.is_some() {
            p { a.button id="sign-in-entra" href="/login/entra" { "Sign in with Microsoft" } }
        }
        @if state.admin_token {
            @if state.entra.is_some() {
                h2 { "Break-glass: the admin token" }
            }
            form.login method="post" action="/login" {
                label for="token" { "Admin token" }
                input id="token" type="password" name="token" autocomplete="current-password" required;
                button type="submit" { "Sign in" }
            }
            p.muted { "The admin token is the admin= line of the token file ado-cutover-server wrote at its first start (by default ado-cutover-server-tokens.txt next to the database); the whole line works too." }
        }
        @if state.entra.is_none() && !state.admin_token {
            p.error { "No sign-in is configured: the admin token is turned off and Microsoft Entra ID is not set up. Start the server with the --entra-* settings (docs/entra-sign-in.md)." }
        }
    };
    page("Sign in", None, body)
}

pub(super) async fn login_form(axum::extract::State(state): AppState) -> Response {
    login_page(&state, None)
}

#[derive(serde::Deserialize)]
pub(super) struct LoginForm {
    token: String,
}

pub(super) async fn login(
    axum::extract::State(state): AppState,
    parts: Parts,
    Form(form): Form<LoginForm>,
) -> Response {
    if let Err(wait) = auth::sign_in_allowed(&state, &parts) {
        return too_many_sign_ins(wait);
    }
    // The token file's line as it is (`admin=<token>`) is accepted, like the agent's `enrollment=`.
    let token = form.token.trim();
    let token = token.strip_prefix("admin=").unwrap_or(token).trim();
    match auth::login(&state, &parts, token).await {
        Ok(cookie) => {
            let mut response = Redirect::to("/").into_response();
            response.headers_mut().insert(header::SET_COOKIE, cookie);
            response
        }
        Err(why) => {
            let mut first = why.chars();
            let sentence = first
                .next()
                .map(|c| c.to_uppercase().chain(first).collect::<String>() + ".")
                .unwrap_or_default();
            let mut response = login_page(&state, Some(&sentence));
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            response
        }
    }
}

/// The answer to an address that tried to sign in too often (429): nothing is recorded.
pub(crate) fn too_many_sign_ins(wait: u64) -> Response {
    let body = html! {
        h1 { "Too many sign-in attempts" }
        p { "Too many sign-in attempts came from this address in the last minute. Wait " (wait) " seconds and try again." }
    };
    let mut response = page("Too many sign-in attempts", None, body);
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    if let Ok(value) = HeaderValue::from_str(&wait.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

#[derive(serde::Deserialize)]
pub(super) struct CsrfForm {
    pub(super) csrf: String,
}

/// Ends every dashboard session, this one included.
pub(super) async fn logout_everywhere(
    admin: Admin,
    axum::extract::State(state): AppState,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    if !admin.csrf_ok(&form.csrf) {
        return Err(PageError::Forbidden);
    }
    let ended = state
        .store
        .end_all_sessions()
        .await
        .map_err(PageError::unavailable)?;
    let entry = admin.audit(
        millis(state.now()),
        "sessions-ended",
        "",
        &format!("every dashboard session ({ended})"),
    );
    state
        .store
        .add_audit(&entry)
        .await
        .map_err(PageError::unavailable)?;
    let mut response = Redirect::to("/login").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, HeaderValue::from_static(CLEAR_SESSION));
    Ok(response)
}

pub(super) async fn logout(
    viewer: Viewer,
    axum::extract::State(state): AppState,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    if !viewer.csrf_ok(&form.csrf) {
        return Err(PageError::Forbidden);
    }
    let cookie = auth::logout(&state, &headers).await;
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}
