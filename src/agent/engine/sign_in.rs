//! The run's Entra sign-in: made once, on first use, by the engine (never by a task), and the
//! Azure DevOps calls made with it. A token Azure DevOps turns down is renewed once.

use std::time::Duration;

use crate::agent::ado::entra::{self, Authority, Secret, SignInError, SignedIn};
use crate::agent::ado::ssh_keys::ApiError;
use crate::agent::ado::tenant::{Backing, Lookup};
use crate::agent::desktop;
use crate::agent::http;
use crate::agent::settings::keys;
use crate::agent::tasks::Context;

/// Calls Azure DevOps with the run's sign-in; when the token is turned down, refreshes it once
/// and tries again.
pub(crate) fn with_token<T>(
    cx: &Context<'_>,
    org: &str,
    call: impl Fn(&Secret) -> Result<T, ApiError>,
) -> Result<T, String> {
    let signed_in = signed_in(cx, org)?;
    match call(&signed_in.tokens.access) {
        Err(ApiError::SignIn(first)) => {
            let http = http::agent(Duration::from_secs(30));
            let tokens = entra::refresh(&http, &signed_in.authority, &signed_in.tokens)
                .map_err(|e| format!("Azure DevOps did not accept the sign-in ({first}) and it could not be renewed: {e}"))?;
            let access = tokens.access.clone();
            if let Ok(mut slot) = cx.sign_in.lock() {
                *slot = Some(Ok(SignedIn {
                    authority: signed_in.authority.clone(),
                    tokens,
                }));
            }
            call(&access).map_err(|e| e.to_string())
        }
        other => other.map_err(|e| e.to_string()),
    }
}

/// The run's access token for `org`, signing in on first use (see [`signed_in`]).
pub(crate) fn access_token(cx: &Context<'_>, org: &str) -> Result<Secret, String> {
    signed_in(cx, org).map(|s| s.tokens.access)
}

/// The run's sign-in, made on first use: in the browser, or with a device code when no
/// browser can be opened. A failed sign-in is not asked again in the same run.
fn signed_in(cx: &Context<'_>, org: &str) -> Result<SignedIn, String> {
    let mut slot = cx
        .sign_in
        .lock()
        .map_err(|_| "the sign-in is unavailable".to_string())?;
    if let Some(done) = slot.as_ref() {
        return done.clone();
    }
    let result = sign_in(cx, org);
    *slot = Some(result.clone());
    result
}

fn sign_in(cx: &Context<'_>, org: &str) -> Result<SignedIn, String> {
    let client_id = cx
        .settings
        .text(&keys::ENTRA_CLIENT_ID)
        .ok_or("entra.client_id is not set")?;
    let tenant = match cx
        .settings
        .text(&keys::ENTRA_TENANT)
        .or(cx.settings.expected_tenant())
    {
        Some(tenant) => tenant.to_string(),
        None => match Lookup::new(cx.env).backing(org) {
            Backing::Entra(tenant) => tenant,
            Backing::Msa => {
                return Err(format!(
                    "{org} still uses personal Microsoft accounts, so there is no Entra sign-in yet"
                ));
            }
            Backing::NotFound => return Err(format!("Azure DevOps has no organization {org}")),
            Backing::Unknown(why) => {
                return Err(format!("the organization's tenant is unknown: {why}"));
            }
        },
    };
    let authority = Authority::new(cx.env, &tenant, client_id)?;
    let http = http::agent(Duration::from_secs(30));
    cx.prompt
        .say("Signing in to Azure DevOps with your work account (Microsoft Entra ID)...");
    let say = |text: &str| cx.prompt.say(text);
    let open = |url: &str| desktop::open_url(cx.env, url);
    let tokens = match entra::browser(&http, &authority, &open, &say) {
        Err(SignInError::NoBrowser(why)) => {
            cx.prompt
                .say(&format!("({why}; signing in with a code instead)"));
            entra::device_code(&http, &authority, &say)
        }
        other => other,
    }
    .map_err(|e| match entra::advice(&e.to_string()) {
        Some(advice) => format!("{e}; {advice}"),
        None => e.to_string(),
    })?;
    cx.prompt.say("Signed in.");
    Ok(SignedIn { authority, tokens })
}
