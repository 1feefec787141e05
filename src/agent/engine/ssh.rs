//! The `ssh-key` effects: making the key, registering it (sign-in and API, or the guided
//! steps), and checking it with `ssh -T`. Applied in the plan's order, so the key exists before
//! it is registered and is registered before it is checked. What is done is remembered in the
//! agent's state, so the next plan knows.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{Step, item, sign_in::with_token};
use crate::agent::ado::ssh_keys::Api;
use crate::agent::data::journal::Change;
use crate::agent::data::state::State;
use crate::agent::desktop;
use crate::agent::settings::Passphrase;
use crate::agent::ssh::keygen::{self, Spec};
use crate::agent::ssh::verify::{self, Verdict};
use crate::agent::tasks::ssh_key::{host_name, keys_page};
use crate::agent::tasks::{Context, Finding, Interaction};
use crate::report::{Item, Status};

/// Makes the key pair, asking for a passphrase in the guided run, showing progress meanwhile.
pub(super) fn create(step: &Step<'_, '_>, finding: &Finding, spec: &Spec) -> Item {
    let cx = step.cx;
    if let Err(why) = step.guard_new(&spec.path) {
        return item(finding, Status::Failed, format!("not made: {why}"));
    }
    let passphrase = match passphrase(cx) {
        Ok(passphrase) => passphrase,
        Err(why) => return item(finding, Status::NeedsUser, why),
    };
    let started = Instant::now();
    let generated = std::thread::scope(|scope| {
        let worker = scope.spawn(|| keygen::generate(spec, passphrase.as_deref()));
        while !worker.is_finished() {
            cx.progress.show(&format!(
                "Making a {} key... {} s",
                spec.kind,
                started.elapsed().as_secs()
            ));
            std::thread::sleep(Duration::from_millis(200));
        }
        cx.progress.clear();
        worker
            .join()
            .unwrap_or_else(|_| Err("the key generator stopped".into()))
    });
    let key = match generated {
        Ok(key) => key,
        Err(why) => return item(finding, Status::Failed, why),
    };
    let fingerprint = key.fingerprint();
    let change = Change::KeyCreated {
        path: spec.path.clone(),
        fingerprint: fingerprint.clone(),
    };
    let mut warning = None;
    let written = step.journaled(change, || {
        warning = keygen::write(spec, &key)?;
        Ok(1)
    });
    match written {
        Ok(_) => {
            let protected = if passphrase.is_some() {
                ", protected by your passphrase"
            } else {
                ""
            };
            let mut detail = format!(
                "created: {fingerprint} ({}{protected}; the public key is in {})",
                spec.kind,
                cx.paths.display(&keygen::public_path(&spec.path))
            );
            if let Some(warning) = warning {
                detail = format!("{detail}; warning: {warning}");
            }
            item(finding, Status::Done, detail)
        }
        Err(err) => item(
            finding,
            Status::Failed,
            format!("could not write the key: {err}"),
        ),
    }
}

/// Writes the public half of a key pair a killed run left without it (the private key was in
/// place, the `.pub` not yet), so the key it made is used instead of a second one.
pub(super) fn complete(step: &Step<'_, '_>, finding: &Finding, private: &Path) -> Item {
    let public_path = keygen::public_path(private);
    if let Err(why) = step.guard_new(&public_path) {
        return item(finding, Status::Failed, format!("not written: {why}"));
    }
    let Some(public) = keygen::public_of_private(private) else {
        return item(
            finding,
            Status::Failed,
            "the key could not be read again; remove it and run ado-cutover again".to_string(),
        );
    };
    let fingerprint = keygen::fingerprint(&public);
    let change = Change::KeyCreated {
        path: private.to_path_buf(),
        fingerprint: fingerprint.clone(),
    };
    match step.journaled(change, || {
        keygen::write_public(private, &public).map(|()| 1)
    }) {
        Ok(_) => item(
            finding,
            Status::Done,
            format!(
                "completed: {fingerprint} (an interrupted run made it; the public key is in {})",
                step.cx.paths.display(&public_path)
            ),
        ),
        Err(err) => item(
            finding,
            Status::Failed,
            format!("could not write the public key: {err}"),
        ),
    }
}

/// The passphrase for the new key: asked in the guided run only, as `ssh_key.passphrase` says.
fn passphrase(cx: &Context<'_>) -> Result<Option<String>, String> {
    let policy = cx.settings.ssh_key().passphrase;
    if policy == Passphrase::None || cx.interaction != Interaction::Guided {
        return Ok(None);
    }
    let required = policy == Passphrase::Required;
    let prompt = if required {
        "Passphrase for the new SSH key (your organization requires one): "
    } else {
        "Passphrase for the new SSH key (press Enter for none): "
    };
    for _ in 0..3 {
        let Some(first) = cx.prompt.secret(prompt) else {
            break;
        };
        if first.is_empty() && !required {
            return Ok(None);
        }
        if first.is_empty() {
            cx.prompt.say("A passphrase is required.");
            continue;
        }
        let again = cx
            .prompt
            .secret("The same passphrase again: ")
            .unwrap_or_default();
        if again == first {
            return Ok(Some(first));
        }
        cx.prompt.say("The two passphrases differ; try again.");
    }
    if required {
        Err("not made: a passphrase is required and none was given; run ado-cutover again to make the key".into())
    } else {
        Ok(None)
    }
}

/// Registers the key with `org`: through the API when planned so (falling back to the guided
/// steps when that fails), else the guided steps.
pub(super) fn register(
    step: &Step<'_, '_>,
    finding: &Finding,
    org: &str,
    key: &Path,
    api: bool,
) -> Item {
    let cx = step.cx;
    let Some(public) = keygen::read_public(key) else {
        return item(
            finding,
            Status::Skipped,
            "waits for the new key, which was not made".into(),
        );
    };
    let line = public.to_openssh().unwrap_or_default();
    let fingerprint = keygen::fingerprint(&public);
    if !api {
        return guided(cx, finding, org, key, &line, None);
    }
    match register_with_api(step, org, key, &line, &fingerprint) {
        Ok((status, detail)) => item(finding, status, detail),
        Err(why) => guided(cx, finding, org, key, &line, Some(&why)),
    }
}

/// Signs in (once per run), then registers the key unless Azure DevOps already has it.
fn register_with_api(
    step: &Step<'_, '_>,
    org: &str,
    key: &Path,
    line: &str,
    fingerprint: &str,
) -> Result<(Status, String), String> {
    let cx = step.cx;
    let api = Api::new(cx.env)?;
    let org_id = with_token(cx, org, |token| api.organization_id(org, token))?;
    let existing = with_token(cx, org, |token| api.list(org, token))?;
    let already = existing.iter().any(|registered| {
        registered
            .public_data
            .as_deref()
            .and_then(|data| ssh_key::PublicKey::from_openssh(data.trim()).ok())
            .is_some_and(|public| keygen::fingerprint(&public) == fingerprint)
    });
    if already {
        let note = remember(cx, |state| {
            state
                .ssh_registered
                .insert(org.to_ascii_lowercase(), fingerprint.to_string());
        });
        return Ok((
            Status::Ok,
            format!("Azure DevOps already has this key{note}"),
        ));
    }
    let valid_to = valid_until(cx, cx.settings.ssh_key().valid_days);
    let display_name = display_name(cx);
    let mut registered = None;
    let change = Change::KeyRegistered {
        path: key.to_path_buf(),
        org: org.to_string(),
        fingerprint: fingerprint.to_string(),
    };
    step.journaled(change, || {
        let key = with_token(cx, org, |token| {
            api.register(org, token, &org_id, &display_name, line, &valid_to)
        })
        .map_err(std::io::Error::other)?;
        registered = Some(key);
        Ok(1)
    })
    .map_err(|e| e.to_string())?;
    let note = remember(cx, |state| {
        state
            .ssh_registered
            .insert(org.to_ascii_lowercase(), fingerprint.to_string());
    });
    let until = registered
        .and_then(|k| k.valid_to)
        .unwrap_or(valid_to)
        .chars()
        .take(10)
        .collect::<String>();
    Ok((
        Status::Done,
        format!("registered as “{display_name}”, valid until {until}{note}"),
    ))
}

/// Records what a step did in the agent's state, so the next plan knows it. A failure does
/// not undo the step: it is said as the tail of the item's detail.
pub(super) fn remember(cx: &Context<'_>, change: impl FnOnce(&mut State)) -> String {
    match State::update(&cx.paths.data_dir, change) {
        Ok(()) => String::new(),
        Err(err) => format!(
            "; warning: ado-cutover could not remember this ({err}), so the next run may do it again"
        ),
    }
}

/// The guided steps: the public key on the clipboard and in its file, the organization's SSH
/// keys page opened, and what to do there. Recorded as a step for the user.
fn guided(
    cx: &Context<'_>,
    finding: &Finding,
    org: &str,
    key: &Path,
    line: &str,
    failure: Option<&str>,
) -> Item {
    let page = keys_page(org);
    let person = cx.interaction != Interaction::Silent;
    let copied = person && desktop::copy(line).is_ok();
    let opened = person && !org.is_empty() && desktop::open_url(cx.env, &page).is_ok();
    let public = cx.paths.display(&keygen::public_path(key));
    let mut detail = String::new();
    if let Some(why) = failure {
        detail += &format!("The key could not be added for you ({why}). ");
    }
    detail += &format!(
        "Add your new SSH key to Azure DevOps: open {page}{}, choose “New Key”, paste the public key ({}{public}), give it a name and save. Then run ado-cutover again to check that it works.",
        if opened {
            " (opened in your browser)"
        } else {
            ""
        },
        if copied {
            "it is on your clipboard, and in "
        } else {
            "it is in "
        },
    );
    item(finding, Status::NeedsUser, detail)
}

/// `ssh -T` with the new key alone.
pub(super) fn check(cx: &Context<'_>, finding: &Finding, key: &Path) -> Item {
    let Some(public) = keygen::read_public(key) else {
        return item(
            finding,
            Status::Skipped,
            "there is no new key to check".into(),
        );
    };
    let encrypted = crate::agent::fsutil::read_capped_text(key)
        .ok()
        .and_then(|pem| ssh_key::PrivateKey::from_openssh(pem).ok())
        .is_some_and(|private| private.is_encrypted());
    if encrypted {
        return item(
            finding,
            Status::Info,
            format!(
                "not checked: the key has a passphrase, which this check cannot type; `ssh -T git@{}` checks it",
                crate::agent::ssh::HOST
            ),
        );
    }
    let fingerprint = keygen::fingerprint(&public);
    let target = verify::Target::new(cx.env, cx.paths.sandbox.is_some());
    let registered = State::load(&cx.paths.data_dir)
        .ssh_registered
        .values()
        .any(|fp| *fp == fingerprint);
    let (status, detail) = match verify::verify(cx.paths, &target) {
        Verdict::Accepted => {
            let stamp = cx.now.date().to_string();
            let note = remember(cx, |state| {
                state.ssh_verified.insert(fingerprint.clone(), stamp);
            });
            (
                Status::Ok,
                format!("verified: Azure DevOps accepts the new key{note}"),
            )
        }
        Verdict::Denied if registered => (
            Status::Failed,
            "Azure DevOps turned the key down although it is registered; a new key can take a minute to work, so run ado-cutover again".to_string(),
        ),
        Verdict::Denied => (
            Status::NeedsUser,
            "Azure DevOps does not accept the key yet: add it (see the step above), then run ado-cutover again".to_string(),
        ),
        Verdict::Expired => (
            Status::NeedsUser,
            "Azure DevOps says the key has expired: add it again on your SSH keys page".to_string(),
        ),
        Verdict::WrongHostKey(seen) => (
            Status::Failed,
            format!(
                "not checked: the server did not show Azure DevOps' published host key (it showed {seen}), so it was not trusted"
            ),
        ),
        Verdict::Unreachable(why) | Verdict::Unknown(why) => {
            (Status::Skipped, format!("not checked: {why}"))
        }
    };
    item(finding, status, detail)
}

/// The name ado-cutover gives what it adds to a person's Azure DevOps account (a key, a token).
pub(super) fn display_name(cx: &Context<'_>) -> String {
    format!("ado-cutover {} {}", host_name(), cx.now.date())
}

/// `days` from now, to the second, in RFC 3339 (`validTo`).
pub(super) fn valid_until(cx: &Context<'_>, days: u32) -> String {
    let until = cx.now + time::Duration::days(i64::from(days));
    until
        .replace_nanosecond(0)
        .unwrap_or(until)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
