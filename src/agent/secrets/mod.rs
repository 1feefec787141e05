//! The operating system's credential store: Windows Credential Manager, the macOS login keychain,
//! or the Secret Service (GNOME Keyring, KWallet) on Linux.
//!
//! Reached through the keyring crate family that can search (`keyring-core` and one store crate
//! per OS, in [`platform`]). This module lists items by their attributes and deletes exact
//! items. It reads and rewrites one kind of secret only: the shared Microsoft sign-in cache, to
//! take single accounts out of it (see the `credentials` task); what it reads stays in memory.
//! Which items belong to Azure DevOps is decided by the `credentials` task, not here.
//!
//! Tests must never reach this machine's real store: in a sandbox (`ADO_CUTOVER_SANDBOX`) the
//! store is only opened when [`SANDBOX_OPT_IN`] is also set, which the test harness does only
//! after starting a private keyring daemon (Secret Service) or under Wine (Windows).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use keyring_core::{CredentialStore, Error};

use crate::agent::env::Env;
use crate::agent::paths::Paths;

#[cfg(target_os = "linux")]
#[path = "linux.rs"]
mod platform;
#[cfg(target_os = "macos")]
#[path = "macos.rs"]
mod platform;
#[cfg(windows)]
#[path = "windows.rs"]
mod platform;
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
#[path = "none.rs"]
mod platform;

/// In a sandbox, the OS store is used only when this variable is `1`.
pub const SANDBOX_OPT_IN: &str = "ADO_CUTOVER_SANDBOX_KEYRING";

/// One item in the store, named by the attributes that identify it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Item {
    pub attributes: BTreeMap<String, String>,
}

impl Item {
    /// The value of one attribute, or "".
    pub(super) fn get(&self, name: &str) -> &str {
        self.attributes.get(name).map_or("", String::as_str)
    }
}

/// An open credential store.
pub(super) struct Store {
    inner: Arc<CredentialStore>,
}

impl Store {
    /// The store's name for people, e.g. "Windows Credential Manager".
    pub(super) const NAME: &'static str = platform::NAME;
    /// A short machine name for findings and reports, e.g. `windows-credential-manager`.
    pub(super) const KIND: &'static str = platform::KIND;

    /// Opens this OS's store. `Ok(None)` in a sandbox without [`SANDBOX_OPT_IN`].
    pub(super) fn open(paths: &Paths, env: &Env) -> Result<Option<Store>, String> {
        if paths.sandbox.is_some() && env.get(SANDBOX_OPT_IN) != Some("1") {
            return Ok(None);
        }
        match platform::open() {
            Ok(inner) => Ok(Some(Store { inner })),
            // Nothing was ever kept in a store this machine does not have: not in use, rather
            // than "not checked" on every run of a headless machine.
            Err(_) if !platform::may_hold_items(&paths.local_data) => Ok(None),
            Err(e) => Err(describe(&e)),
        }
    }

    /// Every item that may hold a Git or Azure DevOps credential, or a Microsoft sign-in cache
    /// (a superset: the caller decides).
    pub(super) fn candidates(&self) -> Result<Vec<Item>, String> {
        let mut items = Vec::new();
        for spec in platform::searches() {
            let spec: HashMap<&str, &str> = spec.iter().copied().collect();
            for entry in self.inner.search(&spec).map_err(|e| describe(&e))? {
                if let Some(attributes) = platform::attributes(&entry) {
                    items.push(Item { attributes });
                }
            }
        }
        items.sort();
        items.dedup();
        Ok(items)
    }

    /// The entries that match `item` exactly.
    fn exact(&self, item: &Item) -> Result<Vec<keyring_core::Entry>, String> {
        let spec = platform::exact(item);
        let spec: HashMap<&str, &str> =
            spec.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let entries = self.inner.search(&spec).map_err(|e| describe(&e))?;
        // A search may return near matches (a pattern, a subset of attributes): only the item
        // whose identifying attributes are exactly the planned ones counts.
        Ok(entries
            .into_iter()
            .filter(|entry| platform::attributes(entry).as_ref() == Some(&item.attributes))
            .collect())
    }

    /// The secret of the one item that matches `item` exactly; `None` when it is gone.
    pub(super) fn read(&self, item: &Item) -> Result<Option<Vec<u8>>, String> {
        let entries = self.exact(item)?;
        match entries.as_slice() {
            [] => Ok(None),
            [entry] => match entry.get_secret() {
                Ok(secret) => Ok(Some(secret)),
                Err(Error::NoEntry) => Ok(None),
                Err(e) => Err(describe(&e)),
            },
            _ => Err("more than one item matches it".into()),
        }
    }

    /// Replaces the secret of the one item that matches `item` exactly, keeping the item (its
    /// attributes and label).
    pub(super) fn write(&self, item: &Item, secret: &[u8]) -> Result<(), String> {
        match self.exact(item)?.as_slice() {
            [entry] => entry.set_secret(secret).map_err(|e| describe(&e)),
            [] => Err("it is gone".into()),
            _ => Err("more than one item matches it".into()),
        }
    }

    /// Deletes the items that match `item` exactly; returns how many went (0: already gone).
    pub(super) fn delete(&self, item: &Item) -> Result<usize, String> {
        let mut deleted = 0;
        for entry in self.exact(item)? {
            match entry.delete_credential() {
                Ok(()) => deleted += 1,
                Err(Error::NoEntry) => {}
                Err(e) => return Err(describe(&e)),
            }
        }
        Ok(deleted)
    }
}

/// An error from the store in words, without any data it carries (it could be a secret).
fn describe(err: &Error) -> String {
    match err {
        Error::PlatformFailure(e) | Error::NoStorageAccess(e) => match platform::unavailable(e) {
            Some(plain) => plain.to_string(),
            None => format!("{} is not available: {e}", platform::NAME),
        },
        Error::NoEntry => "the item is gone".to_string(),
        Error::BadEncoding(_) | Error::BadDataFormat(..) => {
            "the store returned data in a format ado-cutover does not read".to_string()
        }
        other => format!("{}: {other}", platform::NAME),
    }
}
