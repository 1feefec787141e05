//! Carrying out the `ssh-key` plan: making the key, registering it (sign-in, API, or the guided
//! steps), and checking it with `ssh -T`. The engine calls [`apply`] for these actions, in the
//! plan's order, so the key exists before it is registered and registered before it is checked.

use std::path::Path;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::keys_page;
use crate::agent::ado::entra::{self, Authority, Secret, SignInError, SignedIn};
use crate::agent::ado::ssh_keys::{Api, ApiError};
use crate::agent::ado::tenant::{Backing, Lookup};
use crate::agent::desktop;
use crate::agent::engine::{item, journaled};
use crate::agent::http;
use crate::agent::journal::{Change, Journal};
use crate::agent::settings::keys;
use crate::agent::ssh::keygen::{self, Spec};
use crate::agent::ssh::verify::{self, Verdict};
use crate::agent::state::State;
use crate::agent::tasks::{Action, Context, Finding, Interaction};
use crate::report::{Item, Status};

/// Carries out one `ssh-key` action.
pub fn apply(
    cx: &Context<'_>,
    task: &str,
    finding: &Finding,
    journal: &Journal,
    run_id: Uuid,
) -> Item {
    match &finding.action {
        Action::CreateSshKey(spec) => create(cx, task, finding, spec, journal, run_id),
        Action::RegisterSshKey { org, key, api } => {
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
            match register(cx, task, org, key, &line, &fingerprint, journal, run_id) {
                Ok(item) => item_for(finding, item),
                Err(why) => guided(cx, finding, org, key, &line, Some(&why)),
            }
        }
        Action::VerifySsh { key } => check(cx, finding, key),
        Action::CreatePat { org } => super::pat::create(cx, task, finding, org, journal, run_id),
        _ => item(finding, Status::Failed, "not an ssh-key action".into()),
    }
}

fn item_for(finding: &Finding, (status, detail): (Status, String)) -> Item {
    item(finding, status, detail)
}

/// Makes the key pair, asking for a passphrase in the guided run, showing progress meanwhile.
fn create(
    cx: &Context<'_>,
    task: &str,
    finding: &Finding,
    spec: &Spec,
    journal: &Journal,
    run_id: Uuid,
) -> Item {
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
    let written = journaled(cx, task, change, journal, run_id, || {
        warning = keygen::write(spec, &key, cx.env)?;
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

/// The passphrase for the new key: asked in the guided run only, as `ssh_key.passphrase` says.
fn passphrase(cx: &Context<'_>) -> Result<Option<String>, String> {
    let policy = cx
        .settings
        .text(&keys::SSH_KEY_PASSPHRASE)
        .unwrap_or_default();
    if policy == "none" || cx.interaction != Interaction::Guided {
        return Ok(None);
    }
    let required = policy == "required";
    let prompt = if required {
        "Passphrase for the new SSH key (your organization requires one): "
    } else {
        "Passphrase for the new SSH key (press Enter for none): "
    };
    for _ in 0..3 {
        let Ok(first) = rpassword::prompt_password(prompt) else {
            break;
        };
        if first.is_empty() && !required {
            return Ok(None);
        }
        if first.is_empty() {
            eprintln!("A passphrase is required.");
            continue;
        }
        let again = rpassword::prompt_password("The same passphrase again: ").unwrap_or_default();
        if again == first {
            return Ok(Some(first));
        }
        eprintln!("The two passphrases differ; try again.");
    }
    if required {
        Err("not made: a passphrase is required and none was given; run ado-cutover again to make the key".into())
    } else {
        Ok(None)
    }
}

/// Signs in (once per run), then registers the key unless Azure DevOps already has it.
#[allow(clippy::too_many_arguments)]
fn register(
    cx: &Context<'_>,
    task: &str,
    org: &str,
    key: &Path,
    line: &str,
    fingerprint: &str,
    journal: &Journal,
    run_id: Uuid,
) -> Result<(Status, String), String> {
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
        remember_registered(cx, org, fingerprint);
        return Ok((Status::Ok, "Azure DevOps already has this key".to_string()));
    }
    let days = cx
        .settings
        .text(&keys::SSH_KEY_VALID_DAYS)
        .and_then(|d| d.parse::<i64>().ok())
        .unwrap_or(365)
        .clamp(1, 365);
    let valid_to = super::valid_until(cx, days);
    let display_name = super::display_name(cx);
    let mut registered = None;
    let change = Change::KeyRegistered {
        path: key.to_path_buf(),
        org: org.to_string(),
        fingerprint: fingerprint.to_string(),
    };
    journaled(cx, task, change, journal, run_id, || {
        let key = with_token(cx, org, |token| {
            api.register(org, token, &org_id, &display_name, line, &valid_to)
        })
        .map_err(std::io::Error::other)?;
        registered = Some(key);
        Ok(1)
    })
    .map_err(|e| e.to_string())?;
    remember_registered(cx, org, fingerprint);
    let until = registered
        .and_then(|k| k.valid_to)
        .unwrap_or(valid_to)
        .chars()
        .take(10)
        .collect::<String>();
    Ok((
        Status::Done,
        format!("registered as “{display_name}”, valid until {until}"),
    ))
}

pub(super) fn remember_registered(cx: &Context<'_>, org: &str, fingerprint: &str) {
    let saved = State::update(&cx.paths.data_dir, |state| {
        state
            .ssh_registered
            .insert(org.to_ascii_lowercase(), fingerprint.to_string());
    });
    if let Err(err) = saved {
        eprintln!("warning: could not remember the registration: {err}");
    }
}

/// Calls Azure DevOps with the run's sign-in; when the token is turned down, refreshes it once
/// and tries again.
pub(super) fn with_token<T>(
    cx: &Context<'_>,
    org: &str,
    call: impl Fn(&Secret) -> Result<T, ApiError>,
) -> Result<T, String> {
    let signed_in = signed_in(cx, org)?;
    match call(&signed_in.tokens.access) {
        Err(ApiError::SignIn(first)) => {
            let http = http::agent(Duration::from_secs(30));
            let tokens = entra::refresh(&http, &signed_in.authority, &signed_in.tokens)
                .map_err(|e| format!("Azure DevOps did not accept the sign-in ({first}) and it could not be renewed: {e}"))?;
            let access = tokens.access.clone();
            if let Ok(mut slot) = cx.sign_in.lock() {
                *slot = Some(Ok(SignedIn {
                    authority: signed_in.authority.clone(),
                    tokens,
                }));
            }
            call(&access).map_err(|e| e.to_string())
        }
        other => other.map_err(|e| e.to_string()),
    }
}

/// The run's sign-in, made on first use: in the browser, or with a device code when no
/// browser can be opened. A failed sign-in is not asked again in the same run.
fn signed_in(cx: &Context<'_>, org: &str) -> Result<SignedIn, String> {
    let mut slot = cx
        .sign_in
        .lock()
        .map_err(|_| "the sign-in is unavailable".to_string())?;
    if let Some(done) = slot.as_ref() {
        return done.clone();
    }
    let result = sign_in(cx, org);
    *slot = Some(result.clone());
    result
}

fn sign_in(cx: &Context<'_>, org: &str) -> Result<SignedIn, String> {
    let client_id = cx
        .settings
        .text(&keys::ENTRA_CLIENT_ID)
        .ok_or("entra.client_id is not set")?;
    let tenant = match cx
        .settings
        .text(&keys::ENTRA_TENANT)
        .or(cx.settings.expected_tenant())
    {
        Some(tenant) => tenant.to_string(),
        None => match Lookup::new(cx.env).backing(org) {
            Backing::Entra(tenant) => tenant,
            Backing::Msa => {
                return Err(format!(
                    "{org} still uses personal Microsoft accounts, so there is no Entra sign-in yet"
                ));
            }
            Backing::NotFound => return Err(format!("Azure DevOps has no organization {org}")),
            Backing::Unknown(why) => {
                return Err(format!("the organization's tenant is unknown: {why}"));
            }
        },
    };
    let authority = Authority::new(cx.env, &tenant, client_id)?;
    let http = http::agent(Duration::from_secs(30));
    eprintln!("Signing in to Azure DevOps with your work account (Microsoft Entra ID)...");
    let say = |text: &str| eprintln!("{text}");
    let open = |url: &str| desktop::open_url(cx.env, url);
    let tokens = match entra::browser(&http, &authority, &open, &say) {
        Err(SignInError::NoBrowser(why)) => {
            eprintln!("({why}; signing in with a code instead)");
            entra::device_code(&http, &authority, &say)
        }
        other => other,
    }
    .map_err(|e| e.to_string())?;
    eprintln!("Signed in.");
    Ok(SignedIn { authority, tokens })
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
fn check(cx: &Context<'_>, finding: &Finding, key: &Path) -> Item {
    let Some(public) = keygen::read_public(key) else {
        return item(
            finding,
            Status::Skipped,
            "there is no new key to check".into(),
        );
    };
    let encrypted = std::fs::read_to_string(key)
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
            let saved = State::update(&cx.paths.data_dir, |state| {
                state.ssh_verified.insert(fingerprint.clone(), stamp);
            });
            if let Err(err) = saved {
                eprintln!("warning: could not remember the check: {err}");
            }
            (
                Status::Ok,
                "verified: Azure DevOps accepts the new key".to_string(),
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
