//! The optional new personal access token (`pat.create`): made through the PAT lifecycle API
//! after the run's Entra sign-in and shown to the person once ([`create`]); then, as its own
//! planned and journaled action, saved in the OS credential store through git's own credential
//! helper if the person says yes ([`save`]). Its value stays in the run's memory: it never
//! reaches the report, the log, the journal or the state file.

use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;

use super::ssh::{display_name, remember, valid_until};
use super::{Step, item, sign_in::with_token};
use crate::agent::ado::entra::Secret;
use crate::agent::ado::ssh_keys::Api;
use crate::agent::data::journal::Change;
use crate::agent::tasks::Finding;
use crate::agent::tasks::ssh_key::tokens_page;
use crate::report::{Item, Status};

/// Creates the token and shows it once; keeps it in the run's memory for [`save`].
pub(super) fn create(step: &Step<'_, '_>, finding: &Finding, org: &str) -> Item {
    let cx = step.cx;
    let page = tokens_page(org);
    if !cx.prompt.has_screen() {
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
    let settings = cx.settings.pat();
    let valid_to = valid_until(cx, settings.valid_days);
    let name = display_name(cx);
    let change = Change::TokenCreated {
        path: PathBuf::from(&page),
        org: org.to_string(),
    };
    let mut created = None;
    let made = step.journaled(change, || {
        let pat = with_token(cx, org, |token| {
            api.create_pat(org, token, &name, settings.scopes, &valid_to)
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
    cx.prompt.say(&format!(
        "\nYour new personal access token for {org} ({}, valid until {until}):\n\n    {}\n\nIt is shown only this once: copy it now if you need it somewhere else.",
        settings.scopes,
        pat.token.expose()
    ));
    step.memory.keep_token(org, pat.token);
    let stamp = cx.now.date().to_string();
    let note = remember(cx, |state| {
        state.pat_created.insert(org.to_ascii_lowercase(), stamp);
    });
    item(
        finding,
        Status::Done,
        format!("created “{name}”, valid until {until}; shown to you once{note}"),
    )
}

/// Saves the token made in this run for `url`, in the OS credential store through git, when
/// the person agrees.
pub(super) fn save(step: &Step<'_, '_>, finding: &Finding, org: &str, url: &str) -> Item {
    let cx = step.cx;
    let Some(token) = step.memory.token(org) else {
        return item(
            finding,
            Status::Skipped,
            "not saved: no new token was made in this run".into(),
        );
    };
    match cx.prompt.confirm(&format!(
        "Save it in this computer's credential store, for git to use with {url}?"
    )) {
        Some(true) => {}
        _ => return item(finding, Status::Info, "not saved, as you chose".into()),
    }
    let change = Change::CredentialSaved {
        path: PathBuf::from(url),
        org: org.to_string(),
    };
    let saved = step.journaled(change, || approve(step, org, &token).map(|()| 1));
    match saved {
        Ok(_) => item(
            finding,
            Status::Done,
            "saved in the credential store for git".into(),
        ),
        Err(err) => item(
            finding,
            Status::Failed,
            format!("it could not be saved in the credential store: {err}"),
        ),
    }
}

/// `git credential approve`, run outside every repository, with the token on standard input
/// only.
fn approve(step: &Step<'_, '_>, org: &str, token: &Secret) -> std::io::Result<()> {
    let input = format!(
        "protocol=https\nhost=dev.azure.com\npath={org}\nusername=pat\npassword={}\n\n",
        token.expose()
    );
    let mut child = step
        .cx
        .paths
        .git_outside_repos()
        .args(["credential", "approve"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes())?;
    }
    let status = child.wait()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "git's credential helper stopped with {status}"
        )))
    }
}
