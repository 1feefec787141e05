//! Signing in to the dashboard with the admin token, and out.

use axum::Form;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::{AppState, PageError, page};
use crate::server::auth::{self, Admin};

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

pub(super) async fn login_form() -> Response {
    login_page(None)
}

#[derive(serde::Deserialize)]
pub(super) struct LoginForm {
    token: String,
}

pub(super) async fn login(
    axum::extract::State(state): AppState,
    Form(form): Form<LoginForm>,
) -> Response {
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
    tracing::info!("every dashboard session was ended ({ended})");
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        axum::http::HeaderValue::from_static(
            "ado_cutover_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    Ok(response)
}

pub(super) async fn logout(
    admin: Admin,
    axum::extract::State(state): AppState,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    if !admin.csrf_ok(&form.csrf) {
        return Err(PageError::Forbidden);
    }
    let cookie = auth::logout(&state, &headers).await;
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}
