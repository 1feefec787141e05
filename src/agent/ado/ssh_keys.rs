//! The user's SSH keys in Azure DevOps, through the undocumented SessionTokens resource
//! (../shared/reference/azure-devops-api.md section 1.3): the organization's id from
//! `connectionData`, the keys already registered, and registering a new one.
//!
//! The resource is undocumented, so every answer that is not exactly the expected shape is a
//! clean failure with a reason, never a guess. Sign-in answers (401, 203, a redirect to
//! `_signin`, an HTML page) are told apart so the caller can refresh the token once; 429 waits
//! for a short `Retry-After` and 5xx is retried once.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use ureq::Agent;
use ureq::http::StatusCode;

use super::Credential;
use super::entra::{Secret, transport};
use crate::agent::env::Env;
use crate::agent::http;

/// Points `vssps.dev.azure.com` elsewhere (a test server on 127.0.0.1).
pub(crate) const VSSPS_URL_VAR: &str = "ADO_CUTOVER_VSSPS_URL";
const DEFAULT_VSSPS: &str = "https://vssps.dev.azure.com";
const DEFAULT_ADO: &str = "https://dev.azure.com";

/// The longest `Retry-After` waited for; a longer one is a failure for this run.
const MAX_RETRY_AFTER: u64 = 30;

/// Why a call did not work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ApiError {
    /// The token was not accepted (401, 203 sign-in page, redirect to sign-in).
    #[error("Azure DevOps did not accept the sign-in ({0})")]
    SignIn(String),
    /// The sign-in was accepted, but this account may not use the organization (TF400813
    /// "is not authorized", TF401444 "sign in at least once in a web browser"): the message.
    #[error("Azure DevOps does not let this account in: {0}")]
    NotAuthorized(String),
    #[error("Azure DevOps refused: {0}")]
    Refused(String),
    #[error("Azure DevOps is busy (429); try again later")]
    Throttled,
    #[error("Azure DevOps had an error ({0})")]
    Server(u16),
    #[error("Azure DevOps could not be reached: {0}")]
    Unreachable(String),
    #[error("Azure DevOps answered in an unexpected way: {0}")]
    Unexpected(String),
}

/// An SSH key registered in Azure DevOps (a public session token).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RegisteredKey {
    pub authorization_id: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub public_data: Option<String>,
    #[serde(default)]
    pub valid_to: Option<String>,
    #[serde(default)]
    pub is_valid: Option<bool>,
}

/// A personal access token just created: shown once, never stored by ado-cutover.
#[derive(Debug)]
pub(crate) struct NewPat {
    pub token: Secret,
    /// When it expires (RFC 3339), as Azure DevOps set it (a policy may shorten it).
    pub valid_to: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PatResult {
    pat_token: Option<PatToken>,
    pat_token_error: Option<String>,
    pat_token_error_message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PatToken {
    token: Option<String>,
    valid_to: Option<String>,
}

#[derive(Deserialize)]
struct KeyList {
    value: Vec<RegisteredKey>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConnectionData {
    instance_id: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    message: Option<String>,
}

/// The Azure DevOps endpoints.
pub(crate) struct Api {
    http: Agent,
    ado: String,
    vssps: String,
}

impl Api {
    pub(crate) fn new(env: &Env) -> Result<Api, String> {
        Api::with_timeout(env, Duration::from_secs(20))
    }

    /// The endpoints, each request taking at most `timeout`.
    pub(crate) fn with_timeout(env: &Env, timeout: Duration) -> Result<Api, String> {
        Ok(Api {
            http: http::agent(timeout),
            ado: super::base_url(env, super::tenant::BASE_URL_VAR, DEFAULT_ADO)?,
            vssps: super::base_url(env, VSSPS_URL_VAR, DEFAULT_VSSPS)?,
        })
    }

    /// The organization's id (`connectionData.instanceId`), which `targetAccounts` names.
    pub(crate) fn organization_id(&self, org: &str, token: &Secret) -> Result<String, ApiError> {
        let url = format!("{}/{org}/_apis/connectionData", self.ado);
        let body = self.send(&Credential::Bearer(token.clone()), &url, None)?;
        let data: ConnectionData = parse(&body, "connectionData")?;
        uuid::Uuid::try_parse(&data.instance_id)
            .map(|id| id.hyphenated().to_string())
            .map_err(|_| ApiError::Unexpected("connectionData.instanceId is not a GUID".into()))
    }

    /// The user's SSH keys.
    pub(crate) fn list(&self, org: &str, token: &Secret) -> Result<Vec<RegisteredKey>, ApiError> {
        let url = format!(
            "{}/{org}/_apis/Token/SessionTokens?isPublic=true&includePublicData=true&api-version=7.0-preview.1",
            self.vssps
        );
        let body = self.send(&Credential::Bearer(token.clone()), &url, None)?;
        Ok(parse::<KeyList>(&body, "the SSH key list")?.value)
    }

    /// Registers `public_line` for the organization `org_id`, valid until `valid_to` (RFC 3339).
    pub(crate) fn register(
        &self,
        org: &str,
        token: &Secret,
        org_id: &str,
        display_name: &str,
        public_line: &str,
        valid_to: &str,
    ) -> Result<RegisteredKey, ApiError> {
        let url = format!(
            "{}/{org}/_apis/Token/SessionTokens?isPublic=true&api-version=5.0-preview.1",
            self.vssps
        );
        let body = json!({
            "displayName": display_name,
            "publicData": public_line.trim(),
            "validTo": valid_to,
            "scope": "app_token",
            "targetAccounts": [org_id],
        })
        .to_string();
        let answer = self.send(&Credential::Bearer(token.clone()), &url, Some(&body))?;
        let key: RegisteredKey = parse(&answer, "the registered key")?;
        if key.authorization_id.is_empty() {
            return Err(ApiError::Unexpected(
                "the answer names no authorizationId".into(),
            ));
        }
        Ok(key)
    }

    /// Creates a personal access token for `org` only (`allOrgs: false`; global tokens are
    /// retired) through the PAT lifecycle API (reference section 2).
    pub(crate) fn create_pat(
        &self,
        org: &str,
        token: &Secret,
        display_name: &str,
        scope: &str,
        valid_to: &str,
    ) -> Result<NewPat, ApiError> {
        let url = format!(
            "{}/{org}/_apis/tokens/pats?api-version=7.1-preview.1",
            self.vssps
        );
        let body = json!({
            "displayName": display_name,
            "scope": scope,
            "validTo": valid_to,
            "allOrgs": false,
        })
        .to_string();
        let answer = self.send(&Credential::Bearer(token.clone()), &url, Some(&body))?;
        let result: PatResult = parse(&answer, "the new token")?;
        let error = result.pat_token_error.unwrap_or_else(|| "none".into());
        if error != "none" {
            let message = result.pat_token_error_message.unwrap_or_default();
            return Err(ApiError::Refused(
                format!("{error} {message}")
                    .trim()
                    .chars()
                    .take(300)
                    .collect(),
            ));
        }
        match result.pat_token {
            Some(PatToken {
                token: Some(value),
                valid_to,
                ..
            }) if !value.is_empty() => Ok(NewPat {
                token: Secret::new(value),
                valid_to: valid_to.unwrap_or_default(),
            }),
            _ => Err(ApiError::Unexpected("the answer holds no token".into())),
        }
    }

    /// The Azure DevOps base URL (`https://dev.azure.com`, or a test server).
    pub(crate) fn ado_base(&self) -> &str {
        &self.ado
    }

    /// One request with the headers Azure DevOps needs, retried once on 429 (short
    /// `Retry-After`) and 5xx. Returns the body of a 2xx JSON answer.
    pub(crate) fn send(
        &self,
        token: &Credential,
        url: &str,
        body: Option<&str>,
    ) -> Result<String, ApiError> {
        let mut retried = false;
        loop {
            // A body makes it a POST of JSON; without one it is a GET.
            let result = match body {
                None => with_headers(self.http.get(url), token).call(),
                Some(body) => with_headers(self.http.post(url), token)
                    .header("Content-Type", "application/json")
                    .send(body),
            };
            let outcome = match result {
                Ok(response) => read(response),
                Err(err) => Err(Retry::Final(ApiError::Unreachable(transport(&err)))),
            };
            match outcome {
                Err(Retry::After(seconds)) if !retried => {
                    retried = true;
                    std::thread::sleep(Duration::from_secs(seconds));
                }
                Err(Retry::After(_)) => return Err(ApiError::Throttled),
                Err(Retry::ServerError(_)) if !retried => {
                    retried = true;
                    std::thread::sleep(Duration::from_secs(2));
                }
                Err(Retry::ServerError(status)) => return Err(ApiError::Server(status)),
                Err(Retry::Final(err)) => return Err(err),
                Ok(body) => return Ok(body),
            }
        }
    }
}

fn with_headers<T>(
    builder: ureq::RequestBuilder<T>,
    token: &Credential,
) -> ureq::RequestBuilder<T> {
    builder
        .header("Authorization", &token.header())
        .header("Accept", "application/json")
        .header("X-TFS-FedAuthRedirect", "Suppress")
}

/// What to do about an answer that was not a success.
enum Retry {
    After(u64),
    ServerError(u16),
    Final(ApiError),
}

impl From<ApiError> for Retry {
    fn from(err: ApiError) -> Retry {
        Retry::Final(err)
    }
}

/// Sorts one answer: the body of a JSON success, or what went wrong.
fn read(mut response: ureq::http::Response<ureq::Body>) -> Result<String, Retry> {
    let status = response.status();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header("content-type").unwrap_or_default();
    let location = header("location").unwrap_or_default();
    let retry_after = header("retry-after").and_then(|v| v.trim().parse::<u64>().ok());
    let body = response
        .body_mut()
        .with_config()
        .limit(4 * 1024 * 1024)
        .read_to_string()
        .map_err(|e| Retry::Final(ApiError::Unreachable(transport(&e))))?;
    let html = content_type.to_ascii_lowercase().contains("text/html");
    let message = serde_json::from_str::<ErrorBody>(&body)
        .ok()
        .and_then(|b| b.message)
        .map(|m| m.chars().take(300).collect::<String>());
    if let Some(message) = message.as_deref().filter(|m| names_the_account(m))
        && matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
    {
        return Err(ApiError::NotAuthorized(message.to_string()).into());
    }
    if status == StatusCode::UNAUTHORIZED {
        return Err(ApiError::SignIn("401".into()).into());
    }
    if status == StatusCode::NON_AUTHORITATIVE_INFORMATION || (status.is_success() && html) {
        return Err(ApiError::SignIn(format!("{} with a sign-in page", status.as_u16())).into());
    }
    if status.is_redirection() {
        return Err(if location.contains("_signin") {
            ApiError::SignIn(format!("{} to the sign-in page", status.as_u16()))
        } else {
            ApiError::Unexpected(format!("a {} redirect", status.as_u16()))
        }
        .into());
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        return match retry_after {
            Some(seconds) if seconds <= MAX_RETRY_AFTER => Err(Retry::After(seconds)),
            None => Err(Retry::After(5)),
            Some(_) => Err(ApiError::Throttled.into()),
        };
    }
    if status.is_server_error() {
        return Err(Retry::ServerError(status.as_u16()));
    }
    if !status.is_success() {
        let message = message.unwrap_or_else(|| format!("status {}", status.as_u16()));
        return Err(ApiError::Refused(message).into());
    }
    Ok(body)
}

/// True for the answers that accept the sign-in but not the account: TF400813 "The user '…'
/// is not authorized to access this resource", and TF401444 "Please sign-in at least once as
/// … in a web browser" (the anonymous TF400813 is a sign-in problem instead).
pub(crate) fn names_the_account(message: &str) -> bool {
    message.contains("TF401444")
        || (message.contains("TF400813") && message.contains("is not authorized"))
}

fn parse<T: serde::de::DeserializeOwned>(body: &str, what: &str) -> Result<T, ApiError> {
    serde_json::from_str(body)
        .map_err(|_| ApiError::Unexpected(format!("{what} could not be read")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server on 127.0.0.1 that accepts connections and never answers.
    fn silent_server() -> (String, std::net::TcpListener) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        (
            format!("http://{}", listener.local_addr().unwrap()),
            listener,
        )
    }

    #[test]
    fn a_server_that_never_answers_is_a_clean_failure() {
        let (base, _listener) = silent_server();
        let env = Env::from_pairs([
            (super::super::tenant::BASE_URL_VAR, base.clone()),
            (VSSPS_URL_VAR, base),
        ]);
        let api = Api::with_timeout(&env, Duration::from_millis(300)).unwrap();
        let token = Secret::new("at-secret");
        let err = api.list("contoso", &token).unwrap_err();
        assert_eq!(err, ApiError::Unreachable("no answer in time".into()));
        assert!(!err.to_string().contains("at-secret"));
    }

    #[test]
    fn only_https_or_loopback_endpoints_are_accepted() {
        let env = Env::from_pairs([(VSSPS_URL_VAR, "http://vssps.example.com")]);
        let err = Api::new(&env).err().unwrap();
        assert!(err.contains(VSSPS_URL_VAR), "{err}");
    }
}
