//! The `ssh-key` task end to end: the real agent binary, real `ssh-keygen` to check its keys, a
//! real `sshd` on a loopback port standing in for ssh.dev.azure.com, and the fake Entra and
//! Azure DevOps endpoints of `support::fake_cloud` (the only parts that cannot be real here).
//!
//! In the Windows build (under Wine) there is no OpenSSH: there the key, its config block, the
//! leftovers and the registration are checked the same way, the key read back with the
//! `ssh-key` crate, and the ssh check is "not checked"; the tests that need a terminal (tmux)
//! or the Secret Service are Unix or Linux only, each marked.

use crate::support;

#[cfg(unix)]
use std::path::{Path, PathBuf};
#[cfg(unix)]
use std::process::{Child, Command};

use serde_json::Value;
use support::fake_cloud::{CLIENT_ID, FakeCloud};
#[cfg(unix)]
use support::text;
use support::{Sandbox, TENANT, task_items};

/// A local sshd that accepts only the keys in `authorized_keys` and answers like Azure DevOps
/// (OpenSSH's server: Unix only here).
#[cfg(unix)]
struct Sshd {
    child: Child,
    port: u16,
    fingerprint: String,
    authorized_keys: PathBuf,
    _dir: tempfile::TempDir,
}

#[cfg(unix)]
impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(unix)]
fn user() -> String {
    text(&Command::new("id").arg("-un").output().unwrap().stdout)
        .trim()
        .to_string()
}

#[cfg(unix)]
impl Sshd {
    fn start() -> Sshd {
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(
            sshd.exists(),
            "this test needs OpenSSH's server: apt-get install openssh-server"
        );
        let dir = tempfile::tempdir().unwrap();
        let host_key = dir.path().join("host_rsa");
        let made = Command::new("ssh-keygen")
            .args(["-q", "-t", "rsa", "-b", "3072", "-N", "", "-f"])
            .arg(&host_key)
            .status()
            .unwrap();
        assert!(made.success());
        let authorized_keys = dir.path().join("authorized_keys");
        std::fs::write(&authorized_keys, "").unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\nUsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\nAllowUsers {}\nForceCommand echo 'remote: Shell access is not supported.' >&2; exit 1\n",
                host_key.display(),
                dir.path().join("sshd.pid").display(),
                authorized_keys.display(),
                user()
            ),
        )
        .unwrap();
        // sshd run as root wants its privilege-separation folder.
        let _ = std::fs::create_dir_all("/run/sshd");
        let child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let listed = Command::new("ssh-keygen")
            .args(["-l", "-E", "sha256", "-f"])
            .arg(host_key.with_extension("pub"))
            .output()
            .unwrap();
        let fingerprint = text(&listed.stdout)
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string();
        Sshd {
            child,
            port,
            fingerprint,
            authorized_keys,
            _dir: dir,
        }
    }
}

fn configure(sandbox: &Sandbox, orgs: &[&str], extra: &str) {
    let orgs: Vec<String> = orgs.iter().map(|o| format!("{o:?}")).collect();
    sandbox.write_managed_config(&format!(
        "organizations = [{}]\nexpected_tenant = \"{TENANT}\"\n[entra]\nclient_id = \"{CLIENT_ID}\"\n{extra}",
        orgs.join(", ")
    ));
}

fn run(
    sandbox: &Sandbox,
    cloud: &FakeCloud,
    extra_env: &[(&str, String)],
    args: &[&str],
) -> (Option<i32>, Value, String) {
    let mut cmd = sandbox.cmd();
    cmd.args(args)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY");
    for (k, v) in cloud.env().iter().chain(extra_env) {
        cmd.env(k, v);
    }
    support::json_run(&mut cmd)
}

fn item<'a>(items: &'a [Value], kind: &str) -> &'a Value {
    items
        .iter()
        .find(|i| i["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} item in {items:#?}"))
}

/// The guided run in a real terminal (tmux, Unix only), past its one question.
#[cfg(unix)]
fn guided_and_confirmed(sandbox: &Sandbox, env: &[(&str, &str)]) -> support::terminal::Terminal {
    let term = support::terminal::Terminal::start(sandbox, env);
    term.wait_for("Make these changes now? [y/N]");
    term.type_line("y");
    term
}

const OLD_CONFIG: &str = "Host github.com\n  User git\n\nHost ssh.dev.azure.com\n  IdentityFile ~/.ssh/id_rsa\n  HostkeyAlgorithms +ssh-rsa\n";

#[test]
fn a_new_key_is_made_set_up_registered_and_verified_once_and_undo_restores_the_config() {
    let sandbox = Sandbox::new();
    let ssh_dir = sandbox.paths.ssh_dir.clone();
    let config = ssh_dir.join("config");
    sandbox.write(&config, OLD_CONFIG.as_bytes());
    // Someone else's file at the name ado-cutover would use first: never touched.
    sandbox.write(&ssh_dir.join("id_rsa_azure_devops"), b"not ours");
    configure(&sandbox, &["contoso"], "");
    let cloud = FakeCloud::start();
    cloud.state.lock().unwrap().reject_first_token = true;
    // On Unix: a browser that follows the sign-in, and a local sshd that learns each registered
    // key. The Windows build has neither: it signs in with the device code, and its ssh check
    // has nothing to reach.
    #[cfg(unix)]
    let sshd = Sshd::start();
    #[cfg(unix)]
    let env = {
        cloud.state.lock().unwrap().authorized_keys = Some(sshd.authorized_keys.clone());
        [
            (
                "ADO_CUTOVER_BROWSER",
                sandbox.browser_script().display().to_string(),
            ),
            (
                "ADO_CUTOVER_SSH_TEST_ENDPOINT",
                format!("{}@127.0.0.1:{}", user(), sshd.port),
            ),
            ("ADO_CUTOVER_SSH_TEST_HOST_KEY", sshd.fingerprint.clone()),
        ]
    };
    #[cfg(windows)]
    let env: [(&str, String); 0] = [];

    let plan_before = sandbox.snapshot();
    let (code, plan, _) = run(
        &sandbox,
        &cloud,
        &env,
        &["plan", "--json", "--only", "ssh-key"],
    );
    assert_eq!(code, Some(10), "{plan:#}");
    sandbox.assert_unchanged(&plan_before, "plan");
    assert!(
        cloud.signed_requests().is_empty(),
        "plan signs nobody in: {:?}",
        cloud.requests()
    );

    let (code, report, stderr) = run(
        &sandbox,
        &cloud,
        &env,
        &["run", "--yes", "--json", "--only", "ssh-key"],
    );
    let items = task_items(&report, "ssh-key");
    // Without an sshd to reach (Windows here) the ssh check stays open: 11, "not finished yet".
    let done = Some(if cfg!(unix) { 0 } else { 11 });
    assert_eq!(code, done, "{items:#?}\n{stderr}");

    // The key: at the next free name, private, and the fingerprint ssh-keygen sees.
    let key = ssh_dir.join("id_rsa_azure_devops_2");
    assert_eq!(
        std::fs::read(ssh_dir.join("id_rsa_azure_devops")).unwrap(),
        b"not ours"
    );
    let created = item(&items, "ssh-key");
    assert_eq!(created["status"], "done", "{created:#}");
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    assert!(
        public.contains("ado-cutover"),
        "comment names the tool: {public}"
    );
    // The pair read back: the private key holds the public one, 4096-bit RSA, and the report
    // names its fingerprint.
    let private = ssh_key::PrivateKey::from_openssh(std::fs::read(&key).unwrap()).unwrap();
    let parsed = ssh_key::PublicKey::from_openssh(public.trim()).unwrap();
    assert_eq!(private.public_key().key_data(), parsed.key_data());
    let modulus = parsed
        .key_data()
        .rsa()
        .expect("an RSA key")
        .n
        .as_positive_bytes();
    assert_eq!(modulus.map(|n| n.len() * 8), Some(4096));
    let fingerprint = parsed.fingerprint(ssh_key::HashAlg::Sha256).to_string();
    assert!(
        created["detail"].as_str().unwrap().contains(&fingerprint),
        "{created:#}"
    );
    // OpenSSH agrees, and the file is private (Unix; the Windows access list is tested in
    // `platform::windows::acl`).
    #[cfg(unix)]
    {
        let listed = Command::new("ssh-keygen")
            .arg("-l")
            .arg("-f")
            .arg(key.with_extension("pub"))
            .output()
            .unwrap();
        let listed = text(&listed.stdout);
        assert!(
            listed.starts_with(&format!("4096 {fingerprint} ")),
            "{listed}"
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // OpenSSH reads the private key and derives the same public key from it.
        let derived = Command::new("ssh-keygen")
            .arg("-y")
            .arg("-f")
            .arg(&key)
            .output()
            .unwrap();
        assert_eq!(
            text(&derived.stdout).split_whitespace().nth(1),
            public.split_whitespace().nth(1)
        );
    }

    // The config: one block first, every old line kept after it.
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(written.starts_with("# >>> ado-cutover"), "{written}");
    assert!(written.ends_with(OLD_CONFIG), "{written}");
    // ssh reads `\` as an escape, so the path is written with `/` (Windows takes both).
    let identity = key.display().to_string().replace('\\', "/");
    assert!(
        written.contains(&format!("IdentityFile {identity}")),
        "{written}"
    );
    let leftovers: Vec<&Value> = items
        .iter()
        .filter(|i| i["kind"] == "ssh-config-leftover")
        .collect();
    assert_eq!(
        leftovers.len(),
        2,
        "the old IdentityFile and +ssh-rsa: {leftovers:#?}"
    );

    // Registered once, with the organization's id, after renewing the turned-down token.
    let registered = item(&items, "ssh-key-registration");
    assert_eq!(registered["status"], "done", "{registered:#}");
    {
        let state = cloud.state.lock().unwrap();
        assert_eq!(state.keys.len(), 1);
        assert_eq!(state.keys[0]["publicData"].as_str().unwrap(), public.trim());
        assert!(
            state
                .bodies
                .iter()
                .any(|b| b.contains("grant_type=refresh_token"))
        );
        // The browser sign-in (with PKCE) on Unix; the device code where no browser plays.
        let flow = if cfg!(unix) {
            "code_verifier="
        } else {
            "device_code"
        };
        assert!(state.bodies.iter().any(|b| b.contains(flow)), "{flow}");
    }
    let verified = item(&items, "ssh-verify");
    if cfg!(unix) {
        // Verified against the local sshd, which knows only the registered key.
        assert_eq!(verified["status"], "ok", "{verified:#}");
    } else {
        assert_eq!(verified["status"], "skipped", "{verified:#}");
    }

    // No secret anywhere: tokens, codes, the private key.
    let private = std::fs::read_to_string(&key).unwrap();
    let body = private.lines().nth(1).unwrap().to_string();
    for secret in [
        "at-1-secret",
        "at-2-secret",
        "rt-1-secret",
        "code-1",
        body.as_str(),
    ] {
        assert!(
            !report.to_string().contains(secret) && !stderr.contains(secret),
            "{secret} leaked"
        );
        sandbox.assert_not_in_agent_files(secret);
    }

    // A second run changes nothing and asks Azure DevOps nothing.
    let asked = cloud.signed_requests().len();
    let (code, again, _) = run(
        &sandbox,
        &cloud,
        &env,
        &["run", "--yes", "--json", "--only", "ssh-key"],
    );
    let items = task_items(&again, "ssh-key");
    assert_eq!(code, done, "{items:#?}");
    assert!(
        items
            .iter()
            .all(|i| i["status"] != "done" && i["status"] != "planned"),
        "{items:#?}"
    );
    assert_eq!(cloud.signed_requests().len(), asked);
    assert!(!ssh_dir.join("id_rsa_azure_devops_3").exists());

    // undo puts the config back as it was; the key stays, and undo says so.
    let (_, undone, _) = run(&sandbox, &cloud, &[], &["undo", "--json"]);
    assert_eq!(std::fs::read_to_string(&config).unwrap(), OLD_CONFIG);
    assert!(key.exists() && key.with_extension("pub").exists());
    let details: Vec<String> = task_items(&undone, "ssh-key")
        .iter()
        .map(|i| i["detail"].to_string())
        .collect();
    assert!(details.iter().any(|d| d.contains("kept")), "{details:#?}");
}

#[test]
fn failures_of_the_api_end_in_guided_steps_with_their_reason() {
    let sandbox = Sandbox::new();
    sandbox.write(
        &sandbox.paths.ssh_dir.join("known_hosts"),
        b"ssh.dev.azure.com ssh-rsa AAAAB3NzaC1yc2E\n",
    );
    configure(
        &sandbox,
        &["throttled", "signin203", "signin302", "broken", "sshoff"],
        "[ssh_key]\nbits = \"3072\"\n",
    );
    let cloud = FakeCloud::start();
    // No browser here: the device code is shown instead.
    let (code, report, stderr) = run(
        &sandbox,
        &cloud,
        &[],
        &["run", "--yes", "--json", "--only", "ssh-key"],
    );
    assert_eq!(code, Some(10), "{report:#}\n{stderr}");
    assert!(
        stderr.contains("FAKE-CODE") && stderr.contains("https://microsoft.com/devicelogin"),
        "{stderr}"
    );
    assert!(!stderr.contains("dc-secret"));
    let items = task_items(&report, "ssh-key");
    let org = |name: &str| {
        items
            .iter()
            .find(|i| i["kind"] == "ssh-key-registration" && i["target"] == name)
            .unwrap_or_else(|| panic!("{name}: {items:#?}"))
    };
    assert_eq!(
        org("throttled")["status"],
        "done",
        "429 then OK: {:#}",
        org("throttled")
    );
    for (name, reason) in [
        ("signin203", "did not accept the sign-in (203"),
        ("signin302", "did not accept the sign-in (302"),
        ("broken", "had an error (500)"),
        ("sshoff", "sshPolicyDisabled"),
    ] {
        let item = org(name);
        assert_eq!(item["status"], "needs-user", "{item:#}");
        let detail = item["detail"].as_str().unwrap();
        assert!(detail.contains(reason), "{name}: {detail}");
        assert!(
            detail.contains(&format!("https://dev.azure.com/{name}/_usersSettings/keys")),
            "{detail}"
        );
        assert!(detail.contains("id_rsa_azure_devops.pub"), "{detail}");
    }
    // Offline ssh check: said plainly, not a failure, and not "ok" either.
    let verify = item(&items, "ssh-verify");
    assert_eq!(verify["status"], "skipped", "{verify:#}");
    assert!(
        verify["detail"]
            .as_str()
            .unwrap()
            .starts_with("not checked: ")
    );
}

#[test]
fn silent_runs_never_sign_in_and_a_required_passphrase_waits_for_the_user() {
    let sandbox = Sandbox::new();
    sandbox.write(
        &sandbox.paths.ssh_dir.join("config"),
        b"Host ssh.dev.azure.com\n  User git\n",
    );
    configure(&sandbox, &["contoso"], "[ssh_key]\ntype = \"ed25519\"\n");
    let cloud = FakeCloud::start();
    let (code, report, _) = run(
        &sandbox,
        &cloud,
        &[],
        &["run", "--silent", "--json", "--only", "ssh-key"],
    );
    assert_eq!(code, Some(10));
    let items = task_items(&report, "ssh-key");
    assert_eq!(item(&items, "ssh-key")["status"], "done");
    assert!(
        sandbox
            .paths
            .ssh_dir
            .join("id_ed25519_azure_devops")
            .exists()
    );
    let registration = item(&items, "ssh-key-registration");
    assert_eq!(registration["status"], "needs-user", "{registration:#}");
    assert!(cloud.signed_requests().is_empty(), "{:?}", cloud.requests());

    let other = Sandbox::new();
    other.write(
        &other.paths.ssh_dir.join("config"),
        b"Host ssh.dev.azure.com\n  User git\n",
    );
    configure(
        &other,
        &["contoso"],
        "[ssh_key]\npassphrase = \"required\"\n",
    );
    let (code, report, _) = run(
        &other,
        &cloud,
        &[],
        &["run", "--silent", "--json", "--only", "ssh-key"],
    );
    assert_eq!(code, Some(10));
    let items = task_items(&report, "ssh-key");
    assert_eq!(items.len(), 1, "{items:#?}");
    assert_eq!(items[0]["status"], "needs-user");
    assert!(!other.paths.ssh_dir.join("id_rsa_azure_devops").exists());
}

#[cfg(unix)] // a real terminal (tmux) and OpenSSH's ssh-keygen
#[test]
fn the_guided_run_asks_for_a_passphrase_that_then_opens_the_key() {
    let sandbox = Sandbox::new();
    sandbox.write(
        &sandbox.paths.ssh_dir.join("config"),
        b"Host ssh.dev.azure.com\n  User git\n",
    );
    // No app registration: the key is added by the user, with the guided steps.
    sandbox.write_managed_config("organizations = [\"contoso\"]\n[ssh_key]\ntype = \"ed25519\"\n");
    let term = guided_and_confirmed(&sandbox, &[]);
    term.wait_for("Passphrase for the new SSH key (press Enter for none):");
    term.type_line("correct horse");
    term.wait_for("The same passphrase again:");
    term.type_line("correct horse");
    let code = term.wait_for_exit();
    let screen = term.screen();
    assert_eq!(code, 10, "{screen}");
    assert!(
        !screen.contains("correct horse"),
        "the passphrase is not echoed:\n{screen}"
    );
    assert!(
        screen.contains("https://dev.azure.com/contoso/_usersSettings/keys"),
        "{screen}"
    );
    sandbox.assert_not_in_agent_files("correct horse");

    let key = sandbox.paths.ssh_dir.join("id_ed25519_azure_devops");
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let opened = Command::new("ssh-keygen")
        .args(["-y", "-P", "correct horse", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(opened.status.success(), "{}", text(&opened.stderr));
    let derived = text(&opened.stdout);
    assert_eq!(
        derived.split_whitespace().nth(1),
        public.split_whitespace().nth(1)
    );
    let wrong = Command::new("ssh-keygen")
        .args(["-y", "-P", "wrong", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        !wrong.status.success(),
        "a wrong passphrase must not open it"
    );
}

#[cfg(target_os = "linux")] // a real Secret Service (gnome-keyring on D-Bus)
#[test]
fn a_new_personal_access_token_is_shown_once_and_saved_only_in_the_os_store_when_asked() {
    use support::keyring::{Keyring, libsecret_helper};
    let sandbox = Sandbox::new();
    let keyring = Keyring::start();
    sandbox.write(
        &sandbox.paths.home.join(".gitconfig"),
        format!(
            "[credential]\n\thelper = {}\n",
            libsecret_helper().display()
        )
        .as_bytes(),
    );
    configure(
        &sandbox,
        &["contoso", "nopat"],
        "[pat]\ncreate = true\nscopes = \"vso.code_write vso.packaging\"\n",
    );
    let cloud = FakeCloud::start();
    let mut env: Vec<(&str, String)> = cloud.env();
    env.extend(keyring.env());
    env.push((
        "ADO_CUTOVER_BROWSER",
        sandbox.browser_script().display().to_string(),
    ));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let term = guided_and_confirmed(&sandbox, &env);
    term.wait_for("Save it in this computer's credential store");
    term.type_line("y");
    let code = term.wait_for_exit();
    let screen = term.screen();
    assert_eq!(code, 10, "nopat may not make tokens:\n{screen}");
    let token = "patvalue1secretsecretsecret";
    assert_eq!(
        screen.matches(token).count(),
        1,
        "shown exactly once:\n{screen}"
    );
    assert_eq!(cloud.state.lock().unwrap().pats, 1);

    // Saved through git's helper into the Secret Service, where git will find it (git asks
    // without the path unless credential.useHttpPath is set).
    let stored = keyring.git_helper(&["get"], "protocol=https\nhost=dev.azure.com\n\n");
    assert!(
        stored.contains(&format!("password={token}")),
        "{stored}\n{screen}"
    );
    // Nowhere else: not in the report, the log, the journal or the state.
    sandbox.assert_not_in_agent_files(token);
    let report = sandbox.cmd().args(["report", "--json"]).output().unwrap();
    let report: Value = serde_json::from_slice(&report.stdout).unwrap();
    assert!(!report.to_string().contains(token));
    let items = task_items(&report, "ssh-key");
    let nopat = items.iter().find(|i| i["target"] == "nopat").unwrap();
    assert_eq!(nopat["status"], "needs-user");
    assert!(
        nopat["detail"]
            .as_str()
            .unwrap()
            .contains("disablePatCreationPolicyViolation"),
        "{nopat:#}"
    );
    let contoso = |kind: &str| {
        items
            .iter()
            .find(|i| i["target"] == "contoso" && i["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} item for contoso: {items:#?}"))
            .clone()
    };
    let created = contoso("personal-access-token");
    assert_eq!(created["status"], "done", "{created:#}");
    // Saving is its own action: planned, asked, journaled.
    let saved = contoso("saved-token");
    assert_eq!(saved["status"], "done", "{saved:#}");
    assert!(
        saved["detail"]
            .as_str()
            .unwrap()
            .contains("saved in the credential store"),
        "{saved:#}"
    );
    assert!(screen.contains("will be offered"), "{screen}");

    // `undo` names the saved token (and the token) as kept, with where to remove them, and
    // leaves the saved credential in place.
    let undo = sandbox.cmd().args(["undo", "--json"]).output().unwrap();
    let undo: Value = serde_json::from_slice(&undo.stdout).unwrap();
    let details: Vec<String> = task_items(&undo, "ssh-key")
        .iter()
        .map(|i| i["detail"].as_str().unwrap().to_string())
        .collect();
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("kept: the new token stays saved for git")),
        "{details:#?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("kept: the personal access token for contoso")),
        "{details:#?}"
    );
    let still = keyring.git_helper(&["get"], "protocol=https\nhost=dev.azure.com\n\n");
    assert!(still.contains(&format!("password={token}")), "{still}");
    sandbox.assert_not_in_agent_files(token);
}

#[cfg(unix)] // a real terminal (tmux)
#[test]
fn without_the_required_passphrase_no_key_is_made_and_the_config_is_not_touched() {
    let sandbox = Sandbox::new();
    let config = sandbox.paths.ssh_dir.join("config");
    sandbox.write(&config, b"Host ssh.dev.azure.com\n  User git\n");
    sandbox.write_managed_config(
        "organizations = [\"contoso\"]\n[ssh_key]\ntype = \"ed25519\"\npassphrase = \"required\"\n",
    );
    let term = guided_and_confirmed(&sandbox, &[]);
    for _ in 0..3 {
        term.wait_for("(your organization requires one):");
        term.type_line("");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let code = term.wait_for_exit();
    let screen = term.screen();
    assert_eq!(code, 10, "{screen}");
    assert!(screen.contains("a passphrase is required"), "{screen}");
    assert!(
        !sandbox
            .paths
            .ssh_dir
            .join("id_ed25519_azure_devops")
            .exists()
    );
    // A block naming a key that does not exist would stop ssh from offering any key.
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        "Host ssh.dev.azure.com\n  User git\n"
    );
}

/// A run killed between writing the new private key and its `.pub` (found by the crash-safety
/// script): the next run completes that key, it does not make a second one beside it. The
/// killed state is made exactly: the key a real run made, its `.pub` gone, and the journal's
/// confirmation of the key taken out (the intent, written before the key, stays).
#[test]
fn a_key_pair_a_killed_run_left_half_written_is_completed_not_made_twice() {
    let sandbox = Sandbox::new();
    let cloud = FakeCloud::start();
    configure(
        &sandbox,
        &["contoso"],
        "[ssh_key]\ncreate = \"always\"\ntype = \"ed25519\"\nregistration = \"guided\"\n",
    );
    let args = ["run", "--yes", "--json", "--only", "ssh-key"];
    let (_, first, stderr) = run(&sandbox, &cloud, &[], &args);
    let ssh = &sandbox.paths.ssh_dir;
    let private = ssh.join("id_ed25519_azure_devops");
    let public = ssh.join("id_ed25519_azure_devops.pub");
    let made = std::fs::read_to_string(&public).unwrap_or_else(|_| panic!("{first:#}\n{stderr}"));
    let first_items = task_items(&first, "ssh-key");
    let fingerprint = item(&first_items, "ssh-key")["detail"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();

    // As the kill left it.
    std::fs::remove_file(&public).unwrap();
    support::unconfirm_in_journal(&sandbox, |change| {
        change["fingerprint"] == fingerprint.as_str()
    });
    let journal = sandbox.paths.data_dir.join("journal.jsonl");

    let (_, plan, _) = run(
        &sandbox,
        &cloud,
        &[],
        &["plan", "--json", "--only", "ssh-key"],
    );
    let planned_items = task_items(&plan, "ssh-key");
    let planned = item(&planned_items, "ssh-key");
    assert_eq!(planned["status"], "planned", "{planned}");
    assert!(!public.exists(), "plan changes nothing");
    let (_, second, stderr) = run(&sandbox, &cloud, &[], &args);
    let completed_items = task_items(&second, "ssh-key");
    let completed = item(&completed_items, "ssh-key");
    assert_eq!(completed["status"], "done", "{completed}\n{stderr}");
    assert!(
        completed["detail"].as_str().unwrap().starts_with(&format!(
            "completed: {fingerprint} (an interrupted run made it"
        )),
        "{completed}"
    );
    assert_eq!(
        std::fs::read_to_string(&public).unwrap(),
        made,
        "the same public key, comment and all"
    );
    assert!(private.exists());
    assert!(
        !ssh.join("id_ed25519_azure_devops_2").exists(),
        "no second key"
    );
    let config = std::fs::read_to_string(ssh.join("config")).unwrap();
    assert!(
        config.contains("id_ed25519_azure_devops") && !config.contains("_2"),
        "{config}"
    );

    // A private key at our name that no run of ours made is someone else's: never adopted.
    std::fs::remove_file(&public).unwrap();
    std::fs::write(&journal, "").unwrap();
    let (_, plan, _) = run(
        &sandbox,
        &cloud,
        &[],
        &["plan", "--json", "--only", "ssh-key"],
    );
    let planned_items = task_items(&plan, "ssh-key");
    let planned = item(&planned_items, "ssh-key");
    assert!(
        planned["target"]
            .as_str()
            .unwrap()
            .ends_with("id_ed25519_azure_devops_2"),
        "{planned}"
    );
}
