//! Makes URLs safe to show: credentials inside a URL become `***`.
//!
//! A remote URL or a credential-store key can carry a personal access token, either as the
//! password (`https://user:TOKEN@host`) or as the whole user part (`https://TOKEN@host`). Passwords
//! are always hidden. A user name is kept when it reads like a name (an organization or an e-mail
//! address), because it helps people recognise the entry, and hidden when it looks like a token.

/// The text shown in place of a secret.
pub const MASK: &str = "***";

/// `url` with any password, and any user name that looks like a token, replaced by `***`.
/// Text that does not parse as a URL is returned with everything before the last `@` of its
/// authority hidden, so a malformed URL cannot leak either.
pub fn url(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut parsed) if parsed.has_host() => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some(MASK));
            }
            if looks_like_token(parsed.username()) {
                let _ = parsed.set_username(MASK);
            }
            parsed.to_string()
        }
        _ => hide_authority_userinfo(text),
    }
}

/// True for a user name that is probably a token: long, and nothing but letters and digits.
/// Azure DevOps PATs are 52 or 84 such characters; organization names are at most 50 and
/// e-mail addresses have `@`/`.`.
fn looks_like_token(user: &str) -> bool {
    user.len() >= 32 && user.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn hide_authority_userinfo(text: &str) -> String {
    let (scheme, rest) = match text.find("://") {
        Some(i) => text.split_at(i + 3),
        None => ("", text),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}{MASK}{}", &rest[at..]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_is_hidden() {
        assert_eq!(
            url("https://alice:s3cretPAT@dev.azure.com/contoso/p/_git/r"),
            "https://alice:***@dev.azure.com/contoso/p/_git/r"
        );
    }

    #[test]
    fn token_as_user_name_is_hidden() {
        let pat = "a".repeat(52);
        let shown = url(&format!("https://{pat}@dev.azure.com/contoso/_git/r"));
        assert_eq!(shown, "https://***@dev.azure.com/contoso/_git/r");
        assert!(!shown.contains(&pat));
    }

    #[test]
    fn organization_user_name_is_kept() {
        assert_eq!(
            url("https://contoso@dev.azure.com/contoso/p/_git/r"),
            "https://contoso@dev.azure.com/contoso/p/_git/r"
        );
    }

    #[test]
    fn unparsable_text_hides_userinfo() {
        assert_eq!(url("https://tok:en@[bad/x"), "https://***@[bad/x");
        assert_eq!(url("not a url"), "not a url");
    }
}
