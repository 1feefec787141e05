//! The shared Microsoft sign-in cache (MSAL, `.IdentityService`): used by Git Credential Manager,
//! Visual Studio, Azure PowerShell and the Azure Artifacts credential provider.
//!
//! It holds the old account's tokens, but deleting it signs the user out of all of those tools,
//! so it is reported and left alone unless the admin sets `credentials.clear_msal_cache`; then
//! the plan says, before anything happens, what deleting it costs.

use std::path::PathBuf;

use super::{Candidate, Owner};
use crate::agent::secrets::{Item, Store};
use crate::agent::settings::keys;
use crate::agent::tasks::{Action, Context, Finding};
use crate::report::Status;

const KIND: &str = "msal-cache";
const COST: &str = "deleting it signs you out of Visual Studio, Azure PowerShell and other Microsoft developer tools until you sign in again";

/// True for the cache's item in the OS store: the Secret Service item MSAL writes on Linux
/// (schema `msal.cache`, client id `Microsoft.Developer.IdentityService`) or the keychain item
/// `Microsoft.Developer.IdentityService` / `MSALCache` on macOS.
pub(super) fn is_msal_item(item: &Item) -> bool {
    item.get("MsalClientID") == "Microsoft.Developer.IdentityService"
        || (item.get("service") == "Microsoft.Developer.IdentityService"
            && item.get("account") == "MSALCache")
}

/// The cache file: `%LocalAppData%\.IdentityService\msal.cache` on Windows; on macOS and Linux
/// `~/.local/.IdentityService/msal.cache` (a marker, or the cache itself when no keyring exists).
fn cache_file(cx: &Context<'_>) -> PathBuf {
    let base = if cfg!(windows) {
        cx.paths.local_data.clone()
    } else {
        cx.paths.home.join(".local")
    };
    base.join(".IdentityService").join("msal.cache")
}

fn finding(cx: &Context<'_>, target: String, action: Action) -> Candidate {
    let finding = if cx.settings.flag(&keys::CLEAR_MSAL_CACHE) {
        Finding {
            kind: KIND,
            target,
            detail: format!(
                "the shared Microsoft sign-in cache, which may hold your old account (your admin chose to clear it; {COST})"
            ),
            action,
        }
    } else {
        Finding {
            kind: KIND,
            target,
            detail: format!(
                "the shared Microsoft sign-in cache may still hold your old account; it is left alone because {COST}. If Git signs in as the old account, sign out of it in Visual Studio (or ask your admin about `credentials.clear_msal_cache`)"
            ),
            action: Action::Note(Status::Info),
        }
    };
    Candidate {
        owner: Owner::Everyone,
        finding,
    }
}

/// The cache's item in the OS store.
pub(super) fn store_item(cx: &Context<'_>, item: Item) -> Candidate {
    finding(
        cx,
        format!("{}: Microsoft.Developer.IdentityService", Store::NAME),
        Action::DeleteSecret(item),
    )
}

/// The cache file, when it exists.
pub(super) fn file(cx: &Context<'_>) -> Option<Candidate> {
    let path = cache_file(cx);
    let is_file = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
    is_file.then(|| finding(cx, cx.paths.display(&path), Action::DeleteFile(path)))
}
