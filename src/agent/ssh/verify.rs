//! `ssh -T git@ssh.dev.azure.com` with the new key only, against the pinned host key.
//!
//! The host key is fetched with `ssh-keyscan` and accepted only when its SHA-256 fingerprint is
//! the one Microsoft publishes; ssh then runs with a known-hosts file holding that key alone,
//! `StrictHostKeyChecking yes`, `BatchMode yes` (never a prompt), no ssh-agent and a short
//! timeout. The user's own `~/.ssh/config` is read, so the check proves the block works.
//!
//! Tests point it at a local `sshd`: in a sandbox (`ADO_CUTOVER_SANDBOX`) only,
//! `ADO_CUTOVER_SSH_TEST_ENDPOINT=user@host:port` and `ADO_CUTOVER_SSH_TEST_HOST_KEY=SHA256:…`
//! replace the address and the pin. Outside a sandbox they are ignored, so the pin cannot be
//! turned off on a user's machine.

use std::process::Command;
use std::time::Duration;

use ssh_key::PublicKey;

use super::{HOST, HOST_KEY_SHA256};
use crate::agent::env::Env;
use crate::agent::paths::Paths;

/// Test-only: where the SSH server is (`user@host:port`).
pub(crate) const TEST_ENDPOINT_VAR: &str = "ADO_CUTOVER_SSH_TEST_ENDPOINT";
/// Test-only: the host key fingerprint to pin instead of Azure DevOps'.
pub(crate) const TEST_HOST_KEY_VAR: &str = "ADO_CUTOVER_SSH_TEST_HOST_KEY";

/// How long the whole check may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Where to connect and which host key to trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub user: String,
    /// The address to connect to instead of the host name (tests only).
    pub address: Option<String>,
    pub port: u16,
    pub pin: String,
}

impl Target {
    /// Azure DevOps, or in a sandbox the test server the environment names.
    pub(crate) fn new(env: &Env, sandboxed: bool) -> Target {
        let azure = Target {
            user: "git".into(),
            address: None,
            port: 22,
            pin: HOST_KEY_SHA256.into(),
        };
        if !sandboxed {
            return azure;
        }
        let Some(endpoint) = env.get(TEST_ENDPOINT_VAR) else {
            return azure;
        };
        let (user, rest) = endpoint.split_once('@').unwrap_or(("git", endpoint));
        let (address, port) = rest.rsplit_once(':').unwrap_or((rest, "22"));
        Target {
            user: user.into(),
            address: Some(address.into()),
            port: port.parse().unwrap_or(22),
            pin: env.get(TEST_HOST_KEY_VAR).unwrap_or(HOST_KEY_SHA256).into(),
        }
    }
}

/// What the check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Azure DevOps accepted the key (`Shell access is not supported`).
    Accepted,
    /// The key was refused.
    Denied,
    /// Azure DevOps says the key has expired.
    Expired,
    /// The server could not be reached: why.
    Unreachable(String),
    /// The server's host key is not the published one: what it was.
    WrongHostKey(String),
    /// Some other answer (its last line).
    Unknown(String),
}

/// Runs the check with the user's ssh configuration (`~/.ssh/config`).
pub(crate) fn verify(paths: &Paths, target: &Target) -> Verdict {
    let config = paths.ssh_dir.join("config");
    let host_key = match host_key(paths, target) {
        Ok(key) => key,
        Err(verdict) => return verdict,
    };
    let Ok(dir) = tempfile::tempdir() else {
        return Verdict::Unknown("could not make a temporary folder".into());
    };
    let known_hosts = dir.path().join("known_hosts");
    if std::fs::write(&known_hosts, format!("{HOST} {host_key}\n")).is_err() {
        return Verdict::Unknown("could not write a temporary file".into());
    }
    let null = if cfg!(windows) { "NUL" } else { "/dev/null" };
    let mut command = paths.command("ssh");
    command
        .arg("-F")
        .arg(&config)
        .arg("-T")
        .args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=10"])
        .args(["-o", "StrictHostKeyChecking=yes"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
        .arg("-o")
        .arg(format!("GlobalKnownHostsFile={null}"))
        .arg("-o")
        .arg(format!("HostKeyAlias={HOST}"))
        .args(["-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none"])
        .args(["-p", &target.port.to_string()]);
    if let Some(address) = &target.address {
        command.arg("-o").arg(format!("HostName={address}"));
    }
    command.arg(format!("{}@{HOST}", target.user));
    let output = match run(command) {
        Ok(output) => output,
        Err(why) => return Verdict::Unreachable(why),
    };
    judge(&output)
}

/// The server's RSA host key (`ssh-rsa AAAA…`), if its fingerprint is the pinned one.
fn host_key(paths: &Paths, target: &Target) -> Result<String, Verdict> {
    let mut command = paths.command("ssh-keyscan");
    command
        .args(["-T", "10", "-t", "rsa", "-p", &target.port.to_string()])
        .arg(target.address.as_deref().unwrap_or(HOST));
    let output = run(command).map_err(Verdict::Unreachable)?;
    let mut seen = None;
    for line in output.lines().filter(|l| !l.starts_with('#')) {
        let mut fields = line.split_whitespace().skip(1);
        let (Some(kind), Some(data)) = (fields.next(), fields.next()) else {
            continue;
        };
        let text = format!("{kind} {data}");
        let Ok(key) = PublicKey::from_openssh(&text) else {
            continue;
        };
        let fingerprint = super::keygen::fingerprint(&key);
        if fingerprint == target.pin {
            return Ok(text);
        }
        seen = Some(fingerprint);
    }
    Err(match seen {
        Some(fingerprint) => Verdict::WrongHostKey(fingerprint),
        None => Verdict::Unreachable(format!("{HOST} did not answer")),
    })
}

/// Runs `command` to the end or the timeout; standard output and error together.
fn run(command: Command) -> Result<String, String> {
    crate::agent::process::run_within(command, TIMEOUT).map(|done| done.output)
}

/// Reads ssh's answer.
fn judge(output: &str) -> Verdict {
    let has = |needle: &str| output.to_ascii_lowercase().contains(needle);
    if has("shell access is not supported") {
        Verdict::Accepted
    } else if has("ssh key has expired") {
        Verdict::Expired
    } else if has("permission denied") || has("public key authentication failed") {
        Verdict::Denied
    } else if has("host key verification failed") {
        Verdict::WrongHostKey("the server's key changed during the check".into())
    } else if [
        "could not resolve",
        "timed out",
        "connection refused",
        "network is unreachable",
        "no route to host",
        "connection closed",
    ]
    .iter()
    .any(|n| has(n))
    {
        Verdict::Unreachable(last_line(output))
    } else {
        Verdict::Unknown(last_line(output))
    }
}

fn last_line(output: &str) -> String {
    output
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no answer")
        .chars()
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_answers_azure_devops_gives() {
        assert_eq!(
            judge("remote: Shell access is not supported.\n"),
            Verdict::Accepted
        );
        assert_eq!(
            judge("git@ssh.dev.azure.com: Permission denied (publickey).\n"),
            Verdict::Denied
        );
        assert_eq!(
            judge(
                "remote: Authentication failed: your SSH key has expired. To restore access, visit https://aka.ms/ado-ssh-public-key-expired\n"
            ),
            Verdict::Expired
        );
        assert!(matches!(
            judge(
                "ssh: Could not resolve hostname ssh.dev.azure.com: Temporary failure in name resolution\n"
            ),
            Verdict::Unreachable(_)
        ));
    }

    #[test]
    fn the_test_endpoint_is_honoured_only_in_a_sandbox() {
        let env = Env::from_pairs([
            (TEST_ENDPOINT_VAR, "me@127.0.0.1:2222"),
            (TEST_HOST_KEY_VAR, "SHA256:x"),
        ]);
        assert_eq!(Target::new(&env, false).pin, HOST_KEY_SHA256);
        assert_eq!(Target::new(&env, false).address, None);
        let test = Target::new(&env, true);
        assert_eq!(
            (
                test.user.as_str(),
                test.address.as_deref(),
                test.port,
                test.pin.as_str()
            ),
            ("me", Some("127.0.0.1"), 2222, "SHA256:x")
        );
    }
}
