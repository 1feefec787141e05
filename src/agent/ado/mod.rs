//! Talking to Azure DevOps and Microsoft Entra ID: the tenant behind an organization, signing
//! the user in, and the user's SSH keys.

pub(super) mod entra;
pub(super) mod ssh_keys;
pub(super) mod switch;
pub(super) mod tenant;
pub(super) mod verify;

use base64::Engine as _;

use crate::agent::env::Env;
use entra::Secret;

/// How a request proves who it is: the run's Entra sign-in (a Bearer token), or the credential
/// git keeps for the organization (Basic, the password being a token). Never shown.
#[derive(Debug, Clone)]
pub(crate) enum Credential {
    Bearer(Secret),
    Basic { user: String, password: Secret },
}

impl Credential {
    /// The `Authorization` header's value.
    pub(crate) fn header(&self) -> String {
        match self {
            Credential::Bearer(token) => format!("Bearer {}", token.expose()),
            Credential::Basic { user, password } => {
                let pair = format!("{user}:{}", password.expose());
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                )
            }
        }
    }
}

/// A base URL from `var`, or `default`: https, or plain http only on this machine's loopback
/// (a test server). Without a trailing slash.
pub(super) fn base_url(env: &Env, var: &str, default: &str) -> Result<String, String> {
    let base = env.get(var).unwrap_or(default).trim_end_matches('/');
    if allowed(base) {
        Ok(base.to_string())
    } else {
        Err(format!(
            "{var} must be an https URL (http only on this machine's loopback)"
        ))
    }
}

/// https anywhere, http only to a loopback address.
pub(super) fn allowed(url: &str) -> bool {
    match url::Url::parse(url) {
        Ok(u) if u.scheme() == "https" => true,
        Ok(u) if u.scheme() == "http" => {
            matches!(u.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
                || matches!(u.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
                || u.host_str() == Some("localhost")
        }
        _ => false,
    }
}
