//! Tokens, for admins: the list (id, kind, label, made when and by whom, expiry, last use,
//! state; never a secret), making one (its secret shown once) and revoking one. The same as
//! `ado-cutover-server token create|list|revoke`, on any instance, at once.

use axum::Form;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::{AppState, PageError, page, visible, when};
use crate::server::auth::{Admin, Kind};
use crate::server::store::millis;
use crate::server::tokens;

fn token_page(
    admin: &Admin,
    state_now: i64,
    list: &[crate::server::store::TokenInfo],
    made: Option<(&str, &crate::server::store::TokenInfo)>,
    error: Option<&str>,
) -> Response {
    let csrf = admin.csrf.as_deref().unwrap_or("");
    let body = html! {
        h1 { "Tokens" }
        @if let Some((secret, info)) = made {
            section.new-token {
                h2 { "New " (info.kind) " token " code { (info.id) } }
                p { "Copy it now: it is not shown again, and the server keeps only its hash." }
                pre id="new-token" { (secret) }
                @if info.kind == "enrollment" {
                    p.muted { "Agents take it from report.enrollment_token_file (a file with the line enrollment=<token>). Devices that send with it show its label." }
                }
            }
        }
        @if let Some(error) = error { p.error role="alert" { (error) } }
        form.new-token method="post" action="/tokens" {
            input type="hidden" name="csrf" value=(csrf);
            label for="kind" { "Kind" }
            select id="kind" name="kind" {
                option value="enrollment" { "enrollment (agents send reports)" }
                option value="api" { "api (scripts read)" }
                option value="admin" { "admin (break-glass)" }
            }
            label for="label" { "Label" }
            input id="label" name="label" maxlength="64" placeholder="wave-1";
            label for="expires" { "Expires after" }
            input id="expires" name="expires" value="90d" placeholder="90d, 12h, never";
            button type="submit" { "Make a token" }
        }
        table.tokens {
            thead { tr {
                th { "Id" } th { "Kind" } th { "Label" } th { "Made" } th { "By" }
                th { "Expires" } th { "Last used" } th { "State" } th {}
            } }
            tbody {
                @for t in list {
                    @let token_state = t.state(state_now);
                    tr id={"token-" (t.id)} {
                        td { code { (t.id) } }
                        td { (t.kind) }
                        td { (visible(t.label.as_deref().unwrap_or(""))) }
                        td { (when(t.created_at)) }
                        td { (visible(&t.created_by)) }
                        td { (t.expires_at.map(when).unwrap_or_else(|| "never".into())) }
                        td { (t.last_used_at.map(when).unwrap_or_else(|| "never".into())) }
                        td.state { (token_state) }
                        td {
                            @if token_state == "active" {
                                form.inline method="post" action=(format!("/tokens/{}/revoke", t.id)) {
                                    input type="hidden" name="csrf" value=(csrf);
                                    button type="submit" { "Revoke" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page("Tokens", Some(&admin.0), body)
}

pub(super) async fn token_list(
    admin: Admin,
    axum::extract::State(state): AppState,
) -> Result<Response, PageError> {
    let list = state.store.tokens().await.map_err(PageError::unavailable)?;
    Ok(token_page(&admin, millis(state.now()), &list, None, None))
}

#[derive(serde::Deserialize)]
pub(super) struct CreateForm {
    csrf: String,
    kind: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    expires: String,
}

pub(super) async fn create_token(
    admin: Admin,
    axum::extract::State(state): AppState,
    Form(form): Form<CreateForm>,
) -> Result<Response, PageError> {
    if !admin.csrf_ok(&form.csrf) {
        return Err(PageError::Forbidden);
    }
    let now = state.now();
    let checked = Kind::parse(&form.kind)
        .ok_or_else(|| {
            format!(
                "`{}` is not a kind of token: enrollment, api or admin",
                form.kind
            )
        })
        .and_then(|kind| {
            Ok((
                kind,
                tokens::label(&form.label)?,
                tokens::lifetime(&form.expires)?,
            ))
        });
    let (kind, label, lifetime) = match checked {
        Ok(checked) => checked,
        Err(error) => {
            let list = state.store.tokens().await.map_err(PageError::unavailable)?;
            let mut response = token_page(&admin, millis(now), &list, None, Some(&error));
            *response.status_mut() = StatusCode::BAD_REQUEST;
            return Ok(response);
        }
    };
    let (secret, info) = tokens::issue(
        &state.store,
        kind,
        label.as_deref(),
        lifetime,
        &admin.who,
        &admin.address,
        now,
    )
    .await
    .map_err(PageError::unavailable)?;
    let list = state.store.tokens().await.map_err(PageError::unavailable)?;
    Ok(token_page(
        &admin,
        millis(now),
        &list,
        Some((&secret, &info)),
        None,
    ))
}

pub(super) async fn revoke_token(
    admin: Admin,
    axum::extract::State(state): AppState,
    Path(id): Path<String>,
    Form(form): Form<super::login::CsrfForm>,
) -> Result<Response, PageError> {
    if !admin.csrf_ok(&form.csrf) {
        return Err(PageError::Forbidden);
    }
    match tokens::revoke(&state.store, &id, &admin.who, &admin.address, state.now())
        .await
        .map_err(PageError::unavailable)?
    {
        Some(_) => Ok(Redirect::to("/tokens").into_response()),
        None => Err(PageError::NotFound {
            who: Some(admin.0),
            what: "There is no token with this id.",
        }),
    }
}
