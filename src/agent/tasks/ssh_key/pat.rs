//! The optional new personal access token (`pat.create`): made through the PAT lifecycle API
//! after the run's Entra sign-in, shown to the person once on their terminal, and saved only if
//! they ask, in the OS credential store through git's own credential helper. Its value never
//! reaches the report, the log, the journal or the state file.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::Stdio;

use uuid::Uuid;

use super::apply::with_token;
use super::tokens_page;
use crate::agent::ado::entra::Secret;
use crate::agent::ado::ssh_keys::{Api, NewPat};
use crate::agent::app::confirm;
use crate::agent::engine::{item, journaled};
use crate::agent::journal::{Change, Journal};
use crate::agent::settings::keys;
use crate::agent::state::State;
use crate::agent::tasks::{Context, Finding};
use crate::report::{Item, Status};

/// git credential helpers that keep secrets in the operating system's credential store.
const OS_STORE_HELPERS: &[&str] = &[
    "manager",
    "manager-core",
    "wincred",
    "osxkeychain",
    "libsecret",
];

/// Creates the token, shows it once, and offers to save it.
pub fn create(
    cx: &Context<'_>,
    task: &str,
    finding: &Finding,
    org: &str,
    journal: &Journal,
    run_id: Uuid,
) -> Item {
    let page = tokens_page(org);
    if !std::io::stderr().is_terminal() {
        return item(
            finding,
            Status::NeedsUser,
            format!(
                "not made: there is no screen to show the token on; make one yourself on {page}"
            ),
        );
    }
    let api = match Api::new(cx.env) {
        Ok(api) => api,
        Err(why) => return item(finding, Status::Failed, why),
    };
    let scope = cx.settings.text(&keys::PAT_SCOPES).unwrap_or_default();
    let days: i64 = cx
        .settings
        .text(&keys::PAT_VALID_DAYS)
        .and_then(|d| d.parse().ok())
        .unwrap_or(30);
    let valid_to = super::valid_until(cx, days);
    let name = super::display_name(cx);
    let change = Change::TokenCreated {
        path: PathBuf::from(&page),
        org: org.to_string(),
    };
    let mut created: Option<NewPat> = None;
    let made = journaled(cx, task, change, journal, run_id, || {
        let pat = with_token(cx, org, |token| {
            api.create_pat(org, token, &name, scope, &valid_to)
        })
        .map_err(std::io::Error::other)?;
        created = Some(pat);
        Ok(1)
    });
    let pat = match (made, created) {
        (Ok(_), Some(pat)) => pat,
        (Err(why), _) => {
            return item(
                finding,
                Status::NeedsUser,
                format!(
                    "The token could not be made for you ({why}). Make one yourself on {page} if you use one."
                ),
            );
        }
        (Ok(_), None) => return item(finding, Status::Failed, "no token came back".into()),
    };
    let until: String = pat.valid_to.chars().take(10).collect();
    show(org, &until, scope, &pat.token);
    let saved = offer_to_save(cx, org, &pat.token);
    let stamp = cx.now.date().to_string();
    if let Err(err) = State::update(&cx.paths.data_dir, |state| {
        state.pat_created.insert(org.to_ascii_lowercase(), stamp);
    }) {
        eprintln!("warning: could not remember the new token: {err}");
    }
    item(
        finding,
        Status::Done,
        format!("created “{name}”, valid until {until}; shown to you once{saved}"),
    )
}

/// Shows the token on the terminal, once.
fn show(org: &str, until: &str, scope: &str, token: &Secret) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "\nYour new personal access token for {org} ({scope}, valid until {until}):\n\n    {}\n\nIt is shown only this once: copy it now if you need it somewhere else.",
        token.expose()
    );
}

/// Offers to save the token where git keeps credentials for the organization, if that is the
/// operating system's credential store. Returns how it went, as the tail of a sentence.
fn offer_to_save(cx: &Context<'_>, org: &str, token: &Secret) -> String {
    let url = format!("https://dev.azure.com/{org}");
    let helper = cx
        .paths
        .command("git")
        .args(["config", "--get-urlmatch", "credential.helper", &url])
        .current_dir(&cx.paths.home)
        .stdin(Stdio::null())
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_default();
    if !is_os_store(&helper) {
        return "; not saved: git keeps credentials in a plain file here (or nowhere), so ado-cutover did not offer to".into();
    }
    match confirm(&format!(
        "Save it in this computer's credential store, for git to use with {url}?"
    )) {
        Some(true) => {}
        _ => return "; not saved, as you chose".into(),
    }
    let input = format!(
        "protocol=https\nhost=dev.azure.com\npath={org}\nusername=pat\npassword={}\n\n",
        token.expose()
    );
    let stored = cx
        .paths
        .command("git")
        .args(["credential", "approve"])
        .current_dir(&cx.paths.home)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .and_then(|mut child| {
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(input.as_bytes())?;
            }
            child.wait()
        });
    match stored {
        Ok(status) if status.success() => "; saved in the credential store for git".into(),
        _ => "; it could not be saved in the credential store".into(),
    }
}

/// True when git's `credential.helper` value names a helper backed by the OS credential store:
/// a short name git completes (`manager`, `osxkeychain`, ...) or a path to such a helper (paths
/// may hold spaces, as on Windows). Shell snippets (`!...`) do not count.
fn is_os_store(helper: &str) -> bool {
    let helper = helper.trim().trim_matches('"');
    if helper.starts_with('!') {
        return false;
    }
    let first = helper.split_whitespace().next().unwrap_or("");
    let lower = helper.to_ascii_lowercase();
    OS_STORE_HELPERS.contains(&first)
        || OS_STORE_HELPERS
            .iter()
            .any(|name| lower.contains(&format!("git-credential-{name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_helpers_backed_by_the_os_store_count() {
        for helper in [
            "manager",
            "manager-core",
            "/usr/local/bin/git-credential-manager",
            "C:/Program Files/Git/mingw64/bin/git-credential-manager.exe",
            "osxkeychain",
            "/usr/share/doc/git/contrib/credential/libsecret/git-credential-libsecret",
            "wincred",
        ] {
            assert!(is_os_store(helper), "{helper}");
        }
        for helper in ["", "store", "cache --timeout 3600", "store --file ~/.creds"] {
            assert!(!is_os_store(helper), "{helper}");
        }
    }
}
