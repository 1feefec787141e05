//! Azure DevOps remote URLs: which are ours, what they point at, and their modern form.
//!
//! HTTPS: `https://dev.azure.com/{org}/{project}/_git/{repo}` (optionally `{user}@`), and the
//! legacy `https://{org}.visualstudio.com/[DefaultCollection/]{project}/_git/{repo}`.
//! SSH: `git@ssh.dev.azure.com:v3/{org}/{project}/{repo}` (or `ssh://…/v3/…`, with a port), and
//! the legacy `{org}@vs-ssh.visualstudio.com:v3/{org}/{project}/{repo}`. Hosts are matched
//! exactly; anything else is not ours. Project and repository names stay as written (they may be
//! percent-encoded), so a rewritten URL names exactly the same repository.

use crate::agent::hosts;
use crate::report::redact;

/// How git reaches the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Https,
    Ssh,
}

/// What credentials the URL itself carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Embedded {
    None,
    /// A user name only (`https://contoso@dev.azure.com/...`).
    User(String),
    /// A password or token: it must go.
    Secret,
}

/// An Azure DevOps remote URL, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AdoUrl {
    pub transport: Transport,
    /// The organization, lower case.
    pub org: String,
    /// The project, as written in the URL (possibly percent-encoded); `None` for the short
    /// `/_git/{repo}` form, where the project has the repository's name.
    pub project: Option<String>,
    pub repo: String,
    /// On a `*.visualstudio.com` host.
    pub legacy_host: bool,
    pub embedded: Embedded,
    /// The URL to show: credentials replaced by `***`.
    pub shown: String,
}

impl AdoUrl {
    /// The same repository on the current host, without credentials. For HTTPS a user name that
    /// is the organization, or that came with a secret, is dropped; any other user name is kept,
    /// since it picks the account.
    pub(crate) fn modern(&self) -> String {
        self.build(true)
    }

    fn build(&self, keep_user: bool) -> String {
        let project = self.project.as_deref().unwrap_or(&self.repo);
        match self.transport {
            Transport::Https => {
                let user = match &self.embedded {
                    Embedded::User(user) if keep_user && !user.eq_ignore_ascii_case(&self.org) => {
                        format!("{}@", percent_encode_user(user))
                    }
                    _ => String::new(),
                };
                format!(
                    "https://{user}dev.azure.com/{}/{project}/_git/{}",
                    self.org, self.repo
                )
            }
            Transport::Ssh => format!(
                "git@ssh.dev.azure.com:v3/{}/{project}/{}",
                self.org, self.repo
            ),
        }
    }

    /// True when a user name in the URL is not the organization: it pins an account, which
    /// may be the old identity.
    pub(crate) fn user_is_not_org(&self) -> Option<&str> {
        match &self.embedded {
            Embedded::User(user) if !user.eq_ignore_ascii_case(&self.org) => Some(user),
            _ => None,
        }
    }
}

/// Understands `url`; `None` when it is not an Azure DevOps remote.
pub(crate) fn classify(url: &str) -> Option<AdoUrl> {
    let url = url.trim();
    if url.contains("://") {
        let parsed = url::Url::parse(url).ok()?;
        match parsed.scheme() {
            "https" | "http" => https(&parsed, url),
            "ssh" => ssh(
                parsed.host_str()?,
                parsed.port(),
                parsed.path().trim_start_matches('/'),
                url,
            ),
            _ => None,
        }
    } else {
        // scp-like: [user@]host:path
        let (authority, path) = url.split_once(':')?;
        if authority.contains('/') {
            return None; // a local path such as ./a:b
        }
        let host = authority.rsplit('@').next()?;
        ssh(host, None, path.trim_start_matches('/'), url)
    }
}

fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

fn https(parsed: &url::Url, raw: &str) -> Option<AdoUrl> {
    if parsed.port().is_some() {
        return None;
    }
    let host = hosts::normalize(parsed.host_str()?);
    let path = parsed.path();
    let parts = segments(path);
    let (org, rest, legacy_host) = if host == hosts::DEV_AZURE {
        let (org, rest) = parts.split_first()?;
        (org.to_ascii_lowercase(), rest.to_vec(), false)
    } else {
        let org = hosts::visualstudio_org(&host)?;
        let rest: Vec<&str> = match parts.split_first() {
            Some((first, rest)) if first.eq_ignore_ascii_case("DefaultCollection") => rest.to_vec(),
            _ => parts,
        };
        (org.to_string(), rest, true)
    };
    let (project, repo) = match rest.as_slice() {
        [project, "_git", repo, ..] => (Some(project.to_string()), repo.to_string()),
        ["_git", repo, ..] => (None, repo.to_string()),
        _ => return None,
    };
    let embedded = if parsed.password().is_some() {
        Embedded::Secret
    } else if !parsed.username().is_empty() {
        let user = parsed.username();
        // A token pasted as the user name is a secret too.
        if redact::url(raw).contains(redact::MASK) {
            Embedded::Secret
        } else {
            Embedded::User(percent_decode(user))
        }
    } else {
        Embedded::None
    };
    Some(AdoUrl {
        transport: Transport::Https,
        org,
        project,
        repo,
        legacy_host,
        embedded,
        shown: redact::url(raw),
    })
}

fn ssh(host: &str, port: Option<u16>, path: &str, raw: &str) -> Option<AdoUrl> {
    let host = hosts::normalize(host);
    if port.is_some_and(|p| p != 22) {
        return None;
    }
    let legacy_host = match host.as_str() {
        hosts::SSH_DEV_AZURE => false,
        hosts::VS_SSH => true,
        _ => return None,
    };
    let parts = segments(path);
    let (org, project, repo) = match parts.as_slice() {
        ["v3", org, project, repo] => (org, project, repo),
        _ => return None,
    };
    Some(AdoUrl {
        transport: Transport::Ssh,
        org: org.to_ascii_lowercase(),
        project: Some(project.to_string()),
        repo: repo.to_string(),
        legacy_host,
        embedded: Embedded::None,
        shown: raw.to_string(),
    })
}

/// A user name as it must stand in a URL (`alice@contoso.com` -> `alice%40contoso.com`).
fn percent_encode_user(user: &str) -> String {
    user.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ado(url: &str) -> AdoUrl {
        classify(url).unwrap_or_else(|| panic!("{url} should be ours"))
    }

    #[test]
    fn current_https_forms() {
        let u = ado("https://dev.azure.com/Contoso/My%20Project/_git/web");
        assert_eq!(
            (u.org.as_str(), u.project.as_deref(), u.repo.as_str()),
            ("contoso", Some("My%20Project"), "web")
        );
        assert!(!u.legacy_host);
        assert_eq!(u.embedded, Embedded::None);
        assert_eq!(
            u.modern(),
            "https://dev.azure.com/contoso/My%20Project/_git/web"
        );

        let u = ado("https://contoso@dev.azure.com/contoso/proj/_git/web");
        assert_eq!(u.embedded, Embedded::User("contoso".into()));
        assert_eq!(u.user_is_not_org(), None);
        assert_eq!(u.modern(), "https://dev.azure.com/contoso/proj/_git/web");

        let u = ado("https://dev.azure.com/contoso/_git/web");
        assert_eq!(u.project, None);
        assert_eq!(u.modern(), "https://dev.azure.com/contoso/web/_git/web");
    }

    #[test]
    fn legacy_https_forms() {
        for url in [
            "https://contoso.visualstudio.com/proj/_git/web",
            "https://contoso.visualstudio.com/DefaultCollection/proj/_git/web",
            "https://Contoso.VisualStudio.com/DefaultCollection/proj/_git/web/",
        ] {
            let u = ado(url);
            assert!(u.legacy_host, "{url}");
            assert_eq!(
                u.modern(),
                "https://dev.azure.com/contoso/proj/_git/web",
                "{url}"
            );
        }
    }

    #[test]
    fn embedded_credentials_are_secrets_and_never_shown() {
        let u = ado("https://alice:hunter2pat@dev.azure.com/contoso/proj/_git/web");
        assert_eq!(u.embedded, Embedded::Secret);
        assert!(!u.shown.contains("hunter2pat"));
        // With a secret, the whole user part goes: a token's user name is arbitrary.
        assert_eq!(u.modern(), "https://dev.azure.com/contoso/proj/_git/web");
        let token = "k".repeat(52);
        let u = ado(&format!(
            "https://{token}@dev.azure.com/contoso/proj/_git/web"
        ));
        assert_eq!(u.embedded, Embedded::Secret);
        assert!(!u.shown.contains(&token));
        assert!(!u.modern().contains(&token));
        let u = ado("https://alice%40contoso.com@dev.azure.com/contoso/proj/_git/web");
        assert_eq!(u.user_is_not_org(), Some("alice@contoso.com"));
        assert_eq!(
            u.modern(),
            "https://alice%40contoso.com@dev.azure.com/contoso/proj/_git/web"
        );
    }

    #[test]
    fn ssh_forms() {
        let u = ado("git@ssh.dev.azure.com:v3/contoso/proj/web");
        assert_eq!((u.transport, u.legacy_host), (Transport::Ssh, false));
        assert_eq!(u.modern(), "git@ssh.dev.azure.com:v3/contoso/proj/web");
        let u = ado("ssh://git@ssh.dev.azure.com:22/v3/contoso/proj/web");
        assert_eq!(u.org, "contoso");
        let u = ado("contoso@vs-ssh.visualstudio.com:v3/contoso/proj/web");
        assert!(u.legacy_host);
        assert_eq!(u.modern(), "git@ssh.dev.azure.com:v3/contoso/proj/web");
        let u = ado("ssh://contoso@vs-ssh.visualstudio.com/v3/contoso/My%20Project/web");
        assert_eq!(
            u.modern(),
            "git@ssh.dev.azure.com:v3/contoso/My%20Project/web"
        );
    }

    #[test]
    fn look_alikes_and_others_are_not_ours() {
        for url in [
            "https://dev.azure.com.evil.example/contoso/proj/_git/web",
            "https://notdev.azure.com/contoso/proj/_git/web",
            "https://dev.azure.com:8443/contoso/proj/_git/web",
            "https://github.com/contoso/web.git",
            "git@github.com:contoso/web.git",
            "git@ssh.dev.azure.com.evil.example:v3/contoso/proj/web",
            "ssh://git@ssh.dev.azure.com:2222/v3/contoso/proj/web",
            "https://contoso.visualstudio.com.evil.example/proj/_git/web",
            "https://app.vssps.visualstudio.com/proj/_git/web",
            // A label a host name cannot have: the one host rule (hosts.rs) refuses it.
            "https://con_toso.visualstudio.com/proj/_git/web",
            "https://dev.azure.com/contoso/proj",
            "/home/alice/repos/web",
            "../web",
            "file:///srv/git/web.git",
        ] {
            assert_eq!(classify(url), None, "{url}");
        }
    }

    /// Fuzz (#19): whatever a remote URL says, it is understood or left alone; what is
    /// understood survives its own rewrite, and a secret in it is never shown.
    #[test]
    fn fuzz_remote_urls() {
        let seeds: &[&[u8]] = &[
            b"https://contoso@dev.azure.com/contoso/Project%20One/_git/repo",
            b"https://user:pat-secret@contoso.visualstudio.com/DefaultCollection/p/_git/r",
            b"git@ssh.dev.azure.com:v3/contoso/project/repo",
            b"ssh://contoso@vs-ssh.visualstudio.com:22/p/_ssh/r",
            b"https://dev.azure.com/contoso/_git/repo",
        ];
        let dictionary: &[&[u8]] = &[
            b"://",
            b"@",
            b":",
            b"/_git/",
            b"v3/",
            b"%2F",
            b"%40",
            b"dev.azure.com",
            b".visualstudio.com",
            b"ssh.dev.azure.com",
            b"DefaultCollection",
            b"?",
            b"#",
            b"\\",
        ];
        crate::fuzz::run("remote URLs", seeds, dictionary, |bytes| {
            let text = String::from_utf8_lossy(bytes);
            let Some(url) = classify(&text) else { return };
            // What is shown carries no password of its own (a path may hold any text).
            if let Ok(shown) = url::Url::parse(&url.shown) {
                assert!(shown.password().is_none_or(|p| p == "***"), "{}", url.shown);
            }
            let modern = url.modern();
            let again = classify(&modern)
                .unwrap_or_else(|| panic!("{modern} (from {text}) is not understood"));
            assert_eq!((&again.org, &again.repo), (&url.org, &url.repo), "{modern}");
            assert!(!again.legacy_host, "{modern}");
        });
    }
}
