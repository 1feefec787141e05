//! Task `ssh-key`: a new SSH key for Azure DevOps, set up, registered and verified.
//!
//! Microsoft tells every SSH user to add a new key after the move to Entra ID: keys added under
//! the old identity do not carry over. Applies when the user uses SSH with Azure DevOps (an SSH
//! remote, or Azure DevOps in `~/.ssh/config` or `known_hosts`), or when `ssh_key.create =
//! "always"`. The plan, in order:
//!
//! 1. the key: found (the key the block names, or one ado-cutover made earlier, by the marker in
//!    its comment) or made at a name that cannot clash (`~/.ssh/id_rsa_azure_devops`, numbered
//!    if taken); RSA 4096 by default, since Azure DevOps accepts only RSA as of 2026;
//! 2. the `~/.ssh/config` block (see [`crate::agent::ssh::config`]), journaled for `undo`, and
//!    the leftovers of the old guidance, reported;
//! 3. registration with each organization: through the SessionTokens API after an Entra
//!    sign-in, or the guided steps when that is turned off, not set up, or fails;
//! 4. `ssh -T` with the new key only.
//!
//! What is done is remembered (registered fingerprints, verified keys), so a second run changes
//! nothing. `undo` restores `~/.ssh/config`; the key files stay.

mod pat;

use std::path::{Path, PathBuf};

use super::{Action, Context, Evidence, Finding, Interaction, Task, TaskError};
use crate::agent::data::journal::{Change, sha256_hex};
use crate::agent::data::state::State;
use crate::agent::settings::{KeyCreation, Passphrase, Registration, keys};
use crate::agent::ssh::keygen::{self, KeyType, Spec};
use crate::agent::ssh::{self, config};
use crate::report::Status;

/// The `ssh-key` task.
pub(crate) struct SshKey;

/// An organization's SSH public keys page.
pub(crate) fn keys_page(org: &str) -> String {
    if org.is_empty() {
        "https://dev.azure.com (User settings, SSH public keys)".to_string()
    } else {
        format!("https://dev.azure.com/{org}/_usersSettings/keys")
    }
}

impl Task for SshKey {
    fn id(&self) -> &'static str {
        "ssh-key"
    }

    fn title(&self) -> &'static str {
        "A new SSH key for Azure DevOps"
    }

    fn why(&self) -> &'static str {
        "SSH keys added under your old sign-in do not carry over. ado-cutover makes a new key \
         (your other keys stay as they are), sets up SSH to use it for Azure DevOps, adds it to \
         your account and checks that it works."
    }

    fn detect(&self, cx: &Context<'_>, evidence: &mut Evidence) -> Result<Vec<Finding>, TaskError> {
        let mut findings = ssh_findings(cx, evidence)?;
        findings.extend(pat::findings(cx));
        Ok(findings)
    }
}

/// An organization's personal access tokens page.
pub(crate) fn tokens_page(org: &str) -> String {
    format!("https://dev.azure.com/{org}/_usersSettings/tokens")
}

/// The SSH part of the plan.
fn ssh_findings(cx: &Context<'_>, evidence: &Evidence) -> Result<Vec<Finding>, TaskError> {
    let settings = cx.settings.ssh_key();
    if settings.create == KeyCreation::Never {
        return Ok(Vec::new());
    }
    let config_path = cx.paths.ssh_dir.join("config");
    let config_text = match crate::agent::fsutil::read_capped_text(&config_path) {
        Ok(text) => Some(text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => {
            return Err(TaskError(format!(
                "cannot read {}: {err}",
                cx.paths.display(&config_path)
            )));
        }
    };
    let text = config_text.as_deref().unwrap_or("");
    let uses_ssh = evidence.ssh_remotes
        || super::guidance::ssh_use(&cx.paths.ssh_dir).is_some()
        || config::identity(text).is_some();
    if settings.create == KeyCreation::Auto && !uses_ssh {
        return Ok(Vec::new());
    }
    let kind = settings.kind;
    let mut findings = Vec::new();

    let (key, fingerprint) = match existing_key(&cx.paths.ssh_dir, text, kind) {
        Some((path, fingerprint)) => {
            findings.push(Finding {
                kind: "ssh-key",
                target: cx.paths.display(&path),
                detail: format!("the key ado-cutover made: {fingerprint}"),
                action: Action::Note(Status::Ok),
            });
            (path, Some(fingerprint))
        }
        None => {
            if settings.passphrase == Passphrase::Required && cx.interaction != Interaction::Guided
            {
                findings.push(Finding {
                        kind: "ssh-key",
                        target: cx.paths.display(&cx.paths.ssh_dir),
                        detail: "You need a new SSH key for Azure DevOps, and your organization wants it protected with a passphrase: start ado-cutover yourself (double-click it) to make it.".into(),
                        action: Action::NeedsUser,
                    });
                return Ok(findings);
            }
            if let Some((path, fingerprint)) = interrupted_key(cx, kind) {
                findings.push(Finding {
                    kind: "ssh-key",
                    target: cx.paths.display(&path),
                    detail: format!(
                        "the key an interrupted run made ({fingerprint}), its public half written again"
                    ),
                    action: Action::CompleteSshKey(path.clone()),
                });
                (path, Some(fingerprint))
            } else {
                let path = keygen::free_name(&cx.paths.ssh_dir, kind);
                findings.push(Finding {
                    kind: "ssh-key",
                    target: cx.paths.display(&path),
                    detail: format!(
                        "a new {kind} key for Azure DevOps (your other keys are not touched)"
                    ),
                    action: Action::CreateSshKey(Spec {
                        path: path.clone(),
                        kind,
                        comment: comment(cx),
                    }),
                });
                (path, None)
            }
        }
    };

    findings.push(config_finding(
        cx,
        &config_path,
        config_text.as_deref(),
        &key,
    ));
    // Line numbers as the file will read once the block is in place.
    let after = config::with_block(text, &key).unwrap_or_else(|_| text.to_string());
    for leftover in config::leftovers(&after) {
        findings.push(Finding {
            kind: "ssh-config-leftover",
            target: format!("{} line {}", cx.paths.display(&config_path), leftover.line),
            detail: format!("`{}`: {}", leftover.text, leftover.why),
            action: Action::Note(Status::Info),
        });
    }
    if let Some(held) = agent_keys(cx) {
        findings.push(Finding {
                kind: "ssh-agent",
                target: "ssh-agent".into(),
                detail: format!(
                    "ssh-agent holds {held}, which ssh would offer first; Azure DevOps judges only the first key offered, so the block's IdentitiesOnly yes keeps them away from it"
                ),
                action: Action::Note(Status::Info),
            });
    }

    let state = State::load(&cx.paths.data_dir);
    let (api, not_api) = registration_path(cx);
    let configured = cx.settings.organizations();
    let orgs: Vec<String> = if configured.is_empty() {
        evidence.ssh_orgs.iter().cloned().collect()
    } else {
        configured.to_vec()
    };
    let orgs = if orgs.is_empty() {
        vec![String::new()]
    } else {
        orgs
    };
    for org in orgs {
        let registered = fingerprint.is_some()
            && state.ssh_registered.get(&org.to_ascii_lowercase()) == fingerprint.as_ref();
        let target = if org.is_empty() {
            "Azure DevOps".to_string()
        } else {
            org.clone()
        };
        let (detail, action) = if registered {
            (
                "the key is registered with your Azure DevOps account".to_string(),
                Action::Note(Status::Ok),
            )
        } else if api && !org.is_empty() {
            (
                    "sign in with your work account (Microsoft Entra ID) and add the key to your Azure DevOps account".to_string(),
                    Action::RegisterSshKey { org: org.clone(), key: key.clone(), api: true },
                )
        } else {
            (
                format!(
                    "add the new key to your Azure DevOps account on {}{not_api}",
                    keys_page(&org)
                ),
                Action::RegisterSshKey {
                    org: org.clone(),
                    key: key.clone(),
                    api: false,
                },
            )
        };
        findings.push(Finding {
            kind: "ssh-key-registration",
            target,
            detail,
            action,
        });
    }

    let verified = fingerprint
        .as_ref()
        .and_then(|fp| state.ssh_verified.get(fp));
    findings.push(match verified {
        Some(when) => Finding {
            kind: "ssh-verify",
            target: format!("ssh -T git@{}", ssh::HOST),
            detail: format!("Azure DevOps accepted the key ({when})"),
            action: Action::Note(Status::Ok),
        },
        None => Finding {
            kind: "ssh-verify",
            target: format!("ssh -T git@{}", ssh::HOST),
            detail: "Azure DevOps accepts the new key (checked with it alone)".into(),
            action: Action::VerifySsh { key: key.clone() },
        },
    });
    Ok(findings)
}

/// The key an earlier run made: the one the block names, else one at ado-cutover's names with
/// its marker in the comment. Only a key of the configured type counts (changing
/// `ssh_key.type` makes a new key).
fn existing_key(ssh_dir: &Path, config_text: &str, kind: KeyType) -> Option<(PathBuf, String)> {
    let wanted = |public: &ssh_key::PublicKey| match kind {
        KeyType::Rsa { .. } => matches!(public.algorithm(), ssh_key::Algorithm::Rsa { .. }),
        KeyType::Ed25519 => public.algorithm() == ssh_key::Algorithm::Ed25519,
    };
    let named = config::identity(config_text).into_iter();
    let ours = keygen::our_names(ssh_dir, kind).into_iter();
    named.chain(ours).find_map(|path| {
        let public = keygen::read_public(&path)?;
        let marked = public.comment().contains(keygen::MARKER);
        (path.is_file()
            && wanted(&public)
            && (marked || config::identity(config_text).as_ref() == Some(&path)))
        .then(|| (path, keygen::fingerprint(&public)))
    })
}

/// A private key at one of ado-cutover's names without its `.pub`, which the journal says a
/// run made (its fingerprint matches the run's intent): that run was killed between the two
/// files. Its key is completed, not replaced by a second one.
fn interrupted_key(cx: &Context<'_>, kind: KeyType) -> Option<(PathBuf, String)> {
    let entries = crate::agent::data::journal::Journal::new(&cx.paths.data_dir)
        .entries()
        .ok()?;
    keygen::our_names(&cx.paths.ssh_dir, kind)
        .into_iter()
        .filter(|path| path.is_file() && !keygen::public_path(path).exists())
        .find_map(|path| {
            let fingerprint = keygen::fingerprint(&keygen::public_of_private(&path)?);
            entries
                .iter()
                .any(|entry| {
                    matches!(&entry.change, Change::KeyCreated { path: made, fingerprint: f }
                        if *made == path && *f == fingerprint)
                })
                .then_some((path, fingerprint))
        })
}

/// The `~/.ssh/config` block: in place, to be written, or left alone because it is damaged.
fn config_finding(cx: &Context<'_>, path: &Path, current: Option<&str>, key: &Path) -> Finding {
    let text = current.unwrap_or("");
    let target = cx.paths.display(path);
    match config::with_block(text, key) {
        Ok(new) if current.is_some() && new == text => Finding {
            kind: "ssh-config",
            target,
            detail: "ssh offers the new key first for Azure DevOps".into(),
            action: Action::Note(Status::Ok),
        },
        Ok(new) => Finding {
            kind: "ssh-config",
            target,
            detail: format!(
                "one marked block for {} and {} that offers the new key first (IdentitiesOnly yes); every other line stays as it is",
                ssh::HOST,
                crate::agent::hosts::VS_SSH
            ),
            action: Action::WriteFile {
                path: path.to_path_buf(),
                contents: new,
                expected_sha256: current.map(|t| sha256_hex(t.as_bytes())),
                needs: Some(key.to_path_buf()),
            },
        },
        Err(why) => Finding {
            kind: "ssh-config",
            target,
            detail: format!(
                "left alone: {why}. Delete the lines from `{}` to `{}`, then run ado-cutover again.",
                config::BEGIN,
                config::END
            ),
            action: Action::NeedsUser,
        },
    }
}

/// Whether registration can use the API, and if not, why (as a sentence tail).
fn registration_path(cx: &Context<'_>) -> (bool, &'static str) {
    registration(
        cx.settings.ssh_key().registration,
        cx.settings.text(&keys::ENTRA_CLIENT_ID).is_some(),
        cx.interaction,
    )
}

/// [`registration_path`] from the facts it depends on.
fn registration(
    wanted: Registration,
    client_id_set: bool,
    interaction: Interaction,
) -> (bool, &'static str) {
    if wanted == Registration::Guided {
        return (false, "");
    }
    if !client_id_set {
        return (
            false,
            " (automatic registration is not set up: your administrator can set entra.client_id)",
        );
    }
    if interaction == Interaction::Silent {
        return (
            false,
            " (or start ado-cutover yourself to sign in and have it added for you)",
        );
    }
    (true, "")
}

/// How many keys the user's ssh-agent holds (`ssh-add -l`), when it runs and holds some.
fn agent_keys(cx: &Context<'_>) -> Option<String> {
    let socket = cx.env.get_os("SSH_AUTH_SOCK")?;
    let output = cx
        .paths
        .command("ssh-add")
        .arg("-l")
        .env("SSH_AUTH_SOCK", socket)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let held = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| l.contains("SHA256:") || l.contains("MD5:"))
        .count();
    match held {
        0 => None,
        1 => Some("1 key".into()),
        n => Some(format!("{n} keys")),
    }
}

/// `user@device ado-cutover YYYY-MM-DD`.
fn comment(cx: &Context<'_>) -> String {
    let user = crate::agent::device::user(cx.env).name;
    format!(
        "{user}@{} {} {}",
        host_name(),
        keygen::MARKER,
        cx.now.date()
    )
}

/// This computer's name, for the key's comment and its name in Azure DevOps.
pub(crate) fn host_name() -> String {
    sysinfo::System::host_name().unwrap_or_else(|| "computer".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_registers_only_when_set_up_asked_for_and_someone_can_sign_in() {
        assert_eq!(
            registration(Registration::Api, true, Interaction::Attended),
            (true, "")
        );
        assert_eq!(
            registration(Registration::Api, true, Interaction::Guided),
            (true, "")
        );
        assert_eq!(
            registration(Registration::Guided, true, Interaction::Guided),
            (false, ""),
            "guided on purpose: no excuse to give"
        );
        let (api, why) = registration(Registration::Api, false, Interaction::Guided);
        assert!(!api && why.contains("entra.client_id"), "{why}");
        let (api, why) = registration(Registration::Api, true, Interaction::Silent);
        assert!(!api && why.contains("start ado-cutover yourself"), "{why}");
    }

    #[test]
    fn an_earlier_key_is_found_by_the_block_or_by_its_marker_and_only_of_the_wanted_type() {
        let dir = tempfile::tempdir().unwrap();
        let ssh = dir.path();
        let make = |name: &str, kind: KeyType, comment: &str| {
            let spec = Spec {
                path: ssh.join(name),
                kind,
                comment: comment.into(),
            };
            let key = keygen::generate(&spec, None).unwrap();
            keygen::write(&spec, &key).unwrap();
            spec.path
        };
        assert_eq!(existing_key(ssh, "", KeyType::Ed25519), None, "no keys");
        // A key of the person's own, without the marker and not named by the block: not ours.
        make("id_ed25519_azure_devops", KeyType::Ed25519, "me@laptop");
        assert_eq!(existing_key(ssh, "", KeyType::Ed25519), None);
        // The block names it: it is the one in use.
        let block = config::with_block("", &ssh.join("id_ed25519_azure_devops")).unwrap();
        let (found, _) = existing_key(ssh, &block, KeyType::Ed25519).unwrap();
        assert_eq!(found, ssh.join("id_ed25519_azure_devops"));
        // Another type is asked for: that key does not count.
        assert_eq!(existing_key(ssh, &block, KeyType::Rsa { bits: 3072 }), None);
        // One ado-cutover made, found by the marker in its comment.
        let marked = make(
            "id_ed25519_azure_devops_2",
            KeyType::Ed25519,
            &format!("me@laptop {} 2026-11-29", keygen::MARKER),
        );
        let (found, fingerprint) = existing_key(ssh, "", KeyType::Ed25519).unwrap();
        assert_eq!(found, marked);
        assert!(fingerprint.starts_with("SHA256:"), "{fingerprint}");
    }
}
