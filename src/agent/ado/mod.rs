//! Talking to Azure DevOps and Microsoft Entra ID: the tenant behind an organization, signing
//! the user in, and the user's SSH keys.

pub(super) mod entra;
pub(super) mod ssh_keys;
pub(super) mod tenant;

use crate::agent::env::Env;

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
