//! Platforms without a supported OS credential store.

use std::collections::BTreeMap;
use std::sync::Arc;

use keyring_core::{CredentialStore, Entry, Error};

pub(super) const NAME: &str = "the OS credential store";
pub(super) const KIND: &str = "os-credential-store";

/// No store this version supports: nothing in one to check.
pub(super) fn may_hold_items(_: &std::path::Path) -> bool {
    false
}

/// The store's own words are kept: they are about the store, not a missing service.
pub(super) fn unavailable(_: &dyn std::fmt::Display) -> Option<&'static str> {
    None
}

pub(super) fn open() -> keyring_core::Result<Arc<CredentialStore>> {
    Err(Error::NotSupportedByStore(
        "ado-cutover does not support this platform's credential store".into(),
    ))
}

pub(super) fn searches() -> Vec<Vec<(&'static str, &'static str)>> {
    Vec::new()
}

pub(super) fn attributes(_: &Entry) -> Option<BTreeMap<String, String>> {
    None
}

pub(super) fn exact(_: &super::Item) -> Vec<(String, String)> {
    Vec::new()
}
