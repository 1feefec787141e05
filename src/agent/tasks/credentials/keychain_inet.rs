//! macOS: the internet passwords git's own `osxkeychain` helper keeps in the login keychain
//! (Apple's git sets `credential.helper = osxkeychain` system-wide). They are "internet
//! password" items (server, account, path, protocol `htps`), not the generic passwords Git
//! Credential Manager writes, so the keyring crate does not list them.
//!
//! Listed with `security dump-keychain` (attributes only; without `-d` no secret is read or
//! prompted for) and deleted with `security delete-internet-password` naming the item's
//! server, account, protocol, path and port. That command deletes the first item that matches
//! what it is given, so an item is deleted only when no other item in its keychain matches the
//! same query (a path-less item beside one with a path for the same account would be
//! ambiguous): otherwise the person is told which item to remove in Keychain Access.
//!
//! The parsing and the exactness rule are plain code, tested on every OS; the listing
//! (`platform::keychain_dump`) and the deletion (the engine) run `security` on macOS only.
// Built everywhere so its tests run everywhere; only macOS calls it.
#![cfg_attr(not(target_os = "macos"), allow(dead_code))]

use std::path::PathBuf;

use super::{Candidate, Owner, owner_of_url};
use crate::agent::tasks::{Action, Finding};

/// One internet password, by its attributes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct InetItem {
    pub keychain: PathBuf,
    pub server: String,
    pub account: String,
    /// `None` when the item has no path (`credential.useHttpPath` off).
    pub path: Option<String>,
    pub protocol: String,
    pub port: u32,
}

impl InetItem {
    /// The URL it is for, without the secret.
    fn url(&self) -> String {
        let port = if self.port == 0 {
            String::new()
        } else {
            format!(":{}", self.port)
        };
        let path = self.path.as_deref().unwrap_or("");
        let slash = if path.is_empty() || path.starts_with('/') {
            ""
        } else {
            "/"
        };
        format!("https://{}{port}{slash}{path}", self.server)
    }

    /// True when a delete query built from `self` would also match `other`.
    fn query_matches(&self, other: &InetItem) -> bool {
        self.keychain == other.keychain
            && self.server.eq_ignore_ascii_case(&other.server)
            && self.account == other.account
            && self.protocol == other.protocol
            && (self.path.is_none() || self.path == other.path)
            && (self.port == 0 || self.port == other.port)
    }

    /// The arguments of `security delete-internet-password` for exactly this item.
    pub(crate) fn delete_args(&self) -> Vec<String> {
        let mut args = vec![
            "delete-internet-password".to_string(),
            "-s".into(),
            self.server.clone(),
            "-a".into(),
            self.account.clone(),
            "-r".into(),
            self.protocol.clone(),
        ];
        if let Some(path) = &self.path {
            args.extend(["-p".into(), path.clone()]);
        }
        if self.port != 0 {
            args.extend(["-P".into(), self.port.to_string()]);
        }
        args.push(self.keychain.display().to_string());
        args
    }
}

/// The value of one attribute line's right-hand side: `"text"`, `0x<hex>  "text"` or `<NULL>`.
fn value(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if let Some(hex) = raw.strip_prefix("0x") {
        let hex: String = hex.chars().take_while(char::is_ascii_hexdigit).collect();
        let bytes: Option<Vec<u8>> = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
            .collect();
        return bytes.and_then(|b| String::from_utf8(b).ok());
    }
    let inner = raw.strip_prefix('"')?.rsplit_once('"')?.0;
    Some(inner.to_string())
}

/// The internet passwords in `security dump-keychain` output.
pub(crate) fn parse_dump(text: &str) -> Vec<InetItem> {
    let mut items = Vec::new();
    let mut keychain = PathBuf::new();
    let mut current: Option<Vec<(String, Option<String>)>> = None;
    let finish =
        |attrs: Vec<(String, Option<String>)>, keychain: &PathBuf, items: &mut Vec<InetItem>| {
            let get = |name: &str| {
                attrs
                    .iter()
                    .find(|(n, _)| n == name)
                    .and_then(|(_, v)| v.clone())
            };
            let (Some(server), Some(account)) = (get("srvr"), get("acct")) else {
                return;
            };
            let port = get("port").and_then(|p| p.parse().ok()).unwrap_or(0);
            items.push(InetItem {
                keychain: keychain.clone(),
                server,
                account,
                path: get("path").filter(|p| !p.is_empty()),
                protocol: get("ptcl").unwrap_or_else(|| "htps".into()),
                port,
            });
        };
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("keychain:") {
            if let Some(attrs) = current.take() {
                finish(attrs, &keychain, &mut items);
            }
            keychain = PathBuf::from(value(rest).unwrap_or_default());
        } else if let Some(class) = trimmed.strip_prefix("class:") {
            if let Some(attrs) = current.take() {
                finish(attrs, &keychain, &mut items);
            }
            let class = class.trim();
            if class == "\"inet\"" || class == "0x696E6574" {
                current = Some(Vec::new());
            }
        } else if let (Some(attrs), Some(rest)) = (current.as_mut(), trimmed.strip_prefix('"')) {
            // `"acct"<blob>="alice"`; a port is `"port"<uint32>=0x000001BB `.
            let Some((name, rest)) = rest.split_once('"') else {
                continue;
            };
            let Some((kind, raw)) = rest.split_once('=') else {
                continue;
            };
            let parsed = if kind == "<uint32>" && name == "port" {
                raw.trim()
                    .strip_prefix("0x")
                    .and_then(|h| u32::from_str_radix(h.trim(), 16).ok())
                    .map(|p| p.to_string())
            } else {
                value(raw)
            };
            attrs.push((name.to_string(), parsed));
        }
    }
    if let Some(attrs) = current.take() {
        finish(attrs, &keychain, &mut items);
    }
    items
}

/// The Azure DevOps internet passwords among `items`, each with its owner and what to do.
pub(crate) fn candidates_of(items: &[InetItem]) -> Vec<Candidate> {
    items
        .iter()
        .filter_map(|item| {
            if item.protocol != "htps" {
                return None;
            }
            let parsed = url::Url::parse(&item.url()).ok()?;
            let mut with_user = parsed.clone();
            let _ = with_user.set_username(&item.account);
            let owner = owner_of_url(&with_user).ok()?;
            let ambiguous = items.iter().any(|other| other != item && item.query_matches(other));
            let shown = format!("{} ({})", item.url(), item.account);
            let whose = match &owner {
                Owner::Org(org) => format!(" for {org}"),
                _ => String::new(),
            };
            let (detail, action) = if ambiguous {
                (
                    format!(
                        "a password git's osxkeychain helper saved{whose} in the keychain; another item there answers to the same name, so ado-cutover cannot delete this one alone: remove the internet password for {shown} in Keychain Access"
                    ),
                    Action::NeedsUser,
                )
            } else {
                (
                    format!("a password git's osxkeychain helper saved{whose} in the keychain"),
                    Action::DeleteInternetPassword(item.clone()),
                )
            };
            Some(Candidate {
                owner,
                finding: Finding {
                    kind: "macos-keychain-internet-password",
                    target: format!("keychain: {shown}"),
                    detail,
                    action,
                },
            })
        })
        .collect()
}

/// The login keychain's Azure DevOps internet passwords (macOS; never in a sandbox, whose
/// keychain would be this machine's real one). The listing is the platform layer's.
#[cfg(target_os = "macos")]
pub(super) fn candidates(cx: &crate::agent::tasks::Context<'_>) -> Vec<Candidate> {
    if cx.paths.sandbox.is_some() {
        return Vec::new();
    }
    crate::agent::platform::keychain_dump()
        .map(|dump| candidates_of(&parse_dump(&dump)))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = r#"keychain: "/Users/alice/Library/Keychains/login.keychain-db"
version: 512
class: "inet"
attributes:
    0x00000007 <blob>="dev.azure.com"
    "acct"<blob>="alice@contoso.com"
    "path"<blob>="contoso/project/_git/repo"
    "port"<uint32>=0x00000000 
    "ptcl"<uint32>="htps"
    "srvr"<blob>="dev.azure.com"
keychain: "/Users/alice/Library/Keychains/login.keychain-db"
version: 512
class: "inet"
attributes:
    "acct"<blob>=0x66616272696B616D  "fabrikam"
    "path"<blob>=<NULL>
    "port"<uint32>=0x00000000 
    "ptcl"<uint32>="htps"
    "srvr"<blob>="dev.azure.com"
keychain: "/Users/alice/Library/Keychains/login.keychain-db"
version: 512
class: "genp"
attributes:
    "acct"<blob>="alice"
    "svce"<blob>="git:https://dev.azure.com/contoso"
keychain: "/Users/alice/Library/Keychains/login.keychain-db"
version: 512
class: "inet"
attributes:
    "acct"<blob>="alice"
    "path"<blob>=<NULL>
    "port"<uint32>=0x000020FB 
    "ptcl"<uint32>="htps"
    "srvr"<blob>="dev.azure.com"
keychain: "/Users/alice/Library/Keychains/login.keychain-db"
version: 512
class: "inet"
attributes:
    "acct"<blob>="alice"
    "path"<blob>=<NULL>
    "ptcl"<uint32>="htps"
    "srvr"<blob>="github.com"
"#;

    #[test]
    fn internet_passwords_are_read_from_the_dump_without_secrets() {
        let items = parse_dump(DUMP);
        assert_eq!(items.len(), 4, "{items:#?}");
        assert_eq!(items[0].path.as_deref(), Some("contoso/project/_git/repo"));
        assert_eq!(items[1].account, "fabrikam", "hex-encoded value");
        assert_eq!(items[1].path, None);
        assert_eq!(items[2].port, 8443);
        assert_eq!(
            items[0].delete_args(),
            [
                "delete-internet-password",
                "-s",
                "dev.azure.com",
                "-a",
                "alice@contoso.com",
                "-r",
                "htps",
                "-p",
                "contoso/project/_git/repo",
                "/Users/alice/Library/Keychains/login.keychain-db"
            ]
        );
    }

    #[test]
    fn only_azure_devops_items_are_candidates_and_ambiguous_ones_are_left_to_the_person() {
        let items = parse_dump(DUMP);
        let found = candidates_of(&items);
        // github.com and the non-default port are not Azure DevOps.
        assert_eq!(
            found.len(),
            2,
            "{:#?}",
            found.iter().map(|c| &c.finding).collect::<Vec<_>>()
        );
        assert_eq!(found[0].owner, Owner::Org("contoso".into()));
        assert!(matches!(
            found[0].finding.action,
            Action::DeleteInternetPassword(_)
        ));
        assert_eq!(found[1].owner, Owner::MaybeOrg("fabrikam".into()));
        // A path-less item beside one with a path for the same account cannot be named alone.
        let mut twins = items[..1].to_vec();
        twins.push(InetItem {
            path: None,
            ..items[0].clone()
        });
        let found = candidates_of(&twins);
        assert!(matches!(
            found[0].finding.action,
            Action::DeleteInternetPassword(_)
        ));
        assert_eq!(found[1].finding.action, Action::NeedsUser);
        assert!(found[1].finding.detail.contains("Keychain Access"));
    }

    /// Fuzz (#19): whatever `security dump-keychain` prints, it is read without a panic.
    #[test]
    fn fuzz_keychain_dump() {
        let dictionary: &[&[u8]] = &[
            b"keychain: ",
            b"class: \"inet\"\n",
            b"attributes:\n",
            b"<blob>=",
            b"<uint32>=",
            b"0x",
            b"<NULL>",
            b"\"",
            b"\n    ",
        ];
        crate::fuzz::run("keychain dump", &[DUMP.as_bytes()], dictionary, |bytes| {
            let _ = parse_dump(&String::from_utf8_lossy(bytes));
        });
    }
}
