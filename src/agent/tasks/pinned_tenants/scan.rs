//! Finding tenant ids pinned in the JSON-with-comments files editors keep in repositories
//! (`.vscode/mcp.json`, `.devcontainer/devcontainer.json`, `.vscode/settings.json`, ...).
//!
//! The files allow comments and trailing commas, so they are not parsed as JSON: a small lexer
//! reads their string tokens (skipping `//` and `/* */` comments) and the punctuation between
//! them, and two shapes are recognised:
//! - the setting `"adoCodespacesAuth.tenantID": "<tenant>"` (the ADO Codespaces Auth extension);
//! - in an argument list that runs the Azure DevOps MCP server (`"@azure-devops/mcp[@version]"`),
//!   `"--tenant", "<tenant>"`, `"-t", "<tenant>"` or `"--tenant=<tenant>"`; the argument right
//!   after the package is the organization, when it is a plain name.
//!
//! Each pin carries the byte range of the tenant id, so a rewrite replaces exactly that text and
//! keeps every other byte.

use std::ops::Range;

/// One tenant id pinned in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pin {
    /// The tenant id as written.
    pub tenant: String,
    /// Where it is in the file.
    pub range: Range<usize>,
    /// The organization the pin is for, when the file names it.
    pub org: Option<String>,
    /// What pins it, for people.
    pub what: &'static str,
}

/// A token of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A string: its value (`None` when it has escapes: no pin has them) and the range of its
    /// contents between the quotes.
    Str(Option<String>, Range<usize>),
    Punct(u8),
}

fn tokens(text: &str) -> Vec<Token> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let start = i + 1;
                let mut j = start;
                let mut escaped = false;
                while j < bytes.len() && bytes[j] != b'"' {
                    if bytes[j] == b'\\' {
                        escaped = true;
                        j += 1;
                    }
                    j += 1;
                }
                let end = j.min(bytes.len());
                let value = (!escaped).then(|| text[start..end].to_string());
                out.push(Token::Str(value, start..end));
                i = j + 1;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            c @ (b'{' | b'}' | b'[' | b']' | b':' | b',') => {
                out.push(Token::Punct(c));
                i += 1;
            }
            _ => i += 1,
        }
    }
    out
}

/// True for a tenant id: a GUID (a tenant's domain name is not pinned by these tools' docs, and
/// rewriting one is not safe to guess).
pub(crate) fn is_guid(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The MCP server's package, with or without a version.
fn is_mcp_package(value: &str) -> bool {
    value == "@azure-devops/mcp" || value.starts_with("@azure-devops/mcp@")
}

/// The tenant ids pinned in `text`.
pub(crate) fn pins(text: &str) -> Vec<Pin> {
    let tokens = tokens(text);
    let value = |i: usize| match tokens.get(i) {
        Some(Token::Str(Some(v), range)) => Some((v.as_str(), range.clone())),
        _ => None,
    };
    let punct = |i: usize, c: u8| tokens.get(i) == Some(&Token::Punct(c));
    let mut pins = Vec::new();
    // The argument list we are in runs the MCP server (depth of the `[` that opened it), and
    // the organization it names.
    let mut depth = 0usize;
    let mut mcp: Option<(usize, Option<String>)> = None;
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::Punct(b'[') => depth += 1,
            Token::Punct(b']') => {
                if mcp.as_ref().is_some_and(|(d, _)| *d == depth) {
                    mcp = None;
                }
                depth = depth.saturating_sub(1);
            }
            Token::Str(Some(v), _) if v == "adoCodespacesAuth.tenantID" && punct(i + 1, b':') => {
                if let Some((tenant, range)) = value(i + 2).filter(|(t, _)| is_guid(t)) {
                    pins.push(Pin {
                        tenant: tenant.to_string(),
                        range,
                        org: None,
                        what: "the ADO Codespaces Auth setting adoCodespacesAuth.tenantID",
                    });
                }
            }
            Token::Str(Some(v), _) if depth > 0 && is_mcp_package(v) => {
                let org = value(i + 2)
                    .filter(|_| punct(i + 1, b','))
                    .map(|(o, _)| o)
                    .filter(|o| {
                        !o.is_empty() && o.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    })
                    .map(str::to_ascii_lowercase);
                mcp = Some((depth, org));
            }
            Token::Str(Some(v), range) if mcp.is_some() => {
                let org = mcp.as_ref().and_then(|(_, org)| org.clone());
                let what = "the Azure DevOps MCP server's --tenant argument";
                if (v == "--tenant" || v == "-t") && punct(i + 1, b',') {
                    if let Some((tenant, range)) = value(i + 2).filter(|(t, _)| is_guid(t)) {
                        pins.push(Pin {
                            tenant: tenant.to_string(),
                            range,
                            org,
                            what,
                        });
                    }
                } else if let Some(tenant) = v
                    .strip_prefix("--tenant=")
                    .or_else(|| v.strip_prefix("-t="))
                    .filter(|t| is_guid(t))
                {
                    let start = range.end - tenant.len();
                    pins.push(Pin {
                        tenant: tenant.to_string(),
                        range: start..range.end,
                        org,
                        what,
                    });
                }
            }
            _ => {}
        }
    }
    pins
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "11111111-1111-1111-1111-111111111111";

    #[test]
    fn mcp_arguments_and_the_codespaces_setting_are_found_with_their_ranges() {
        let text = format!(
            r#"{{
  // the team's servers
  "servers": {{
    "ado": {{ "type": "stdio", "command": "npx",
      "args": ["-y", "@azure-devops/mcp@2.2.0", "Contoso", "--tenant", "{T}", "-d", "core",],
    }},
    "other": {{ "command": "x", "args": ["--tenant", "{T}"] }},
    /* "ado2": {{ "args": ["@azure-devops/mcp", "x", "--tenant", "{T}"] }} */
    "ado3": {{ "args": ["-y", "@azure-devops/mcp", "${{input:ado_org}}", "--tenant={T}"] }}
  }},
  "customizations": {{ "vscode": {{ "settings": {{ "adoCodespacesAuth.tenantID": "{T}" }} }} }}
}}"#
        );
        let found = pins(&text);
        assert_eq!(found.len(), 3, "{found:#?}");
        for pin in &found {
            assert_eq!(&text[pin.range.clone()], T);
        }
        assert_eq!(found[0].org.as_deref(), Some("contoso"));
        assert_eq!(
            found[1].org, None,
            "an input placeholder is no organization"
        );
        assert!(found[2].what.contains("adoCodespacesAuth"));
    }

    #[test]
    fn look_alikes_are_not_pins() {
        for text in [
            format!(r#"{{"args": ["--tenant", "{T}"]}}"#),
            r#"{"args": ["@azure-devops/mcp", "c", "--tenant", "contoso.onmicrosoft.com"]}"#
                .to_string(),
            format!(r#"{{"adoCodespacesAuth.tenantID": "x{T}"}}"#),
            format!(r#"{{"note": "adoCodespacesAuth.tenantID", "v": "{T}"}}"#),
            "{\"unterminated: \"".to_string(),
        ] {
            assert!(pins(&text).is_empty(), "{text}");
        }
        assert!(is_guid(T) && !is_guid("1111-1111") && !is_guid(&T.replace('1', "g")));
    }

    /// Fuzz (#19): whatever a repository's MCP or dev-container file holds, every pin found is
    /// a GUID at exactly the bytes it names (the rewrite replaces only those).
    #[test]
    fn fuzz_pinned_tenant_files() {
        let seeds: &[&[u8]] = &[
            b"{\n  // comment\n  \"servers\": { \"ado\": { \"command\": \"npx\", \"args\": [\"-y\", \"@azure-devops/mcp\", \"contoso\", \"--tenant\", \"11111111-1111-1111-1111-111111111111\"] } }\n}\n",
            b"{ \"customizations\": { \"codespaces\": {} }, \"adoCodespacesAuth.tenantID\": \"11111111-1111-1111-1111-111111111111\", /* x */ }",
            b"{\"args\": [\"@azure-devops/mcp\", \"-t\", \"11111111-1111-1111-1111-111111111111\", \"--tenant=22222222-2222-2222-2222-222222222222\"]}",
        ];
        let dictionary: &[&[u8]] = &[
            b"\"--tenant\"",
            b"\"-t\"",
            b"\"@azure-devops/mcp\"",
            b"//",
            b"/*",
            b"*/",
            b"\\\"",
            b"\"",
            b"[",
            b"]",
            b"{",
            b"}",
            b",",
            T.as_bytes(),
        ];
        crate::fuzz::run("pinned-tenant files", seeds, dictionary, |bytes| {
            let Ok(text) = std::str::from_utf8(bytes) else {
                return;
            };
            for pin in pins(text) {
                let at = text
                    .get(pin.range.clone())
                    .expect("the pin's range is in the file");
                assert_eq!(at, pin.tenant, "{pin:?}");
                assert!(is_guid(&pin.tenant), "{pin:?}");
            }
        });
    }
}
