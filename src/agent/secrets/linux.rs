//! The Secret Service (GNOME Keyring, KWallet) over D-Bus, via `dbus-secret-service-keyring-store`.

use std::collections::BTreeMap;
use std::sync::Arc;

use keyring_core::{CredentialStore, Entry};

pub(super) const NAME: &str = "the Secret Service keyring";
pub(super) const KIND: &str = "secret-service";

/// True when a keyring daemon has kept items for this user: GNOME Keyring's or KWallet's files
/// under the data folder (`~/.local/share`).
pub(super) fn may_hold_items(local_data: &std::path::Path) -> bool {
    local_data.join("keyrings").exists() || local_data.join("kwalletd").exists()
}

/// Plain words for the usual failure: no keyring service on the session bus (a headless or
/// remote session), instead of D-Bus's own text.
pub(super) fn unavailable(err: &dyn std::fmt::Display) -> Option<&'static str> {
    let text = err.to_string();
    let no_service = ["DBus", "D-Bus", "dbus", "org.freedesktop.secrets"]
        .iter()
        .any(|word| text.contains(word));
    no_service.then_some(
        "the keyring service is not running in this session (a remote or headless login does not start it); sign in to the desktop once, or start gnome-keyring-daemon, then run ado-cutover again",
    )
}

pub(super) fn open() -> keyring_core::Result<Arc<CredentialStore>> {
    let store: Arc<CredentialStore> = dbus_secret_service_keyring_store::Store::new()?;
    Ok(store)
}

/// Searched by schema, so unrelated items are never listed: Git Credential Manager's, git's
/// libsecret helper (current git writes `org.git.Password`, git before 2.44 the GNOME network
/// password schema), and the shared Microsoft sign-in cache (MSAL). libsecret records the
/// schema as `xdg:schema` on every item it stores; Python's keyring records none, so its items
/// are searched by the application name it records (the caller keeps only `azdevops-cli:` ones).
pub(super) fn searches() -> Vec<Vec<(&'static str, &'static str)>> {
    [
        "com.microsoft.GitCredentialManager",
        "org.git.Password",
        "org.gnome.keyring.NetworkPassword",
        "msal.cache",
    ]
    .iter()
    .map(|schema| vec![("xdg:schema", *schema)])
    // Python's keyring (the Azure CLI's devops extension) writes no schema, only its name.
    .chain([vec![("application", "Python keyring library")]])
    .collect()
}

/// Every attribute of the item (the Secret Service matches on all of them).
pub(super) fn attributes(entry: &Entry) -> Option<BTreeMap<String, String>> {
    let all = entry.get_attributes().ok()?;
    Some(all.into_iter().collect())
}

/// All of the item's attributes: the search matches exactly those items.
pub(super) fn exact(item: &super::Item) -> Vec<(String, String)> {
    item.attributes
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
