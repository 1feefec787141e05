//! The `verify` task's checks, run after the cleanup: tenant, identity, git over HTTPS, SSH and
//! package feeds, each one item with `ok`, `needs-user`, `failed` or `skipped` and its reason
//! in plain words; then one `verified` item per organization that sums them up.
//!
//! The credential: the run's one Entra sign-in when a person is there and the company's app is
//! configured (never a second prompt: the same sign-in as `ssh-key`); otherwise the one git
//! keeps for the organization, asked from the user's own credential helper (`git credential
//! fill`) with every prompt off. It stays in memory: git gets it through its environment for
//! one `ls-remote` with the helpers off, so a check never saves or erases a credential (git
//! would after a success or a refusal); never a file or the command line, and no message
//! carries it.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use super::{Step, item, sign_in};
use crate::agent::ado::entra::Secret;
use crate::agent::ado::ssh_keys::{Api, ApiError};
use crate::agent::ado::tenant::{Backing, Lookup};
use crate::agent::ado::verify::{Feed, feed_request_url, probe_feed};
use crate::agent::ado::{Credential, base_url, tenant};
use crate::agent::process::run_within;
use crate::agent::settings::keys;
use crate::agent::ssh::verify::{self as ssh_check, Verdict};
use crate::agent::tasks::verify::{CONCLUSION_KIND, Check};
use crate::agent::tasks::{Action, Context, Finding, Interaction};
use crate::report::{Item, Status};

/// How long one `git ls-remote` may take.
const GIT_TIMEOUT: Duration = Duration::from_secs(60);

/// What the checks learnt, per organization, for the conclusion.
#[derive(Default)]
pub(crate) struct Learnt {
    credentials: Mutex<BTreeMap<String, Result<Credential, String>>>,
    accounts: Mutex<BTreeMap<String, String>>,
}

/// Runs one check.
pub(super) fn check(step: &Step<'_, '_>, finding: &Finding, org: &str, check: &Check) -> Item {
    let (status, detail) = match check {
        Check::Tenant => tenant_check(step.cx, org),
        Check::Identity => identity(step, org),
        Check::GitHttps { url } => git(step, org, url),
        Check::Ssh => ssh(step.cx),
        Check::Feed { url } => feed(step, org, url),
    };
    item(finding, status, detail)
}

fn tenant_check(cx: &Context<'_>, org: &str) -> (Status, String) {
    let expected = cx.settings.expected_tenant();
    match Lookup::new(cx.env).backing(org) {
        Backing::Entra(tenant) if expected.is_none_or(|e| e == tenant) => (
            Status::Ok,
            format!("{org} is connected to Microsoft Entra tenant {tenant}"),
        ),
        Backing::Entra(tenant) => (
            Status::Failed,
            format!(
                "{org} answers with tenant {tenant}, not {} as configured: ask your administrator which is right",
                expected.unwrap_or_default()
            ),
        ),
        Backing::Msa => (
            Status::Failed,
            format!("{org} still uses personal Microsoft accounts: it has not switched"),
        ),
        Backing::NotFound => (
            Status::Failed,
            format!("Azure DevOps has no organization {org}"),
        ),
        Backing::Unknown(why) => (Status::Skipped, format!("not checked: {why}")),
    }
}

/// The credential for `org`, found once per run.
fn credential(step: &Step<'_, '_>, org: &str) -> Result<Credential, String> {
    let learnt = &step.memory.checks;
    if let Some(known) = learnt
        .credentials
        .lock()
        .ok()
        .and_then(|c| c.get(org).cloned())
    {
        return known;
    }
    let cx = step.cx;
    let can_sign_in =
        cx.interaction != Interaction::Silent && cx.settings.text(&keys::ENTRA_CLIENT_ID).is_some();
    let found = if can_sign_in {
        sign_in::access_token(cx, org).map(Credential::Bearer)
    } else {
        git_credential(cx, org)
    };
    if let Ok(mut credentials) = learnt.credentials.lock() {
        credentials.insert(org.to_string(), found.clone());
    }
    found
}

/// The organization's URL as git sees it (`https://dev.azure.com/{org}`, or the test server's).
fn org_url(cx: &Context<'_>, org: &str) -> Result<url::Url, String> {
    let base = base_url(cx.env, tenant::BASE_URL_VAR, "https://dev.azure.com")?;
    url::Url::parse(&format!("{base}/{org}")).map_err(|e| e.to_string())
}

/// `git credential fill` for the organization, every prompt off: what git itself would send.
fn git_credential(cx: &Context<'_>, org: &str) -> Result<Credential, String> {
    let url = org_url(cx, org)?;
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    };
    let input = format!(
        "protocol={}\nhost={host}\npath={}\n\n",
        url.scheme(),
        url.path().trim_start_matches('/')
    );
    let mut command = cx.paths.git_outside_repos();
    no_prompts(&mut command);
    let child = command
        .args(["credential", "fill"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let no_credential = || {
        format!(
            "git has no saved sign-in for {org}: sign in with your work account (open one of its repositories in your IDE, or run `git fetch` in one), then run ado-cutover again"
        )
    };
    let Ok(mut child) = child else {
        return Err(
            "git could not be started (it is not installed, or not on PATH): install Git (Git for Windows on Windows), then run ado-cutover again"
                .into(),
        );
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let Ok(output) = child.wait_with_output() else {
        return Err(no_credential());
    };
    if !output.status.success() {
        return Err(no_credential());
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_string)
    };
    match field("password").filter(|p| !p.is_empty()) {
        Some(password) => Ok(Credential::Basic {
            user: field("username").unwrap_or_default(),
            password: Secret::new(password),
        }),
        None => Err(no_credential()),
    }
}

/// Git and Git Credential Manager may not ask anyone anything; git speaks English, so its
/// messages can be read ([`judge_git`]) whatever the person's language.
fn no_prompts(command: &mut Command) {
    command
        .env("LC_ALL", "C")
        .env("LANGUAGE", "")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GCM_INTERACTIVE", "never")
        .env("GIT_ASKPASS", "")
        .env("SSH_ASKPASS", "")
        .args(["-c", "credential.interactive=never", "-c", "core.askPass="]);
}

fn identity(step: &Step<'_, '_>, org: &str) -> (Status, String) {
    let credential = match credential(step, org) {
        Ok(credential) => credential,
        Err(why) => return (Status::NeedsUser, why),
    };
    let api = match Api::new(step.cx.env) {
        Ok(api) => api,
        Err(why) => return (Status::Failed, why),
    };
    match api.member(org, &credential) {
        Ok(member) => {
            let who = member
                .account
                .clone()
                .or(member.name.clone())
                .unwrap_or_else(|| "your account".into());
            if let Ok(mut accounts) = step.memory.checks.accounts.lock() {
                accounts.insert(org.to_string(), who.clone());
            }
            (Status::Ok, format!("signed in as {who}, a member of {org}"))
        }
        Err(ApiError::NotAuthorized(message)) if message.contains("TF401444") => (
            Status::NeedsUser,
            format!(
                "Azure DevOps wants this account to sign in once in a web browser first: open https://dev.azure.com/{org} and sign in with your work account, then run ado-cutover again ({message})"
            ),
        ),
        Err(ApiError::NotAuthorized(message)) => (
            Status::NeedsUser,
            format!(
                "the account you signed in with is not a member of {org} (a personal or other account?): sign out, sign in with your work account; if it is your work account, ask your administrator to add it ({message})"
            ),
        ),
        Err(ApiError::SignIn(why)) => (
            Status::NeedsUser,
            format!(
                "{org} did not accept the sign-in ({why}): sign in again with your work account, then run ado-cutover again"
            ),
        ),
        Err(err @ (ApiError::Unreachable(_) | ApiError::Throttled | ApiError::Server(_))) => {
            (Status::Skipped, format!("not checked: {err}"))
        }
        Err(err) => (Status::Failed, err.to_string()),
    }
}

/// `git ls-remote <url> HEAD` outside every repository, with the organization's credential
/// (the run's sign-in, or the one git's own helper gave) in git's environment and every
/// credential helper off: so git neither asks anyone nor saves or erases anything.
fn git(step: &Step<'_, '_>, org: &str, url: &str) -> (Status, String) {
    let cx = step.cx;
    let target = match org_url(cx, org) {
        Ok(base) => {
            let base = base.as_str().trim_end_matches('/').trim_end_matches(org);
            let rest = url
                .split_once("dev.azure.com/")
                .map_or(url, |(_, rest)| rest);
            format!("{base}{rest}")
        }
        Err(why) => return (Status::Failed, why),
    };
    let credential = match credential(step, org) {
        Ok(credential) => credential,
        Err(why) => return (Status::NeedsUser, why),
    };
    let how = match credential {
        Credential::Bearer(_) => "with your sign-in",
        Credential::Basic { .. } => "with the sign-in git keeps",
    };
    let mut command = cx.paths.git_outside_repos();
    no_prompts(&mut command);
    command
        .env("GIT_CONFIG_COUNT", "2")
        .env("GIT_CONFIG_KEY_0", "credential.helper")
        .env("GIT_CONFIG_VALUE_0", "")
        .env("GIT_CONFIG_KEY_1", "http.extraHeader")
        .env(
            "GIT_CONFIG_VALUE_1",
            format!("Authorization: {}", credential.header()),
        )
        .args(["ls-remote", "--", &target, "HEAD"]);
    match run_within(command, GIT_TIMEOUT) {
        Ok(done) if done.success => (Status::Ok, format!("git can reach it ({how})")),
        Ok(done) => judge_git(&done.output, how),
        Err(why) => (Status::Skipped, format!("not checked: {why}")),
    }
}

/// What a failed `git ls-remote` means, in fixed words (git's own message may name the URL).
fn judge_git(output: &str, how: &str) -> (Status, String) {
    let has = |needle: &str| output.to_ascii_lowercase().contains(needle);
    if has("403") {
        (
            Status::Failed,
            format!(
                "Azure DevOps denied access to this repository ({how}): ask its project's administrators for access"
            ),
        )
    } else if has("404") || has("not found") {
        (
            Status::Failed,
            "Azure DevOps has no such repository any more: it was renamed, moved or deleted; fix the remote".into(),
        )
    } else if has("401")
        || has("authentication failed")
        || has("terminal prompts disabled")
        || has("could not read username")
        || has("could not read password")
        || has("unable to get password")
        || has("unable to get username")
    {
        (
            Status::NeedsUser,
            format!(
                "git could not sign in ({how}): sign in with your work account (run `git fetch` in this repository), then run ado-cutover again"
            ),
        )
    } else if has("could not resolve host")
        || has("failed to connect")
        || has("timed out")
        || has("connection refused")
    {
        (
            Status::Skipped,
            "not checked: Azure DevOps could not be reached (offline?)".into(),
        )
    } else {
        (
            Status::Failed,
            "git could not reach the repository for a reason it did not name; run `git fetch` in it to see why".into(),
        )
    }
}

fn ssh(cx: &Context<'_>) -> (Status, String) {
    let target = ssh_check::Target::new(cx.env, cx.paths.sandbox.is_some());
    match ssh_check::verify(cx.paths, &target) {
        Verdict::Accepted => (
            Status::Ok,
            "Azure DevOps accepts your SSH key".to_string(),
        ),
        Verdict::Denied => (
            Status::NeedsUser,
            "Azure DevOps does not accept your SSH key: add your key on your SSH keys page (the ssh-key task's step), then run ado-cutover again".to_string(),
        ),
        Verdict::Expired => (
            Status::NeedsUser,
            "Azure DevOps says your SSH key has expired: add it again on your SSH keys page".to_string(),
        ),
        Verdict::WrongHostKey(seen) => (
            Status::Failed,
            format!("the server did not show Azure DevOps' published host key (it showed {seen})"),
        ),
        Verdict::Unreachable(why) | Verdict::Unknown(why) => {
            (Status::Skipped, format!("not checked: {why}"))
        }
    }
}

fn feed(step: &Step<'_, '_>, org: &str, url: &str) -> (Status, String) {
    let credential = match credential(step, org) {
        Ok(credential) => credential,
        Err(why) => return (Status::NeedsUser, why),
    };
    let request = match feed_request_url(step.cx.env, url) {
        Ok(request) => request,
        Err(why) => return (Status::Failed, why),
    };
    match probe_feed(&request, &credential) {
        Feed::Reachable => (Status::Ok, "the feed answers with your sign-in".into()),
        Feed::NeedsSignIn => (
            Status::NeedsUser,
            "the feed did not accept the sign-in: sign in again with your work account".into(),
        ),
        Feed::Denied(why) => (
            Status::Failed,
            format!("the feed refuses this account ({why}): ask the feed's owners for access"),
        ),
        Feed::NotFound => (
            Status::Failed,
            "Azure Artifacts has no such feed any more: fix the file that names it".into(),
        ),
        Feed::Unreachable(why) => (Status::Skipped, format!("not checked: {why}")),
    }
}

/// Fills each `verified` item from the checks of its organization above it: `ok` only when
/// every check passed, else the most serious; its detail says, per channel, how many passed.
pub(super) fn conclude(step: &Step<'_, '_>, findings: &[Finding], items: &mut [Item]) {
    for at in 0..findings.len() {
        let Action::Conclude { org } = &findings[at].action else {
            continue;
        };
        let checks: Vec<(&Check, &Item)> = findings[..at]
            .iter()
            .zip(items[..at].iter())
            .filter_map(|(finding, item)| match &finding.action {
                Action::Check { org: of, check } if of == org => Some((check, item)),
                _ => None,
            })
            .collect();
        let account = step
            .memory
            .checks
            .accounts
            .lock()
            .ok()
            .and_then(|a| a.get(org).cloned());
        let (status, detail) = summary(&checks, account.as_deref());
        let conclusion = &mut items[at];
        conclusion.kind = CONCLUSION_KIND.to_string();
        conclusion.status = status;
        conclusion.detail = detail;
    }
}

/// The conclusion for one organization.
fn summary(checks: &[(&Check, &Item)], account: Option<&str>) -> (Status, String) {
    let worst = checks
        .iter()
        .map(|(_, item)| item.status)
        .max()
        .unwrap_or(Status::Skipped);
    let count = |kind: &str| {
        let of: Vec<&Item> = checks
            .iter()
            .filter(|(check, _)| check.kind() == kind)
            .map(|(_, item)| *item)
            .collect();
        let ok = of.iter().filter(|i| i.status == Status::Ok).count();
        (ok, of.len())
    };
    let as_whom = account.map(|a| format!(" as {a}")).unwrap_or_default();
    let mut channels = Vec::new();
    let (ok, all) = count("verify-git-https");
    if all > 0 {
        let noun = if all == 1 {
            "repository"
        } else {
            "repositories"
        };
        channels.push(format!(
            "Git over HTTPS: {ok} of {all} {noun} reachable{as_whom}"
        ));
    }
    let (ok, all) = count("verify-ssh");
    if all > 0 {
        channels.push(if ok == all {
            "SSH: works".to_string()
        } else {
            "SSH: not working".to_string()
        });
    }
    let (ok, all) = count("verify-feed");
    if all > 0 {
        let noun = if all == 1 { "feed" } else { "feeds" };
        channels.push(format!("package {noun}: {ok} of {all} reachable"));
    }
    let (ok, all) = count("verify-identity");
    if all > 0 && ok < all {
        channels.push("sign-in: not accepted yet".to_string());
    } else if all > 0 && count("verify-git-https").1 == 0 {
        channels.push(format!("signed in{as_whom}"));
    }
    let channels = if channels.is_empty() {
        String::new()
    } else {
        format!(": {}", channels.join("; "))
    };
    let status = match worst {
        Status::Info | Status::Ok | Status::Done => Status::Ok,
        Status::Planned => Status::Skipped,
        other => other,
    };
    let detail = match status {
        Status::Ok => format!("verified working{channels}"),
        Status::Skipped => format!("not everything could be checked{channels}"),
        _ => format!("not working yet{channels}"),
    };
    (status, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(status: Status) -> Item {
        Item {
            kind: String::new(),
            target: String::new(),
            status,
            detail: String::new(),
        }
    }

    #[test]
    fn verified_only_when_every_check_passed() {
        let git = Check::GitHttps { url: "u".into() };
        let ok = done(Status::Ok);
        let denied = done(Status::Failed);
        let (status, detail) = summary(
            &[(&Check::Tenant, &ok), (&git, &ok), (&git, &ok)],
            Some("alice@contoso.com"),
        );
        assert_eq!(status, Status::Ok);
        assert_eq!(
            detail,
            "verified working: Git over HTTPS: 2 of 2 repositories reachable as alice@contoso.com"
        );
        let (status, detail) = summary(&[(&git, &ok), (&git, &denied)], None);
        assert_eq!(status, Status::Failed);
        assert!(detail.contains("1 of 2 repositories"), "{detail}");
        let offline = done(Status::Skipped);
        assert_eq!(summary(&[(&git, &offline)], None).0, Status::Skipped);
        assert_eq!(summary(&[], None).0, Status::Skipped);
    }

    #[test]
    fn git_failures_are_told_apart_without_git_s_words() {
        let how = "with your sign-in";
        assert_eq!(
            judge_git(
                "fatal: unable to access 'x': The requested URL returned error: 403",
                how
            )
            .0,
            Status::Failed
        );
        assert_eq!(
            judge_git(
                "fatal: could not read Username for 'https://x': terminal prompts disabled",
                how
            )
            .0,
            Status::NeedsUser
        );
        assert_eq!(
            judge_git(
                "fatal: unable to access 'x': Could not resolve host: dev.azure.com",
                how
            )
            .0,
            Status::Skipped
        );
        let (_, detail) = judge_git("fatal: https://user:SECRET@dev.azure.com 401", how);
        assert!(!detail.contains("SECRET"));
    }
}
