//! The calls the `verify` task makes: who the organization says the person is
//! (`connectionData`, reference section 4.2), and whether an Azure Artifacts feed's index
//! answers with the person's credential. Read-only; the credential is only ever a header.

use std::time::Duration;

use serde::Deserialize;
use ureq::http::StatusCode;

use super::Credential;
use super::entra::transport;
use super::ssh_keys::{Api, ApiError, names_the_account};
use crate::agent::env::Env;
use crate::agent::http;

/// Points `pkgs.dev.azure.com` elsewhere (a test server on 127.0.0.1).
pub(crate) const ARTIFACTS_URL_VAR: &str = "ADO_CUTOVER_ARTIFACTS_URL";
pub(crate) const ARTIFACTS_HOST: &str = "https://pkgs.dev.azure.com";

/// Who the organization says the person is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    /// The account (user principal name or e-mail address) when Azure DevOps names it.
    pub account: Option<String>,
    /// The display name.
    pub name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConnectionData {
    authenticated_user: Option<Identity>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Identity {
    #[serde(default)]
    provider_display_name: Option<String>,
    #[serde(default)]
    properties: Option<serde_json::Value>,
    #[serde(default)]
    descriptor: Option<String>,
}

impl Api {
    /// `GET {org}/_apis/connectionData`: the signed-in account, when the organization lets it
    /// in. An anonymous or public-access identity is not a member.
    pub(crate) fn member(&self, org: &str, credential: &Credential) -> Result<Member, ApiError> {
        let url = format!(
            "{}/{org}/_apis/connectionData?api-version=7.1-preview.1",
            self.ado_base()
        );
        let body = self.send(credential, &url, None)?;
        let data: ConnectionData = serde_json::from_str(&body)
            .map_err(|_| ApiError::Unexpected("connectionData could not be read".into()))?;
        let Some(user) = data.authenticated_user else {
            return Err(ApiError::Unexpected(
                "connectionData names no authenticated user".into(),
            ));
        };
        if user
            .descriptor
            .as_deref()
            .is_some_and(|d| d.contains("PublicAccess") || d.contains("Anonymous"))
        {
            return Err(ApiError::SignIn("anonymous".into()));
        }
        let account = user
            .properties
            .as_ref()
            .and_then(|p| p.pointer("/Account/$value"))
            .and_then(|v| v.as_str())
            .filter(|a| !a.is_empty())
            .map(str::to_string);
        Ok(Member {
            account,
            name: user.provider_display_name,
        })
    }
}

/// What a feed's index answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Feed {
    Reachable,
    /// 401, 203 or a redirect to sign in: the credential was not accepted.
    NeedsSignIn,
    /// 403, or TF400813 naming the account: this account may not read the feed.
    Denied(String),
    /// 404: the feed (or organization) is gone.
    NotFound,
    /// Offline, a timeout, a server error: why.
    Unreachable(String),
}

/// `GET url` (a feed's index, as its tool asks first) with the credential; redirects are not
/// followed, the body is not read beyond a little.
pub(crate) fn probe_feed(url: &str, credential: &Credential) -> Feed {
    let agent = http::agent(Duration::from_secs(20));
    let result = agent
        .get(url)
        .header("Authorization", &credential.header())
        .header("X-TFS-FedAuthRedirect", "Suppress")
        .call();
    let mut response = match result {
        Ok(response) => response,
        Err(err) => return Feed::Unreachable(transport(&err)),
    };
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
        .unwrap_or_default();
    judge_feed(status, &location, &body)
}

fn judge_feed(status: StatusCode, location: &str, body: &str) -> Feed {
    let message = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .map(|m| m.chars().take(300).collect::<String>());
    match status {
        StatusCode::NON_AUTHORITATIVE_INFORMATION => Feed::NeedsSignIn,
        s if s.is_success() => Feed::Reachable,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
            if message.as_deref().is_some_and(names_the_account) =>
        {
            Feed::Denied(message.unwrap_or_default())
        }
        StatusCode::UNAUTHORIZED => Feed::NeedsSignIn,
        StatusCode::FORBIDDEN => Feed::Denied(message.unwrap_or_else(|| "403".into())),
        StatusCode::NOT_FOUND => Feed::NotFound,
        s if s.is_redirection() && location.contains("_signin") => Feed::NeedsSignIn,
        s => Feed::Unreachable(format!("the feed answered {}", s.as_u16())),
    }
}

/// The URL to ask for a feed URL found in a file: on `pkgs.dev.azure.com`, the base URL
/// `ADO_CUTOVER_ARTIFACTS_URL` names instead when set (https, or http on loopback only).
pub(crate) fn feed_request_url(env: &Env, url: &str) -> Result<String, String> {
    let base = super::base_url(env, ARTIFACTS_URL_VAR, ARTIFACTS_HOST)?;
    Ok(match url.strip_prefix(ARTIFACTS_HOST) {
        Some(rest) => format!("{base}{rest}"),
        None => url.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_answers_are_told_apart() {
        assert_eq!(judge_feed(StatusCode::OK, "", "{}"), Feed::Reachable);
        assert_eq!(
            judge_feed(StatusCode::NON_AUTHORITATIVE_INFORMATION, "", "<html>"),
            Feed::NeedsSignIn
        );
        assert_eq!(
            judge_feed(
                StatusCode::UNAUTHORIZED,
                "",
                "{\"message\":\"TF400813: Resource not available for anonymous access.\"}"
            ),
            Feed::NeedsSignIn
        );
        assert!(matches!(
            judge_feed(
                StatusCode::UNAUTHORIZED,
                "",
                "{\"message\":\"TF400813: The user 'x' is not authorized to access this resource.\"}"
            ),
            Feed::Denied(_)
        ));
        assert!(matches!(
            judge_feed(StatusCode::FORBIDDEN, "", ""),
            Feed::Denied(_)
        ));
        assert_eq!(
            judge_feed(
                StatusCode::FOUND,
                "https://spsprod.vssps.visualstudio.com/_signin?realm=x",
                ""
            ),
            Feed::NeedsSignIn
        );
        assert_eq!(judge_feed(StatusCode::NOT_FOUND, "", ""), Feed::NotFound);
    }

    #[test]
    fn feed_urls_follow_the_artifacts_base_only_on_loopback() {
        let env = Env::from_pairs([(ARTIFACTS_URL_VAR, "http://127.0.0.1:9/pkgs")]);
        assert_eq!(
            feed_request_url(
                &env,
                "https://pkgs.dev.azure.com/contoso/_packaging/f/npm/registry/"
            )
            .unwrap(),
            "http://127.0.0.1:9/pkgs/contoso/_packaging/f/npm/registry/"
        );
        let env = Env::from_pairs([(ARTIFACTS_URL_VAR, "http://pkgs.example.com")]);
        assert!(feed_request_url(&env, "https://pkgs.dev.azure.com/x").is_err());
    }
}
