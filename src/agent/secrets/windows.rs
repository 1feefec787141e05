//! Windows Credential Manager's generic credentials, via `windows-native-keyring-store`.

use std::collections::BTreeMap;
use std::sync::Arc;

use keyring_core::{CredentialStore, Entry};

pub(super) const NAME: &str = "Windows Credential Manager";
pub(super) const KIND: &str = "windows-credential-manager";

/// The store is part of the system: always in use.
pub(super) fn may_hold_items(_: &std::path::Path) -> bool {
    true
}

/// The store's own words are kept: they are about the store, not a missing service.
pub(super) fn unavailable(_: &dyn std::fmt::Display) -> Option<&'static str> {
    None
}

pub(super) fn open() -> keyring_core::Result<Arc<CredentialStore>> {
    let store: Arc<CredentialStore> = windows_native_keyring_store::Store::new()?;
    Ok(store)
}

/// Git Credential Manager and git's wincred helper name their credentials
/// `<namespace>:https://...` (Windows may show `LegacyGeneric:target=` before it).
pub(super) fn searches() -> Vec<Vec<(&'static str, &'static str)>> {
    vec![vec![(
        "pattern",
        r"^(?i)(LegacyGeneric:target=)?[^:/]+:https?://",
    )]]
}

/// The target name and the user name; the other attributes (comment, persistence) do not
/// identify the credential.
pub(super) fn attributes(entry: &Entry) -> Option<BTreeMap<String, String>> {
    let all = entry.get_attributes().ok()?;
    let mut map = BTreeMap::new();
    for key in ["target_name", "username"] {
        map.insert(key.to_string(), all.get(key).cloned().unwrap_or_default());
    }
    Some(map)
}

/// The target name, which is unique in Credential Manager.
pub(super) fn exact(item: &super::Item) -> Vec<(String, String)> {
    let pattern = format!("^{}$", regex::escape(item.get("target_name")));
    vec![("pattern".to_string(), pattern)]
}
