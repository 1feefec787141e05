//! Old tokens outside git: Azure Artifacts feed credentials and personal access tokens kept in
//! package-manager and shell files. Found and reported, never changed: each file has its own
//! format and owner tool, and the fix is a new token from the new identity. Never shows a value.

use std::path::{Path, PathBuf};

use super::{Action, Context, Finding};
use crate::agent::paths::Paths;

/// Environment variables that hold Azure DevOps tokens by convention.
const TOKEN_VARS: &[&str] = &[
    "AZURE_DEVOPS_EXT_PAT",
    "AZURE_DEVOPS_PAT",
    "ADO_PAT",
    "VSS_NUGET_ACCESSTOKEN",
    "SYSTEM_ACCESSTOKEN",
];

/// What a file line holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hit {
    pub line: usize,
    /// The organization, when the line names a feed.
    pub org: Option<String>,
    pub what: &'static str,
}

/// The files users keep such tokens in, with how to replace them.
fn files(paths: &Paths, config_home: &Path) -> Vec<(PathBuf, &'static str)> {
    let home = &paths.home;
    vec![
        (
            home.join(".npmrc"),
            "create a new token for the feed and run `npm login` (or vsts-npm-auth) again",
        ),
        (
            home.join(".pypirc"),
            "put a new token from the feed's Connect page in its place",
        ),
        (
            config_home.join("pip").join("pip.conf"),
            "put a new token in the index URL, or use artifacts-keyring",
        ),
        (
            config_home.join("pip").join("pip.ini"),
            "put a new token in the index URL, or use artifacts-keyring",
        ),
        (
            home.join(".pip").join("pip.conf"),
            "put a new token in the index URL, or use artifacts-keyring",
        ),
        (
            config_home.join("NuGet").join("NuGet.Config"),
            "remove the stored password and let the Azure Artifacts credential provider sign in",
        ),
        (
            home.join(".nuget").join("NuGet").join("NuGet.Config"),
            "remove the stored password and let the Azure Artifacts credential provider sign in",
        ),
        (
            home.join(".m2").join("settings.xml"),
            "put a new personal access token in the <server> entry",
        ),
        (
            home.join(".bashrc"),
            "create a new personal access token and set it there",
        ),
        (
            home.join(".zshrc"),
            "create a new personal access token and set it there",
        ),
        (
            home.join(".profile"),
            "create a new personal access token and set it there",
        ),
        (
            home.join(".env"),
            "create a new personal access token and set it there",
        ),
    ]
}

/// The organization of the first Azure Artifacts URL in `line`: `pkgs.dev.azure.com/<org>/…`
/// or `<org>.pkgs.visualstudio.com`, matched as whole host names.
fn feed_org(line: &str) -> Option<Option<String>> {
    let lower = line.to_ascii_lowercase();
    let is_org_char = |c: char| c.is_ascii_alphanumeric() || c == '-';
    let boundary_before = |at: usize| {
        lower[..at]
            .chars()
            .next_back()
            .is_none_or(|c| "/@\"'= \t".contains(c))
    };
    for (at, _) in lower.match_indices("pkgs.dev.azure.com/") {
        if boundary_before(at) {
            let org: String = lower[at + "pkgs.dev.azure.com/".len()..]
                .chars()
                .take_while(|c| is_org_char(*c))
                .collect();
            return Some((!org.is_empty()).then_some(org));
        }
    }
    for (at, suffix) in lower.match_indices(".pkgs.visualstudio.com") {
        let after = lower[at + suffix.len()..].chars().next();
        if after.is_some_and(|c| !"/:\"' ".contains(c)) {
            continue;
        }
        let start = lower[..at]
            .char_indices()
            .rev()
            .take_while(|(_, c)| is_org_char(*c))
            .last()
            .map_or(at, |(i, _)| i);
        if start < at && boundary_before(start) {
            return Some(Some(lower[start..at].to_string()));
        }
    }
    None
}

/// The organization of an Azure Artifacts feed URL (`pkgs.dev.azure.com/<org>/…` or
/// `<org>.pkgs.visualstudio.com`), lower case.
pub(crate) fn org_of_feed_url(url: &str) -> Option<String> {
    feed_org(url).flatten()
}

/// True when the line carries a secret value (noticed, never kept).
fn has_secret(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    [":_password=", ":_authtoken=", ":_auth=", "password"]
        .iter()
        .any(|marker| lower.contains(marker))
        || lower.split("://").skip(1).any(|rest| {
            let authority = rest.split(['/', '"', '\'', ' ']).next().unwrap_or("");
            authority.contains('@') && authority.split('@').next().is_some_and(|u| u.contains(':'))
        })
}

/// The lines of `text` that hold Azure DevOps tokens.
pub(crate) fn scan(text: &str) -> Vec<Hit> {
    let mut hits = Vec::new();
    let mut feed_in_file: Option<Option<String>> = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let assignment = trimmed.strip_prefix("export ").unwrap_or(trimmed);
        if TOKEN_VARS
            .iter()
            .any(|v| assignment.starts_with(&format!("{v}=")))
        {
            hits.push(Hit {
                line: n + 1,
                org: None,
                what: "a personal access token in an environment variable",
            });
            continue;
        }
        if let Some(org) = feed_org(line) {
            feed_in_file = Some(org.clone());
            if has_secret(line) {
                hits.push(Hit {
                    line: n + 1,
                    org,
                    what: "an Azure Artifacts feed credential",
                });
            }
            continue;
        }
        // XML and INI files keep the password on its own line, after the feed's URL.
        if let Some(org) = &feed_in_file {
            let lower = trimmed.to_ascii_lowercase();
            if lower.starts_with("password")
                || lower.contains("cleartextpassword")
                || lower.starts_with("<password>")
            {
                hits.push(Hit {
                    line: n + 1,
                    org: org.clone(),
                    what: "a stored password for an Azure Artifacts feed",
                });
            }
        }
    }
    hits
}

/// Every file that holds such tokens, with its hits and how to replace them.
fn hits(cx: &Context<'_>) -> Vec<(PathBuf, &'static str, Vec<Hit>)> {
    let config_home = if cfg!(windows) || cfg!(target_os = "macos") {
        cx.paths.config_home.clone()
    } else {
        cx.paths.home.join(".config")
    };
    files(cx.paths, &config_home)
        .into_iter()
        .filter_map(|(path, how)| {
            let text = crate::agent::fsutil::read_capped_text(&path).ok()?;
            let hits = scan(&text);
            (!hits.is_empty()).then_some((path, how, hits))
        })
        .collect()
}

/// The organizations whose feeds hold tokens.
pub(crate) fn orgs(cx: &Context<'_>) -> Vec<String> {
    hits(cx)
        .into_iter()
        .flat_map(|(_, _, hits)| hits.into_iter().filter_map(|h| h.org))
        .collect()
}

/// The Azure Artifacts feed URLs the package-manager files name (`https://` only, without any
/// user name or password in them), with their organization, each once.
pub(crate) fn feed_urls(cx: &Context<'_>) -> Vec<(String, String)> {
    let config_home = if cfg!(windows) || cfg!(target_os = "macos") {
        cx.paths.config_home.clone()
    } else {
        cx.paths.home.join(".config")
    };
    let mut urls: Vec<(String, String)> = Vec::new();
    for (path, _) in files(cx.paths, &config_home) {
        let Ok(text) = crate::agent::fsutil::read_capped_text(&path) else {
            continue;
        };
        for line in text.lines() {
            let trimmed = line.trim_start();
            if trimmed.starts_with('#') || trimmed.starts_with(';') {
                continue;
            }
            for found in urls_in(line) {
                if !urls.contains(&found) {
                    urls.push(found);
                }
            }
        }
    }
    urls
}

/// The feed URLs in one line: from `https://` to the first quote, space or `<`, user
/// information dropped, kept only when the host is Azure Artifacts'.
fn urls_in(line: &str) -> Vec<(String, String)> {
    line.match_indices("https://")
        .filter_map(|(at, _)| {
            let rest = &line[at + "https://".len()..];
            let end = rest
                .find(|c: char| c.is_whitespace() || "\"'<>;,".contains(c))
                .unwrap_or(rest.len());
            let rest = &rest[..end];
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit('@').next().unwrap_or(authority);
            let url = format!("https://{host}{path}");
            let org = feed_org(&url).flatten()?;
            Some((org, url))
        })
        .collect()
}

/// Findings for every token of an `in_scope` organization (or of no organization one can tell).
pub(crate) fn findings(cx: &Context<'_>, in_scope: &dyn Fn(&str) -> bool) -> Vec<Finding> {
    let mut found = Vec::new();
    for (path, how, hits) in hits(cx) {
        for hit in hits {
            if hit.org.as_deref().is_some_and(|org| !in_scope(org)) {
                continue;
            }
            let whose = hit
                .org
                .as_deref()
                .map(|o| format!(" for {o}"))
                .unwrap_or_default();
            found.push(Finding {
                kind: "token-elsewhere",
                target: format!("{}:{}", cx.paths.display(&path), hit.line),
                detail: format!(
                    "{}{whose}; it belongs to your old sign-in and stops working: {how}",
                    hit.what
                ),
                action: Action::NeedsUser,
            });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_urls_lose_their_credentials_and_look_alikes_are_not_feeds() {
        assert_eq!(
            urls_in("registry=https://pkgs.dev.azure.com/contoso/_packaging/f/npm/registry/"),
            [(
                "contoso".to_string(),
                "https://pkgs.dev.azure.com/contoso/_packaging/f/npm/registry/".to_string()
            )]
        );
        assert_eq!(
            urls_in(
                "index-url = https://u:SECRET@fabrikam.pkgs.visualstudio.com/_packaging/f/pypi/simple/"
            ),
            [(
                "fabrikam".to_string(),
                "https://fabrikam.pkgs.visualstudio.com/_packaging/f/pypi/simple/".to_string()
            )]
        );
        assert_eq!(
            urls_in("<add key=\"f\" value=\"https://pkgs.dev.azure.com/contoso/_packaging/f/nuget/v3/index.json\" />")[0].1,
            "https://pkgs.dev.azure.com/contoso/_packaging/f/nuget/v3/index.json"
        );
        assert!(urls_in("https://pkgs.dev.azure.com.evil.example/x/f").is_empty());
        assert!(urls_in("//pkgs.dev.azure.com/contoso/_packaging/f/:_password=S").is_empty());
    }

    #[test]
    fn finds_feed_credentials_and_token_variables_without_keeping_values() {
        let npmrc = "registry=https://pkgs.dev.azure.com/contoso/_packaging/feed/npm/registry/\n\
                     //pkgs.dev.azure.com/contoso/_packaging/feed/npm/registry/:_password=U0VDUkVU\n\
                     //registry.npmjs.org/:_authToken=npm_xyz\n";
        let hits = scan(npmrc);
        assert_eq!(
            hits,
            [Hit {
                line: 2,
                org: Some("contoso".into()),
                what: "an Azure Artifacts feed credential"
            }]
        );

        let pip = "[global]\nindex-url = https://user:SECRET@fabrikam.pkgs.visualstudio.com/_packaging/f/pypi/simple/\n";
        assert_eq!(scan(pip)[0].org.as_deref(), Some("fabrikam"));

        let nuget = "<packageSources>\n<add key=\"f\" value=\"https://pkgs.dev.azure.com/contoso/_packaging/f/nuget/v3/index.json\" />\n</packageSources>\n<packageSourceCredentials><f>\n<add key=\"Username\" value=\"u\" />\n<add key=\"ClearTextPassword\" value=\"SECRET\" />\n</f></packageSourceCredentials>\n";
        let hits = scan(nuget);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].line, 6);

        let bashrc = "# export AZURE_DEVOPS_EXT_PAT=old\nexport AZURE_DEVOPS_EXT_PAT=abc\nexport PATH=$PATH\n";
        assert_eq!(
            scan(bashrc),
            [Hit {
                line: 2,
                org: None,
                what: "a personal access token in an environment variable"
            }]
        );

        for look_alike in [
            "//evilpkgs.dev.azure.com/x/_packaging/f/:_password=S",
            "//pkgs.dev.azure.com.evil.example/x/:_password=S",
            "index-url = https://u:S@contoso.pkgs.visualstudio.com.evil.example/f",
            "//registry.npmjs.org/:_authToken=S",
        ] {
            assert!(scan(look_alike).is_empty(), "{look_alike}");
        }
    }
}
