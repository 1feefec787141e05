//! The Microsoft Authentication Library's token cache format (MSAL), as Git Credential Manager,
//! Visual Studio, the Azure Artifacts credential provider (the shared `.IdentityService` cache)
//! and the Azure CLI (`~/.azure/msal_token_cache.*`) keep it.
//!
//! A JSON object of sections (`Account`, `AccessToken`, `RefreshToken`, `IdToken`,
//! `AppMetadata`), each an object from a cache key to an entry. Entries name the account they
//! belong to (`home_account_id`, `<object id>.<home tenant id>`) and, except refresh tokens, the
//! tenant they were issued for (`realm`). Several tools and accounts share one cache, so a
//! cleanup removes single accounts, never the file: [`rewrite`] drops the entries of the chosen
//! accounts and keeps every other entry byte for byte (each is carried over as the raw JSON text
//! it was read as), and the sections and their order as they were.
//!
//! Nothing here returns a token: [`accounts`] reads only the `Account` section's names. Where a
//! cache lives and how it is read and written back is [`place`].

pub(crate) mod place;

use std::collections::BTreeSet;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// The tenant id of personal Microsoft accounts (MSA) in MSAL's caches.
pub(crate) const CONSUMERS_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// The sections whose entries belong to an account.
const ACCOUNT_SECTIONS: [&str; 4] = ["Account", "AccessToken", "RefreshToken", "IdToken"];

/// A JSON object read in order, each value kept as its raw text.
struct Ordered<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Ordered<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor;
        impl<'de> Visitor<'de> for OrderedVisitor {
            type Value = Ordered<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut entries = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, &'de RawValue>()? {
                    entries.push((key, value));
                }
                Ok(Ordered(entries))
            }
        }
        deserializer.deserialize_map(OrderedVisitor)
    }
}

/// The fields of an entry that say whose it is (every other field, the secret among them, is
/// never parsed).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Owner {
    home_account_id: String,
    realm: String,
    username: String,
}

impl Owner {
    fn home_tenant(&self) -> String {
        home_tenant(&self.home_account_id)
    }
}

/// The home tenant of a `home_account_id` (`<object id>.<tenant id>`), lower case; "" when it
/// has none.
fn home_tenant(home_account_id: &str) -> String {
    home_account_id
        .rsplit_once('.')
        .map(|(_, tenant)| tenant.to_ascii_lowercase())
        .unwrap_or_default()
}

/// Why a cache could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FormatError;

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("it is not an MSAL token cache this version can read")
    }
}

/// One signed-in account, as the `Account` section names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Account {
    /// The account's sign-in name (an e-mail address), safe to show.
    pub username: String,
    /// `<object id>.<home tenant id>`.
    pub home_account_id: String,
    /// The home tenant, lower case ([`CONSUMERS_TENANT`] for a personal Microsoft account).
    pub home_tenant: String,
    /// The tenant this account entry is for (a guest entry's differs from the home tenant).
    pub realm: String,
}

impl Account {
    pub(crate) fn is_personal(&self) -> bool {
        self.home_tenant == CONSUMERS_TENANT
    }
}

fn sections(bytes: &[u8]) -> Result<Ordered<'_>, FormatError> {
    let top: Ordered<'_> = serde_json::from_slice(bytes).map_err(|_| FormatError)?;
    // Every account section, when present, must be an object of objects.
    for (name, raw) in &top.0 {
        if ACCOUNT_SECTIONS.contains(&name.as_str()) {
            let section: Ordered<'_> = serde_json::from_str(raw.get()).map_err(|_| FormatError)?;
            for (_, entry) in &section.0 {
                serde_json::from_str::<Owner>(entry.get()).map_err(|_| FormatError)?;
            }
        }
    }
    Ok(top)
}

/// The accounts a cache names, each once. An empty file is an empty cache (MSAL's extensions
/// leave an empty marker file when the cache itself lives in the OS store).
pub(crate) fn accounts(bytes: &[u8]) -> Result<Vec<Account>, FormatError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let top = sections(bytes)?;
    let mut found = BTreeSet::new();
    for (name, raw) in &top.0 {
        if name != "Account" {
            continue;
        }
        let section: Ordered<'_> = serde_json::from_str(raw.get()).map_err(|_| FormatError)?;
        for (_, entry) in section.0 {
            let owner: Owner = serde_json::from_str(entry.get()).map_err(|_| FormatError)?;
            found.insert(Account {
                home_tenant: owner.home_tenant(),
                username: owner.username,
                home_account_id: owner.home_account_id,
                realm: owner.realm.to_ascii_lowercase(),
            });
        }
    }
    Ok(found.into_iter().collect())
}

/// Which entries go: every entry of the accounts in `homes` (by `home_account_id`), and the
/// entries issued for a tenant in `realms` (an account's guest entries there; refresh tokens
/// have no tenant and stay), except those of accounts whose home tenant is in `keep_homes`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Selection {
    pub homes: BTreeSet<String>,
    pub realms: BTreeSet<String>,
    pub keep_homes: BTreeSet<String>,
}

impl Selection {
    fn takes(&self, section: &str, owner: &Owner) -> bool {
        if self.keep_homes.contains(&owner.home_tenant()) {
            return false;
        }
        self.homes.contains(&owner.home_account_id)
            || (section != "RefreshToken"
                && self.realms.contains(&owner.realm.to_ascii_lowercase()))
    }
}

/// What a rewrite removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Removed {
    /// Entries removed from the account sections (accounts and tokens).
    pub entries: usize,
    /// The removed `Account` entries, each once.
    pub accounts: BTreeSet<Account>,
}

/// The cache without the entries `selection` takes, and what went; `None` when nothing would.
pub(crate) fn rewrite(
    bytes: &[u8],
    selection: &Selection,
) -> Result<Option<(Vec<u8>, Removed)>, FormatError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let top = sections(bytes)?;
    let mut removed = Removed::default();
    let mut out = String::with_capacity(bytes.len());
    out.push('{');
    for (i, (name, raw)) in top.0.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_key(&mut out, name);
        if !ACCOUNT_SECTIONS.contains(&name.as_str()) {
            out.push_str(raw.get());
            continue;
        }
        let section: Ordered<'_> = serde_json::from_str(raw.get()).map_err(|_| FormatError)?;
        out.push('{');
        let mut first = true;
        for (key, entry) in section.0 {
            let owner: Owner = serde_json::from_str(entry.get()).map_err(|_| FormatError)?;
            if selection.takes(name, &owner) {
                removed.entries += 1;
                if name == "Account" {
                    removed.accounts.insert(Account {
                        home_tenant: owner.home_tenant(),
                        realm: owner.realm.to_ascii_lowercase(),
                        username: owner.username,
                        home_account_id: owner.home_account_id,
                    });
                }
                continue;
            }
            if !first {
                out.push(',');
            }
            first = false;
            push_key(&mut out, &key);
            out.push_str(entry.get());
        }
        out.push('}');
    }
    out.push('}');
    Ok((removed.entries > 0).then(|| (out.into_bytes(), removed)))
}

fn push_key(out: &mut String, key: &str) {
    // A string always serializes.
    out.push_str(&serde_json::to_string(key).unwrap_or_default());
    out.push(':');
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "11111111-1111-1111-1111-111111111111";
    const NEW: &str = "22222222-2222-2222-2222-222222222222";

    fn cache() -> String {
        format!(
            r#"{{
  "Account": {{
    "a.{OLD}-login.microsoftonline.com-{OLD}": {{"home_account_id": "a.{OLD}", "environment": "login.microsoftonline.com", "realm": "{OLD}", "local_account_id": "a", "username": "alice@contoso.com", "authority_type": "MSSTS"}},
    "b.{NEW}-login.microsoftonline.com-{NEW}": {{"home_account_id": "b.{NEW}", "environment": "login.microsoftonline.com", "realm": "{NEW}", "local_account_id": "b", "username": "alice@contoso.com", "authority_type": "MSSTS"}},
    "b.{NEW}-login.microsoftonline.com-{OLD}": {{"home_account_id": "b.{NEW}", "environment": "login.microsoftonline.com", "realm": "{OLD}", "local_account_id": "b", "username": "alice@contoso.com", "authority_type": "MSSTS"}}
  }},
  "RefreshToken": {{
    "a.{OLD}-login.microsoftonline.com-refreshtoken-c--": {{"home_account_id": "a.{OLD}", "credential_type": "RefreshToken", "secret": "OLD-RT-SECRET"}},
    "b.{NEW}-login.microsoftonline.com-refreshtoken-c--": {{"home_account_id": "b.{NEW}", "credential_type": "RefreshToken", "secret": "NEW-RT-SECRET"}}
  }},
  "AccessToken": {{
    "a.{OLD}-at-{OLD}": {{"home_account_id": "a.{OLD}", "realm": "{OLD}", "secret": "OLD-AT"}},
    "c.other-at-{OLD}": {{"home_account_id": "c.33333333-3333-3333-3333-333333333333", "realm": "{OLD}", "secret": "GUEST-AT"}}
  }},
  "AppMetadata": {{"appmetadata-login.microsoftonline.com-c": {{"client_id": "c", "environment": "login.microsoftonline.com"}}}}
}}"#
        )
    }

    #[test]
    fn accounts_are_listed_without_tokens() {
        let found = accounts(cache().as_bytes()).unwrap();
        assert_eq!(found.len(), 3);
        assert!(found.iter().any(|a| a.home_tenant == OLD && a.realm == OLD));
        assert!(found.iter().all(|a| a.username == "alice@contoso.com"));
        assert_eq!(accounts(b"").unwrap(), Vec::new());
        assert_eq!(accounts(b"[1]"), Err(FormatError));
        assert_eq!(accounts(br#"{"Account": {"k": 3}}"#), Err(FormatError));
    }

    #[test]
    fn a_rewrite_takes_the_old_account_and_guest_entries_and_keeps_the_rest_verbatim() {
        let text = cache();
        let selection = Selection {
            homes: BTreeSet::from([format!("a.{OLD}")]),
            realms: BTreeSet::from([OLD.to_string()]),
            keep_homes: BTreeSet::from([NEW.to_string()]),
        };
        let (out, removed) = rewrite(text.as_bytes(), &selection).unwrap().unwrap();
        let out = String::from_utf8(out).unwrap();
        // The old home account, its tokens, and another account's guest access token for the
        // old tenant; the new account's guest entry for the old tenant stays (keep_homes).
        assert_eq!(removed.entries, 4);
        assert_eq!(removed.accounts.len(), 1);
        for gone in [
            "OLD-RT-SECRET",
            "OLD-AT",
            "GUEST-AT",
            &format!("a.{OLD}-login"),
        ] {
            assert!(!out.contains(gone), "{gone} should be gone");
        }
        // Every kept entry is carried over as the exact text it was.
        let kept_texts = [
            format!(
                r#"{{"home_account_id": "b.{NEW}", "credential_type": "RefreshToken", "secret": "NEW-RT-SECRET"}}"#
            ),
            format!(
                r#"{{"home_account_id": "b.{NEW}", "environment": "login.microsoftonline.com", "realm": "{OLD}", "local_account_id": "b", "username": "alice@contoso.com", "authority_type": "MSSTS"}}"#
            ),
            r#"{"appmetadata-login.microsoftonline.com-c": {"client_id": "c", "environment": "login.microsoftonline.com"}}"#.to_string(),
        ];
        for kept in &kept_texts {
            assert!(out.contains(kept.as_str()), "kept verbatim: {kept}");
        }
        // Still a cache, with the sections in their order; a second pass finds nothing.
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(value["Account"].as_object().unwrap().len(), 2);
        let top = sections(out.as_bytes()).unwrap();
        let order: Vec<&str> = top.0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            order,
            ["Account", "RefreshToken", "AccessToken", "AppMetadata"]
        );
        assert_eq!(rewrite(out.as_bytes(), &selection).unwrap(), None);
    }

    #[test]
    fn nothing_selected_changes_nothing() {
        assert_eq!(
            rewrite(cache().as_bytes(), &Selection::default()).unwrap(),
            None
        );
        assert_eq!(rewrite(b"  ", &Selection::default()).unwrap(), None);
        assert_eq!(
            rewrite(b"{\"Account\": 1}", &Selection::default()),
            Err(FormatError)
        );
    }

    /// Fuzz (#19): whatever the shared sign-in cache holds, it is read or refused; a rewrite
    /// that selects nothing changes nothing, and what a rewrite keeps is still readable.
    #[test]
    fn fuzz_msal_cache() {
        let cache = cache();
        let dictionary: &[&[u8]] = &[
            b"{",
            b"}",
            b"[",
            b"]",
            b"\"",
            b":",
            b",",
            b"\"Account\"",
            b"\"home_account_id\"",
            b"\"realm\"",
            b"\\u0000",
            b"\\\"",
            OLD.as_bytes(),
        ];
        let old = Selection {
            homes: [format!("a.{OLD}")].into(),
            realms: [OLD.to_string()].into(),
            keep_homes: Default::default(),
        };
        crate::fuzz::run(
            "MSAL token cache",
            &[cache.as_bytes(), b"{}"],
            dictionary,
            |bytes| {
                let _ = accounts(bytes);
                if let Ok(changed) = rewrite(bytes, &Selection::default()) {
                    assert!(
                        changed.is_none() || changed.as_ref().is_some_and(|(out, _)| out == bytes),
                        "nothing selected, nothing changed"
                    );
                }
                if let Ok(Some((out, _))) = rewrite(bytes, &old) {
                    assert!(accounts(&out).is_ok(), "a rewritten cache is readable");
                }
            },
        );
    }
}
