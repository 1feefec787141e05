//! Task `browser-sign-out`: sign the user out of Azure DevOps in every browser profile.
//!
//! The old browser session keeps offering the old identity. In every profile of every Chromium
//! family browser and Firefox, this deletes the cookies of Azure DevOps domains only
//! (`dev.azure.com`, `visualstudio.com` and their subdomains). Microsoft sign-in cookies stay
//! unless the admin sets `browser_sign_out.microsoft_sign_in`, because deleting them signs the
//! person out of every Microsoft service. The same origins' site data (IndexedDB and storage
//! buckets; see [`site_data`]) goes too. A profile whose browser is running is never written:
//! the person is asked to close that browser.

use std::collections::BTreeMap;

use super::{Action, Context, Evidence, Finding, Task, TaskError};
use crate::agent::browsers::cookies::{self, CookieError, Scope};
use crate::agent::browsers::running::Processes;
use crate::agent::browsers::{self, Profile, site_data};
use crate::report::Status;

/// The `browser-sign-out` task.
pub(crate) struct BrowserSignOut;

/// The item kind of a profile whose browser must be closed first.
pub(crate) const IN_USE_KIND: &str = "browser-in-use";

impl Task for BrowserSignOut {
    fn id(&self) -> &'static str {
        "browser-sign-out"
    }

    fn title(&self) -> &'static str {
        "Browser sign-out"
    }

    fn why(&self) -> &'static str {
        "Your browsers may still be signed in to Azure DevOps with your old account. \
         ado-cutover deletes the Azure DevOps cookies, and only those, in every browser profile, \
         so your next visit signs you in with your work account."
    }

    fn detect(&self, cx: &Context<'_>, _: &mut Evidence) -> Result<Vec<Finding>, TaskError> {
        let profiles = browsers::profiles(cx.paths);
        if profiles.is_empty() {
            return Ok(Vec::new());
        }
        let scope = Scope {
            microsoft_sign_in: cx.settings.sign_out_microsoft(),
        };
        let processes = Processes::snapshot();
        let mut findings = Vec::new();
        for profile in &profiles {
            for store in &profile.cookie_stores {
                // Chromium moved the store to `Network/Cookies` on Windows; a profile may have both.
                let target = if profile.cookie_stores.len() == 1 {
                    profile.label()
                } else {
                    let file = store.strip_prefix(&profile.dir).unwrap_or(store);
                    format!("{} {}", profile.label(), file.display())
                };
                findings.push(examine(cx, profile, store, target, scope, &processes));
            }
            // A running browser was already asked to be closed, above.
            if processes.holding(profile, &cx.paths.home).is_none() {
                findings.extend(site_data_finding(profile));
            }
        }
        Ok(findings)
    }
}

fn examine(
    cx: &Context<'_>,
    profile: &Profile,
    store: &std::path::Path,
    target: String,
    scope: Scope,
    processes: &Processes,
) -> Finding {
    let shown = cx.paths.display(store);
    let finding = |kind: &'static str, detail: String, action: Action| Finding {
        kind,
        target: target.clone(),
        detail,
        action,
    };
    // A running browser holds its store (on Windows it may not even let us read it): check
    // that first, and count only to make the message concrete.
    let counted = cookies::count(store, profile.browser.family, scope);
    if let Some(why) = processes.holding(profile, &cx.paths.home) {
        let holds = match &counted {
            Ok(counted) if counted.values().sum::<usize>() == 0 => {
                return finding(
                    "browser-profile",
                    "no Azure DevOps cookies".to_string(),
                    Action::Note(Status::Ok),
                );
            }
            Ok(counted) => format!("It holds {}", describe(counted.values().sum(), counted)),
            Err(_) => "It may hold Azure DevOps cookies".to_string(),
        };
        return finding(
            IN_USE_KIND,
            format!(
                "{why}. {holds}; close {} completely, then run ado-cutover again",
                profile.browser.name
            ),
            Action::NeedsUser,
        );
    }
    let counted = match counted {
        Ok(counted) => counted,
        Err(CookieError::Unknown) => {
            return finding(
                "browser-profile",
                format!("{shown} is not a cookie store this version understands; left alone"),
                Action::Note(Status::Skipped),
            );
        }
        Err(CookieError::InUse) => {
            return finding(
                IN_USE_KIND,
                format!(
                    "{} is using {shown}; close it, then run ado-cutover again",
                    profile.browser.name
                ),
                Action::NeedsUser,
            );
        }
        Err(CookieError::Other(err)) => {
            return finding(
                "browser-profile",
                format!("cannot read {shown}: {err}"),
                Action::Note(Status::Failed),
            );
        }
    };
    let total: usize = counted.values().sum();
    if total == 0 && has_pending_log(store) {
        // A plan reads the store without its write-ahead log (reading with it would write);
        // cookies may be waiting there, so the run looks again with SQLite's full view.
        return finding(
            "browser-profile",
            "its write-ahead log may hold Azure DevOps cookies; the run checks with the log"
                .to_string(),
            Action::DeleteCookies {
                store: store.to_path_buf(),
                family: profile.browser.family,
                scope,
                expected: 0,
            },
        );
    }
    if total == 0 {
        return finding(
            "browser-profile",
            "no Azure DevOps cookies".to_string(),
            Action::Note(Status::Ok),
        );
    }
    let what = describe(total, &counted);
    finding(
        "browser-profile",
        format!("{what}; deleting them signs you out of Azure DevOps in this profile"),
        Action::DeleteCookies {
            store: store.to_path_buf(),
            family: profile.browser.family,
            scope,
            expected: total,
        },
    )
}

/// The profile's Azure DevOps site data (IndexedDB, storage buckets), when it has any.
fn site_data_finding(profile: &Profile) -> Option<Finding> {
    let (detail, action) = match site_data::find(&profile.dir, profile.browser.family) {
        Ok(found) if found.is_empty() => return None,
        Ok(found) => {
            let origins: Vec<&str> = found.origins.iter().map(String::as_str).collect();
            (
                format!(
                    "the stored data of {} (databases and storage the site keeps in this profile); deleting it is the \"clear cached data\" step for Azure DevOps only",
                    origins.join(", ")
                ),
                Action::DeleteSiteData {
                    profile: profile.clone(),
                    expected: found.origins.len(),
                },
            )
        }
        Err(why) => (
            format!("its Azure DevOps site data could not be looked at ({why}); left alone"),
            Action::Note(Status::Skipped),
        ),
    };
    Some(Finding {
        kind: "browser-site-data",
        target: profile.label(),
        detail,
        action,
    })
}

/// True when SQLite's write-ahead log next to `store` holds changes not yet in the store.
fn has_pending_log(store: &std::path::Path) -> bool {
    let mut log = store.as_os_str().to_os_string();
    log.push("-wal");
    std::fs::metadata(log).is_ok_and(|m| m.len() > 0)
}

/// "12 cookies of dev.azure.com (10), vssps.dev.azure.com (2)".
fn describe(total: usize, counted: &BTreeMap<String, usize>) -> String {
    let domains: Vec<String> = counted
        .iter()
        .map(|(domain, n)| format!("{} ({n})", domain.trim_start_matches('.')))
        .collect();
    let noun = if total == 1 { "cookie" } else { "cookies" };
    format!("{total} {noun} of {}", domains.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_count_per_domain_without_values() {
        let counted = BTreeMap::from([
            (".dev.azure.com".to_string(), 10),
            ("vssps.dev.azure.com".to_string(), 2),
        ]);
        assert_eq!(
            describe(12, &counted),
            "12 cookies of dev.azure.com (10), vssps.dev.azure.com (2)"
        );
    }
}
