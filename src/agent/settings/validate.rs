//! Checks one configuration value and turns it into its resolved form, or says what is wrong
//! and how to fix it.

use std::path::{Path, PathBuf};

use super::keys::{self, Key};

/// A value as a layer supplied it, before checking.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Raw {
    Text(String),
    List(Vec<String>),
    Bool(bool),
}

/// A checked value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Text(String),
    List(Vec<String>),
    Path(PathBuf),
    Bool(bool),
}

/// What is wrong with a value: the problem and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    pub problem: String,
    pub hint: String,
}

fn invalid(problem: impl Into<String>, hint: impl Into<String>) -> Invalid {
    Invalid {
        problem: problem.into(),
        hint: hint.into(),
    }
}

/// Checks `raw` for `key`. A relative path is taken relative to `base`.
pub(crate) fn check(key: &Key, raw: Raw, base: &Path) -> Result<Value, Invalid> {
    if key.kind == keys::Kind::Bool {
        return match raw {
            Raw::Bool(b) => Ok(Value::Bool(b)),
            Raw::Text(text) => match text.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(Value::Bool(true)),
                "false" | "0" | "no" | "off" => Ok(Value::Bool(false)),
                _ => Err(invalid(
                    format!("`{text}` is not true or false"),
                    format!("set {} to true or false", key.name),
                )),
            },
            Raw::List(_) => Err(invalid(
                format!("`{}` must be true or false, not a list", key.name),
                format!("write it as {} = true", key.name),
            )),
        };
    }
    match (key.name, raw) {
        (name, Raw::List(items)) if name == keys::ORGANIZATIONS.name => {
            let mut orgs: Vec<String> = Vec::new();
            for item in items {
                let org = organization(&item)?;
                if !orgs.iter().any(|o| o.eq_ignore_ascii_case(&org)) {
                    orgs.push(org);
                }
            }
            Ok(Value::List(orgs))
        }
        (_, Raw::List(items)) if key.kind == keys::Kind::List => Ok(Value::List(
            items
                .iter()
                .map(|item| item.trim().to_string())
                .filter(|item| !item.is_empty())
                .collect(),
        )),
        (name, Raw::Text(text))
            if name == keys::EXPECTED_TENANT.name || name == keys::ENTRA_TENANT.name =>
        {
            tenant(key, &text)
        }
        (name, Raw::Text(text)) if name == keys::ENTRA_CLIENT_ID.name => client_id(&text),
        (name, Raw::Text(text)) if name == keys::SSH_KEY_CREATE.name => {
            choice(key, &text, &["auto", "always", "never"])
        }
        (name, Raw::Text(text)) if name == keys::SSH_KEY_TYPE.name => {
            choice(key, &text, &["rsa", "ed25519"])
        }
        (name, Raw::Text(text)) if name == keys::SSH_KEY_PASSPHRASE.name => {
            choice(key, &text, &["optional", "required", "none"])
        }
        (name, Raw::Text(text)) if name == keys::SSH_KEY_REGISTRATION.name => {
            choice(key, &text, &["api", "guided"])
        }
        (name, Raw::Text(text)) if name == keys::SSH_KEY_BITS.name => {
            number(key, &text, &[3072, 4096], "3072 or 4096")
        }
        (name, Raw::Text(text)) if name == keys::PAT_SCOPES.name => scopes(&text),
        (name, Raw::Text(text)) if name == keys::PAT_VALID_DAYS.name => {
            let days: Vec<u32> = (1..=365).collect();
            number(key, &text, &days, "a whole number of days from 1 to 365")
        }
        (name, Raw::Text(text)) if name == keys::SSH_KEY_VALID_DAYS.name => {
            let days: Vec<u32> = (1..=365).collect();
            number(
                key,
                &text,
                &days,
                "a whole number of days from 1 to 365 (Azure DevOps keeps SSH keys at most a year)",
            )
        }
        (name, Raw::Text(text)) if name == keys::REPORT_ENDPOINT.name => endpoint(&text),
        (name, Raw::Text(text)) if name == keys::REPORT_GROUP.name => group(&text),
        (_, Raw::Text(text)) if key.kind == keys::Kind::Path => {
            let path = PathBuf::from(text.trim());
            Ok(Value::Path(if path.is_absolute() {
                path
            } else {
                base.join(path)
            }))
        }
        (_, Raw::Text(_)) => Err(invalid(
            format!(
                "`{}` must be a list of strings, not a single string",
                key.name
            ),
            format!("write it as a list, e.g. {} = [\"contoso\"]", key.name),
        )),
        (_, Raw::Bool(_)) => Err(invalid(
            format!("`{}` must be a string, not true/false", key.name),
            format!("write it as one quoted string, e.g. {} = \"...\"", key.name),
        )),
        (_, Raw::List(_)) => Err(invalid(
            format!("`{}` must be a string, not a list", key.name),
            format!("write it as one quoted string, e.g. {} = \"...\"", key.name),
        )),
    }
}

/// A rollout group's name: what the server keeps (trimmed, 1 to 100 bytes, no control
/// characters), refused rather than changed so the dashboard shows what the admin wrote.
fn group(text: &str) -> Result<Value, Invalid> {
    let name = text.trim();
    let limit = crate::report::limits::GROUP;
    if name.is_empty() {
        return Err(invalid(
            "`report.group` is empty",
            "give the group's name, e.g. report.group = \"wave 1\", or leave the setting out",
        ));
    }
    if name.len() > limit || name.chars().any(char::is_control) {
        return Err(invalid(
            format!("`report.group` must be at most {limit} bytes without control characters"),
            "use a short name, e.g. report.group = \"wave 1\"",
        ));
    }
    Ok(Value::Text(name.to_string()))
}

/// An Azure DevOps organization name: letters, digits and hyphens, not starting or ending with
/// a hyphen, at most 50 characters.
pub(crate) fn organization(text: &str) -> Result<String, Invalid> {
    let name = text.trim();
    let url_like = name.contains("://") || name.contains('/') || name.contains('.');
    let valid = !name.is_empty()
        && name.len() <= 50
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if valid {
        Ok(name.to_string())
    } else if url_like {
        Err(invalid(
            format!("`{name}` is not an organization name"),
            "use the organization's name alone: for https://dev.azure.com/contoso that is \"contoso\"",
        ))
    } else {
        Err(invalid(
            format!("`{name}` is not a valid Azure DevOps organization name"),
            "organization names use letters, digits and hyphens (at most 50), e.g. \"contoso\"",
        ))
    }
}

/// One of a few words, compared without case.
fn choice(key: &Key, text: &str, words: &[&str]) -> Result<Value, Invalid> {
    let word = text.trim().to_ascii_lowercase();
    if words.contains(&word.as_str()) {
        Ok(Value::Text(word))
    } else {
        Err(invalid(
            format!("`{}` is not a valid value for {}", text.trim(), key.name),
            format!("set {} to one of: {}", key.name, words.join(", ")),
        ))
    }
}

/// A whole number from `allowed`.
fn number(key: &Key, text: &str, allowed: &[u32], what: &str) -> Result<Value, Invalid> {
    match text.trim().parse::<u32>() {
        Ok(n) if allowed.contains(&n) => Ok(Value::Text(n.to_string())),
        _ => Err(invalid(
            format!("`{}` is not a valid value for {}", text.trim(), key.name),
            format!("set {} to {what}", key.name),
        )),
    }
}

/// Personal access token scopes: `vso.*` names separated by spaces (full access, `app_token`,
/// is refused: organizations' policies forbid it and it is never needed for git).
fn scopes(text: &str) -> Result<Value, Invalid> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let valid = !words.is_empty()
        && words.iter().all(|w| {
            w.strip_prefix("vso.").is_some_and(|rest| {
                !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            })
        });
    if valid {
        Ok(Value::Text(words.join(" ")))
    } else {
        Err(invalid(
            format!("`{}` is not a list of token scopes", text.trim()),
            "write scopes such as \"vso.code_write vso.packaging\" (space-separated; full access is not offered)",
        ))
    }
}

/// An Entra application (client) id: a GUID.
fn client_id(text: &str) -> Result<Value, Invalid> {
    match uuid::Uuid::try_parse(text.trim()) {
        Ok(id) if !id.is_nil() => Ok(Value::Text(id.hyphenated().to_string())),
        _ => Err(invalid(
            format!("`{}` is not an application (client) id", text.trim()),
            "use the Application (client) ID GUID from the app registration's Overview page (docs/entra-app.md)",
        )),
    }
}

fn tenant(key: &Key, text: &str) -> Result<Value, Invalid> {
    let text = text.trim();
    match uuid::Uuid::try_parse(text) {
        Ok(id) if !id.is_nil() => Ok(Value::Text(id.hyphenated().to_string())),
        Ok(_) => Err(invalid(
            format!(
                "`{}` is the all-zero GUID, which stands for personal Microsoft accounts, not a tenant",
                key.name
            ),
            "use the Tenant ID shown on the Overview page of the Microsoft Entra admin center",
        )),
        Err(_) => Err(invalid(
            format!("`{text}` is not a tenant id"),
            "a tenant id is a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47; it is on the Overview page of the Microsoft Entra admin center",
        )),
    }
}

fn endpoint(text: &str) -> Result<Value, Invalid> {
    let text = text.trim();
    let hint = "use the server's https:// address, e.g. \"https://ado-cutover.example.com\"";
    let url = url::Url::parse(text).map_err(|_| invalid(format!("`{text}` is not a URL"), hint))?;
    let loopback = matches!(url.host(), Some(url::Host::Domain("localhost")))
        || matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
        || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback());
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(invalid(
                format!("`{text}` is plain http; reports would cross the network unencrypted"),
                hint,
            ));
        }
        _ => return Err(invalid(format!("`{text}` is not an http(s) URL"), hint)),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "the report endpoint must not carry credentials in its URL",
            "remove the user name and password from the URL; the agent authenticates with report.enrollment_token_file",
        ));
    }
    Ok(Value::Text(url.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organizations_are_deduplicated_case_insensitively() {
        let value = check(
            &keys::ORGANIZATIONS,
            Raw::List(vec![
                "contoso".into(),
                " Contoso ".into(),
                "fab-rikam".into(),
            ]),
            Path::new("."),
        )
        .unwrap();
        assert_eq!(
            value,
            Value::List(vec!["contoso".into(), "fab-rikam".into()])
        );
    }

    #[test]
    fn an_organization_url_gets_a_hint_to_use_the_name() {
        let err = organization("https://dev.azure.com/contoso").unwrap_err();
        assert!(err.hint.contains("\"contoso\""), "{err:?}");
        assert!(organization("-bad").is_err());
        assert!(organization(&"a".repeat(51)).is_err());
        assert_eq!(organization("Contoso-2").unwrap(), "Contoso-2");
    }

    #[test]
    fn tenant_must_be_a_non_nil_guid() {
        assert!(tenant(&keys::EXPECTED_TENANT, "not-a-guid").is_err());
        assert!(
            tenant(
                &keys::EXPECTED_TENANT,
                "00000000-0000-0000-0000-000000000000"
            )
            .is_err()
        );
        assert_eq!(
            tenant(
                &keys::EXPECTED_TENANT,
                "72F988BF-86F1-41AF-91AB-2D7CD011DB47"
            )
            .unwrap(),
            Value::Text("72f988bf-86f1-41af-91ab-2d7cd011db47".into())
        );
    }

    #[test]
    fn endpoint_must_be_https_except_on_loopback() {
        assert!(endpoint("https://reports.example.com").is_ok());
        assert!(endpoint("http://127.0.0.1:8080").is_ok());
        assert!(endpoint("http://localhost:8080").is_ok());
        assert!(endpoint("http://reports.example.com").is_err());
        assert!(endpoint("ftp://reports.example.com").is_err());
        assert!(endpoint("https://user:pw@reports.example.com").is_err());
        assert!(endpoint("reports").is_err());
    }

    #[test]
    fn a_group_is_kept_as_written_or_refused_with_a_hint() {
        let base = Path::new(".");
        let text = |raw: &str| check(&keys::REPORT_GROUP, Raw::Text(raw.into()), base);
        assert_eq!(text("  wave 2 "), Ok(Value::Text("wave 2".into())));
        for bad in ["", "   ", "wave\u{7}2"] {
            let err = text(bad).unwrap_err();
            assert!(err.hint.contains("report.group = \"wave 1\""), "{err:?}");
        }
        assert!(text(&"g".repeat(101)).is_err());
        assert!(text(&"g".repeat(100)).is_ok());
    }

    #[test]
    fn relative_paths_are_taken_from_the_base() {
        let value = check(
            &keys::ENROLLMENT_TOKEN_FILE,
            Raw::Text("token.txt".into()),
            Path::new("/etc/ado-cutover"),
        )
        .unwrap();
        assert_eq!(
            value,
            Value::Path(PathBuf::from("/etc/ado-cutover/token.txt"))
        );
    }

    #[test]
    fn booleans_from_toml_and_environment() {
        let key = &keys::SIGN_OUT_MICROSOFT;
        let base = Path::new(".");
        assert_eq!(
            check(key, Raw::Bool(true), base).unwrap(),
            Value::Bool(true)
        );
        assert_eq!(
            check(key, Raw::Text("Yes".into()), base).unwrap(),
            Value::Bool(true)
        );
        assert_eq!(
            check(key, Raw::Text("0".into()), base).unwrap(),
            Value::Bool(false)
        );
        assert!(check(key, Raw::Text("maybe".into()), base).is_err());
        assert!(check(&keys::EXPECTED_TENANT, Raw::Bool(true), base).is_err());
    }

    #[test]
    fn wrong_shapes_are_explained() {
        let err = check(
            &keys::ORGANIZATIONS,
            Raw::Text("contoso".into()),
            Path::new("."),
        )
        .unwrap_err();
        assert!(err.problem.contains("list"), "{err:?}");
        let err = check(&keys::EXPECTED_TENANT, Raw::List(vec![]), Path::new(".")).unwrap_err();
        assert!(err.problem.contains("not a list"), "{err:?}");
    }
}
