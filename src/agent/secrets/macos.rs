//! The macOS login keychain's generic passwords, via `apple-native-keyring-store`.
//!
//! git's osxkeychain helper stores *internet* passwords, which this store crate does not list;
//! see the `credentials` task for how those are reached.

use std::collections::BTreeMap;
use std::sync::Arc;

use keyring_core::{CredentialStore, Entry};

pub(super) const NAME: &str = "the macOS keychain";
pub(super) const KIND: &str = "macos-keychain";

/// The store is part of the system: always in use.
pub(super) fn may_hold_items(_: &std::path::Path) -> bool {
    true
}

/// The store's own words are kept: they are about the store, not a missing service.
pub(super) fn unavailable(_: &dyn std::fmt::Display) -> Option<&'static str> {
    None
}

pub(super) fn open() -> keyring_core::Result<Arc<CredentialStore>> {
    let store: Arc<CredentialStore> = apple_native_keyring_store::keychain::Store::new()?;
    Ok(store)
}

/// The keychain search takes only exact services, so list every generic password (attributes
/// only, no secret) and let the caller pick.
pub(super) fn searches() -> Vec<Vec<(&'static str, &'static str)>> {
    vec![vec![]]
}

/// The service and the account, which identify a generic password.
pub(super) fn attributes(entry: &Entry) -> Option<BTreeMap<String, String>> {
    let (service, account) = entry.get_specifiers()?;
    Some(BTreeMap::from([
        ("service".to_string(), service),
        ("account".to_string(), account),
    ]))
}

pub(super) fn exact(item: &super::Item) -> Vec<(String, String)> {
    vec![
        ("service".to_string(), item.get("service").to_string()),
        ("user".to_string(), item.get("account").to_string()),
    ]
}
