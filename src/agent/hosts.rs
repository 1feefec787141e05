//! Which hosts are Azure DevOps, matched exactly, and which organization a URL belongs to.
//!
//! Matching is exact, case-insensitive and port-aware: `dev.azure.com` on the default port is
//! ours; `dev.azure.com.evil.example`, `notdev.azure.com` and `dev.azure.com:8443` are not.

/// The Azure DevOps host names that carry no organization in the name.
pub(super) const DEV_AZURE: &str = "dev.azure.com";
pub(super) const SSH_DEV_AZURE: &str = "ssh.dev.azure.com";
pub(super) const VSSPS_DEV_AZURE: &str = "vssps.dev.azure.com";
pub(super) const VS_SSH: &str = "vs-ssh.visualstudio.com";
const VISUALSTUDIO_SUFFIX: &str = ".visualstudio.com";

/// A host name as matched here: lower case, without a trailing dot.
pub(super) fn normalize(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// True for an Azure DevOps host name (without a port).
pub(super) fn is_ado_host(host: &str) -> bool {
    let host = normalize(host);
    matches!(
        host.as_str(),
        DEV_AZURE | SSH_DEV_AZURE | VSSPS_DEV_AZURE | VS_SSH
    ) || visualstudio_org(&host).is_some()
}

/// `contoso` for `contoso.visualstudio.com` (a [`normalize`]d host); `None` for anything else,
/// including `visualstudio.com` itself, `vs-ssh.visualstudio.com` and labels with characters a
/// host name cannot have.
pub(super) fn visualstudio_org(host: &str) -> Option<&str> {
    let label = host.strip_suffix(VISUALSTUDIO_SUFFIX)?;
    let valid = !label.is_empty()
        && !label.contains('.')
        && label != "vs-ssh"
        && label != "app"
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    valid.then_some(label)
}

/// True for a cookie domain of Azure DevOps: `dev.azure.com`, `visualstudio.com` and their
/// subdomains (`vssps.dev.azure.com`, `app.vssps.visualstudio.com`, `contoso.visualstudio.com`).
/// A cookie's domain may start with a dot.
pub(super) fn is_ado_cookie_domain(domain: &str) -> bool {
    let domain = domain.trim_start_matches('.').to_ascii_lowercase();
    ["dev.azure.com", "visualstudio.com"].iter().any(|ours| {
        domain == *ours
            || domain
                .strip_suffix(ours)
                .is_some_and(|rest| rest.ends_with('.'))
    })
}

/// The Microsoft sign-in hosts, whose cookies sign a person in to every Microsoft service.
pub(super) const MICROSOFT_SIGN_IN: &[&str] = &[
    "login.microsoftonline.com",
    "login.live.com",
    "login.microsoft.com",
    "login.windows.net",
];

/// True for a cookie domain of Microsoft sign-in.
pub(super) fn is_microsoft_sign_in_domain(domain: &str) -> bool {
    let domain = domain.trim_start_matches('.').to_ascii_lowercase();
    MICROSOFT_SIGN_IN.contains(&domain.as_str())
}

/// The organization an `https://` Azure DevOps URL belongs to: the first path segment on
/// `dev.azure.com` (or the user name of `https://contoso@dev.azure.com/`), the host's first label
/// on `contoso.visualstudio.com`. `None` for any other host or a non-default port.
pub(super) fn org_of_https_url(text: &str) -> Option<String> {
    let url = url::Url::parse(text).ok()?;
    if !matches!(url.scheme(), "https" | "http") || url.port().is_some() {
        return None;
    }
    let host = url.host_str()?.trim_end_matches('.').to_ascii_lowercase();
    if host == DEV_AZURE {
        let from_path = url
            .path_segments()
            .and_then(|mut segments| segments.next())
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let from_user = Some(url.username())
            .filter(|u| !u.is_empty() && !u.contains('%') && !u.contains('@'))
            .map(str::to_string);
        return from_path.or(from_user);
    }
    visualstudio_org(&host).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_hosts_only() {
        for ours in [
            "dev.azure.com",
            "DEV.Azure.com",
            "ssh.dev.azure.com",
            "vssps.dev.azure.com",
            "vs-ssh.visualstudio.com",
            "contoso.visualstudio.com",
            "dev.azure.com.",
        ] {
            assert!(is_ado_host(ours), "{ours}");
        }
        for theirs in [
            "dev.azure.com.evil.example",
            "notdev.azure.com",
            "azure.com",
            "visualstudio.com",
            "a.b.visualstudio.com",
            "contoso.visualstudio.com.evil.example",
            "github.com",
        ] {
            assert!(!is_ado_host(theirs), "{theirs}");
        }
    }

    #[test]
    fn cookie_domains() {
        for ours in [
            ".dev.azure.com",
            "dev.azure.com",
            "vssps.dev.azure.com",
            ".aex.dev.azure.com",
            "app.vssps.visualstudio.com",
            ".visualstudio.com",
            "contoso.visualstudio.com",
        ] {
            assert!(is_ado_cookie_domain(ours), "{ours}");
        }
        for theirs in [
            "notdev.azure.com",
            ".azure.com",
            "portal.azure.com",
            "dev.azure.com.evil.example",
            "evilvisualstudio.com",
            "login.microsoftonline.com",
            "github.com",
        ] {
            assert!(!is_ado_cookie_domain(theirs), "{theirs}");
        }
        assert!(is_microsoft_sign_in_domain(".login.microsoftonline.com"));
        assert!(!is_microsoft_sign_in_domain("evil.login.live.com.example"));
    }

    #[test]
    fn organization_from_urls() {
        let org = |u| org_of_https_url(u);
        assert_eq!(
            org("https://dev.azure.com/contoso/").as_deref(),
            Some("contoso")
        );
        assert_eq!(
            org("https://dev.azure.com/contoso/p/_git/r").as_deref(),
            Some("contoso")
        );
        assert_eq!(
            org("https://contoso@dev.azure.com/").as_deref(),
            Some("contoso")
        );
        assert_eq!(
            org("https://Contoso.VisualStudio.com/").as_deref(),
            Some("contoso")
        );
        assert_eq!(org("https://dev.azure.com:8443/contoso/"), None);
        assert_eq!(org("https://dev.azure.com.evil.example/contoso/"), None);
        assert_eq!(org("https://notdev.azure.com/contoso/"), None);
        assert_eq!(org("https://dev.azure.com/"), None);
        assert_eq!(org("ssh://dev.azure.com/contoso"), None);
        assert_eq!(org("not a url"), None);
    }

    /// Fuzz (#19): cookie rows' host values, whatever they hold: a domain is ours only when
    /// it is an Azure DevOps domain or below one.
    #[test]
    fn fuzz_cookie_domains() {
        let seeds: &[&[u8]] = &[
            b".dev.azure.com",
            b"contoso.visualstudio.com",
            b"aex.dev.azure.com",
            b"login.microsoftonline.com",
            b".github.com",
        ];
        let dictionary: &[&[u8]] = &[
            b".",
            b"dev.azure.com",
            b"visualstudio.com",
            b"azure.com.evil",
            b"xn--",
            b"\xe2\x80\x8b",
        ];
        crate::fuzz::run("cookie domains", seeds, dictionary, |bytes| {
            let domain = String::from_utf8_lossy(bytes);
            if is_ado_cookie_domain(&domain) {
                let bare = domain.trim_start_matches('.').to_ascii_lowercase();
                assert!(
                    ["dev.azure.com", "visualstudio.com", "azure.com"]
                        .iter()
                        .any(|d| bare == *d || bare.ends_with(&format!(".{d}"))),
                    "{domain:?} was taken as Azure DevOps'"
                );
            }
            let _ = is_microsoft_sign_in_domain(&domain);
        });
    }
}
