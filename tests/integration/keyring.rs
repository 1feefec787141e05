//! Task `credentials` on a real Secret Service: a private gnome-keyring-daemon on a private
//! D-Bus, seeded the way Git Credential Manager (libsecret, its schema) and git's own libsecret
//! helper (built from git's source) store credentials. Checked afterwards with the same tools.
#![cfg(target_os = "linux")] // the Secret Service (D-Bus, gnome-keyring) is Linux's store

use crate::support;

use serde_json::Value;
use support::keyring::Keyring;

use support::{PLAN_CONTOSO, RUN_CONTOSO, Sandbox, task_items, text};

const GCM: &str = "com.microsoft.GitCredentialManager";
const MSAL: &str = "msal.cache";

/// GCM items: (service, account, secret, stays?).
const GCM_ITEMS: &[(&str, &str, &str, bool)] = &[
    (
        "git:https://dev.azure.com/contoso",
        "alice@contoso.com",
        "SECRET-GCM-1",
        false,
    ),
    (
        "git:https://contoso.visualstudio.com",
        "alice@contoso.com",
        "SECRET-GCM-2",
        false,
    ),
    (
        "git:https://dev.azure.com/fabrikam",
        "alice@contoso.com",
        "SECRET-GCM-3",
        true,
    ),
    ("git:https://github.com", "alice", "SECRET-GCM-4", true),
    (
        "git:https://dev.azure.com.evil.example/contoso",
        "alice",
        "SECRET-GCM-5",
        true,
    ),
    (
        "git:https://notdev.azure.com/contoso",
        "alice",
        "SECRET-GCM-6",
        true,
    ),
    (
        "git:https://dev.azure.com",
        "alice@contoso.com",
        "SECRET-GCM-7",
        true,
    ),
];

/// git's helper: (host, user, secret, stays?).
const GIT_ITEMS: &[(&str, &str, &str, bool)] = &[
    ("dev.azure.com", "contoso", "SECRET-GIT-1", false),
    ("dev.azure.com", "fabrikam", "SECRET-GIT-2", true),
    ("github.com", "contoso", "SECRET-GIT-3", true),
    ("dev.azure.com:8443", "contoso", "SECRET-GIT-4", true),
];

fn seed(keyring: &Keyring) {
    for (service, account, secret, _) in GCM_ITEMS {
        keyring.store(
            GCM,
            service,
            &[("service", service), ("account", account)],
            secret,
        );
    }
    for (host, user, secret, _) in GIT_ITEMS {
        keyring.git_helper(
            &["store"],
            &format!("protocol=https\nhost={host}\nusername={user}\npassword={secret}\n\n"),
        );
    }
    keyring.store(
        MSAL,
        "MSALCache",
        &[
            ("MsalClientID", "Microsoft.Developer.IdentityService"),
            ("Microsoft.Developer.IdentityService", "1.0.0.0"),
        ],
        "SECRET-MSAL",
    );
}

/// The password git's helper returns for `host`/`user`, or "".
fn git_get(keyring: &Keyring, host: &str, user: &str) -> String {
    let out = keyring.git_helper(
        &["get"],
        &format!("protocol=https\nhost={host}\nusername={user}\n\n"),
    );
    out.lines()
        .find_map(|l| l.strip_prefix("password="))
        .unwrap_or("")
        .to_string()
}

/// Each seeded GCM item is present exactly when `present(service, stays)` says so, with its
/// secret intact.
fn assert_gcm_items(keyring: &Keyring, present: impl Fn(&str, bool) -> bool) {
    for (service, account, secret, stays) in GCM_ITEMS {
        let found = keyring.lookup(&[("service", service), ("account", account)]);
        let want = present(service, *stays).then(|| secret.to_string());
        assert_eq!(found, want, "{service} ({account})");
    }
}

fn agent(sandbox: &Sandbox, keyring: &Keyring, args: &[&str]) -> std::process::Output {
    let mut cmd = sandbox.cmd();
    keyring.apply(&mut cmd);
    cmd.args(args).output().unwrap()
}

fn assert_no_secret(outputs: &[&std::process::Output], sandbox: &Sandbox) {
    let secrets = GCM_ITEMS
        .iter()
        .chain(GIT_ITEMS)
        .map(|i| i.2)
        .chain(["SECRET-MSAL"]);
    for secret in secrets {
        for out in outputs {
            assert!(!text(&out.stdout).contains(secret), "{secret} in output");
            assert!(!text(&out.stderr).contains(secret), "{secret} in errors");
        }
        sandbox.assert_not_in_agent_files(secret);
    }
}

#[test]
fn exactly_the_moved_organizations_items_leave_the_secret_service() {
    let keyring = Keyring::start();
    let sandbox = Sandbox::new();
    seed(&keyring);
    assert_eq!(keyring.count(GCM), GCM_ITEMS.len());

    let plan = agent(&sandbox, &keyring, PLAN_CONTOSO);
    // Exit 10: there is something to do.
    assert_eq!(plan.status.code(), Some(10), "{}", text(&plan.stderr));
    assert_gcm_items(&keyring, |_, _| true);
    let report: Value = serde_json::from_slice(&plan.stdout).unwrap();
    let items = task_items(&report, "credentials");
    let status_of = |needle: &str| -> Vec<String> {
        items
            .iter()
            .filter(|i| i["target"].as_str().unwrap().contains(needle))
            .map(|i| i["status"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(status_of("git:https://dev.azure.com/contoso"), ["planned"]);
    assert_eq!(
        status_of("git:https://contoso.visualstudio.com"),
        ["planned"]
    );
    assert_eq!(
        status_of("https://dev.azure.com/ (contoso)"),
        ["planned"],
        "{items:#?}"
    );
    let unattributed: Vec<&Value> = items
        .iter()
        .filter(|i| i["target"] == "git:https://dev.azure.com (alice@contoso.com)")
        .collect();
    assert_eq!(unattributed.len(), 1, "{items:#?}");
    assert_eq!(unattributed[0]["status"], "needs-user");
    // Offline and not configured, a host-wide item saved as "fabrikam" cannot be told from a
    // person's: shown to the person, kept.
    assert_eq!(
        status_of("https://dev.azure.com/ (fabrikam)"),
        ["needs-user"]
    );
    assert!(status_of("dev.azure.com/fabrikam").is_empty() && status_of("github").is_empty());
    assert!(status_of("evil").is_empty() && status_of("notdev").is_empty());
    let msal: Vec<&Value> = items.iter().filter(|i| i["kind"] == "msal-cache").collect();
    assert_eq!(msal.len(), 1, "{items:#?}");
    assert_eq!(msal[0]["status"], "info");

    let run = agent(
        &sandbox,
        &keyring,
        &[
            "run",
            "--yes",
            "--silent",
            "--json",
            "--only",
            "credentials",
            "--org",
            "contoso",
        ],
    );
    // The unattributed item is left for the user: exit 10.
    assert_eq!(run.status.code(), Some(10), "{}", text(&run.stderr));

    assert_gcm_items(&keyring, |_, stays| stays);
    // git's helper matches a missing port as "any port": count by attributes instead.
    let git = |server, user| keyring.count_matching(&[("server", server), ("user", user)]);
    assert_eq!(
        git("dev.azure.com", "contoso"),
        1,
        "only the :8443 item stays"
    );
    let on_8443 = [
        ("server", "dev.azure.com"),
        ("user", "contoso"),
        ("port", "8443"),
    ];
    assert_eq!(keyring.count_matching(&on_8443), 1);
    assert_eq!(git("dev.azure.com", "fabrikam"), 1);
    assert_eq!(git("github.com", "contoso"), 1);
    assert_eq!(git_get(&keyring, "github.com", "contoso"), "SECRET-GIT-3");
    assert_eq!(keyring.count(MSAL), 1, "the shared sign-in cache must stay");

    let again = agent(&sandbox, &keyring, PLAN_CONTOSO);
    let report: Value = serde_json::from_slice(&again.stdout).unwrap();
    let planned: Vec<Value> = task_items(&report, "credentials")
        .into_iter()
        .filter(|i| i["status"] == "planned")
        .collect();
    assert!(planned.is_empty(), "a second run still finds {planned:#?}");

    let undo = agent(&sandbox, &keyring, &["undo"]);
    assert!(
        text(&undo.stdout).contains("git:https://dev.azure.com/contoso"),
        "{}",
        text(&undo.stdout)
    );
    // undo cannot bring secrets back and must not try.
    assert_gcm_items(&keyring, |_, stays| stays);
    assert_no_secret(&[&plan, &run, &again, &undo], &sandbox);
}

#[test]
fn admin_opt_ins_clear_the_sign_in_cache_and_unattributed_items() {
    let keyring = Keyring::start();
    let sandbox = Sandbox::new();
    seed(&keyring);
    sandbox.write_managed_config(
        "organizations = [\"contoso\"]\n[credentials]\nclear_msal_cache = true\nclear_unattributed = true\n",
    );

    let plan = agent(
        &sandbox,
        &keyring,
        &["plan", "--json", "--only", "credentials"],
    );
    let report: Value = serde_json::from_slice(&plan.stdout).unwrap();
    let items = task_items(&report, "credentials");
    let msal = items.iter().find(|i| i["kind"] == "msal-cache").unwrap();
    assert_eq!(msal["status"], "planned");
    assert!(
        msal["detail"]
            .as_str()
            .unwrap()
            .contains("signs you out of Visual Studio"),
        "{msal}"
    );
    let unattributed = items
        .iter()
        .find(|i| i["target"] == "git:https://dev.azure.com (alice@contoso.com)")
        .unwrap();
    assert_eq!(unattributed["status"], "planned");

    let run = agent(
        &sandbox,
        &keyring,
        &["run", "--yes", "--silent", "--only", "credentials"],
    );
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stdout));
    assert_eq!(keyring.count(MSAL), 0);
    assert_gcm_items(&keyring, |service, stays| {
        stays && service != "git:https://dev.azure.com"
    });
    assert_no_secret(&[&plan, &run], &sandbox);
}

/// Where a generated credential lives.
#[derive(Clone, Copy, Debug)]
enum Place {
    StoreFile,
    PlaintextStore,
    SecretService,
}

/// Base URLs: (url, belongs to a moved organization, `contoso` or `tailspin`). A URL with a user
/// name is a host-wide credential saved for that name, which only git's store file holds.
const URLS: &[(&str, bool)] = &[
    ("https://dev.azure.com/contoso", true),
    ("https://contoso.visualstudio.com", true),
    ("https://dev.azure.com/tailspin", true),
    ("https://tailspin.visualstudio.com", true),
    ("https://contoso@dev.azure.com", true),
    // A person's name: nobody can tell whose it is, so it stays (and is shown to the person).
    ("https://jdoe@dev.azure.com", false),
    ("https://dev.azure.com", false),
    ("https://dev.azure.com/fabrikam", false),
    ("https://dev.azure.com.evil.example/contoso", false),
    ("https://notdev.azure.com/contoso", false),
    ("https://contoso.visualstudio.com.evil.example", false),
    ("https://dev.azure.com:8443/contoso", false),
    ("https://github.com/contoso", false),
    ("https://gitlab.example/contoso", false),
];

/// The [`URLS`] that name no organization, for any account.
const HOST_WIDE: &[&str] = &["https://jdoe@dev.azure.com", "https://dev.azure.com"];

/// A small deterministic generator (xorshift64*), so a failure names a seed that replays it.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

/// Property: for random mixes of Azure DevOps, look-alike and foreign credentials across the
/// credential-store file (several moved organizations and host-wide lines in one file), GCM's
/// plaintext store, the Secret Service and the XDG git configuration, one run removes exactly
/// the moved organizations' and leaves every other one exactly as it was, and a second plan
/// finds nothing left to do.
#[test]
fn random_mixes_across_stores_keep_every_foreign_credential() {
    let keyring = Keyring::start();
    // The keyring outlives each seed's sandbox: a host-wide item an earlier seed left there is
    // still there (it is never cleared), and still the person's to decide.
    let mut left_in_keyring = false;
    for seed in 1..=12u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let sandbox = Sandbox::new();
        let home = &sandbox.paths.home;
        let mut lines = Vec::new();
        let mut files = Vec::new();
        let mut items = Vec::new();
        // A host-wide credential names no organization: the person is asked (exit code 10).
        let mut unattributed = left_in_keyring;
        for i in 0..(3 + rng.below(10)) {
            let (url, moved) = URLS[rng.below(URLS.len())];
            unattributed |= HOST_WIDE.contains(&url);
            let secret = format!("SECRET-P{seed}-{i}");
            let account = format!("user{seed}x{i}@example.com");
            let place = if url.contains('@') {
                Place::StoreFile
            } else {
                [
                    Place::StoreFile,
                    Place::PlaintextStore,
                    Place::SecretService,
                ][rng.below(3)]
            };
            match place {
                Place::StoreFile => {
                    let (scheme, rest) = url.split_once("://").unwrap();
                    let line = match rest.split_once('@') {
                        Some((user, host)) => format!("{scheme}://{user}:{secret}@{host}"),
                        None => format!("{scheme}://u{i}:{secret}@{rest}"),
                    };
                    lines.push((line, moved));
                }
                Place::PlaintextStore => {
                    let slug = url.trim_start_matches("https://");
                    let path = home
                        .join(".gcm/store/git/https")
                        .join(slug)
                        .join(format!("{account}.credential"));
                    let body = format!("{secret}\nservice={url}\naccount={account}\n");
                    sandbox.write(&path, body.as_bytes());
                    files.push((path, body, moved));
                }
                Place::SecretService => {
                    left_in_keyring |= HOST_WIDE.contains(&url);
                    let service = format!("git:{url}");
                    keyring.store(
                        GCM,
                        &service,
                        &[("service", &service), ("account", &account)],
                        &secret,
                    );
                    items.push((service, account, secret, moved));
                }
            }
        }
        let store = home.join(".git-credentials");
        let text_of = |keep: &dyn Fn(bool) -> bool| {
            lines
                .iter()
                .filter(|(_, moved)| keep(*moved))
                .map(|(l, _)| format!("{l}\n"))
                .collect::<String>()
        };
        sandbox.write(&store, text_of(&|_| true).as_bytes());
        // Bindings in the XDG global configuration: the moved organizations' go, others stay.
        let xdg = home.join(".config/git/config");
        let bound = ["contoso", "fabrikam", "tailspin"];
        let binding = |org: &str| format!("credential.azrepos:org/{org}.username");
        let mut config_text = String::new();
        for org in bound.iter().filter(|_| rng.below(2) == 0) {
            config_text.push_str(&format!(
                "[credential \"azrepos:org/{org}\"]\n\tusername = someone@{org}.example\n"
            ));
        }
        sandbox.write(&xdg, config_text.as_bytes());

        let orgs = ["--org", "contoso", "--org", "tailspin"];
        let args: Vec<&str> = ["run", "--yes", "--silent", "--only", "credentials"]
            .into_iter()
            .chain(orgs)
            .collect();
        let run = agent(&sandbox, &keyring, &args);
        let expected = Some(if unattributed { 10 } else { 0 });
        if run.status.code() != expected {
            let last = agent(&sandbox, &keyring, &["report", "--json"]);
            panic!(
                "seed {seed}: exit code {:?}, expected {expected:?}: {}\n{}",
                run.status.code(),
                text(&run.stdout),
                text(&last.stdout)
            );
        }
        let now = std::fs::read_to_string(&store).unwrap_or_default();
        assert_eq!(
            now,
            text_of(&|moved| !moved),
            "seed {seed}: credential-store file"
        );
        for (path, body, moved) in &files {
            let now = std::fs::read_to_string(path).ok();
            let want = (!moved).then(|| body.clone());
            assert_eq!(now, want, "seed {seed}: {}", path.display());
        }
        for (service, account, secret, moved) in &items {
            let now = keyring.lookup(&[("service", service), ("account", account)]);
            let want = (!moved).then(|| secret.clone());
            assert_eq!(now, want, "seed {seed}: {service} ({account})");
        }
        let config = git2::Config::open(&xdg).unwrap();
        for org in bound {
            let had = config_text.contains(&format!("org/{org}\""));
            let now = config.get_string(&binding(org)).ok();
            let want = (had && org == "fabrikam").then(|| format!("someone@{org}.example"));
            assert_eq!(now, want, "seed {seed}: {}", binding(org));
        }
        let args: Vec<&str> = ["plan", "--json", "--only", "credentials"]
            .into_iter()
            .chain(orgs)
            .collect();
        let again = agent(&sandbox, &keyring, &args);
        let report: Value = serde_json::from_slice(&again.stdout).unwrap();
        let left: Vec<Value> = task_items(&report, "credentials")
            .into_iter()
            .filter(|i| i["status"] == "planned")
            .collect();
        assert!(left.is_empty(), "seed {seed}: left behind: {left:#?}");
    }
}

/// A Secret Service that cannot be reached is "not checked" (skipped, exit 11), never "ok",
/// when this user has keyrings it could hold items in; a machine with no keyring at all has
/// nothing there to check.
#[test]
fn an_unreachable_secret_service_is_not_checked_never_ok() {
    let sandbox = Sandbox::new();
    let run = |sandbox: &Sandbox| {
        let out = sandbox
            .cmd()
            .args(RUN_CONTOSO)
            .env(ado_cutover::agent::SANDBOX_OPT_IN, "1")
            .env(
                "DBUS_SESSION_BUS_ADDRESS",
                format!("unix:path={}", sandbox.root.path().join("no-bus").display()),
            )
            .output()
            .unwrap();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code(), task_items(&report, "credentials"))
    };
    let (code, items) = run(&sandbox);
    assert_eq!(
        code,
        Some(0),
        "no keyring here: nothing to check {items:#?}"
    );
    assert!(items.is_empty(), "{items:#?}");

    std::fs::create_dir_all(sandbox.paths.local_data.join("keyrings")).unwrap();
    let (code, items) = run(&sandbox);
    assert_eq!(code, Some(11), "{items:#?}");
    assert_eq!(items.len(), 1, "{items:#?}");
    assert_eq!(items[0]["status"], "skipped");
    let detail = items[0]["detail"].as_str().unwrap();
    assert!(detail.starts_with("not checked: "), "{detail}");
    assert!(
        detail.contains("the keyring service is not running") && !detail.contains("DBus error"),
        "raw D-Bus text reaches the person: {detail}"
    );
}

/// The Azure CLI's devops extension keeps its tokens through Python's `keyring` (on the Secret
/// Service) or, without a working keyring, in an INI file written by Python's `configparser`.
/// Both are written here by Debian's real `python3-keyring` and `configparser`, as the extension
/// does (azure-devops-cli-extension, `credential_store.py`).
#[test]
fn the_azure_cli_s_tokens_of_the_moved_organization_go_from_keyring_and_file() {
    let keyring = Keyring::start();
    let sandbox = Sandbox::new();
    let python = std::path::Path::new("/usr/bin/python3");
    assert!(
        python.exists(),
        "this test needs Debian's python3-keyring (.ci/run installs it)"
    );
    let dir = sandbox.paths.home.join(".azure").join("azuredevops");
    std::fs::create_dir_all(&dir).unwrap();
    let script = r#"
import configparser, keyring, os, sys
user = "Personal Access Token"
for key, token in [("azdevops-cli:https://dev.azure.com/contoso", "AZCLI-CONTOSO"),
                   ("azdevops-cli:https://dev.azure.com/fabrikam", "AZCLI-FABRIKAM"),
                   ("azdevops-cli: default", "AZCLI-DEFAULT")]:
    keyring.set_password(key, user, token)
files = configparser.ConfigParser(interpolation=None)
for key, token in [("azdevops-cli:https://dev.azure.com/contoso", "AZCLI-FILE-CONTOSO"),
                   ("azdevops-cli:https://dev.azure.com/fabrikam", "AZCLI-FILE-FABRIKAM")]:
    files.add_section(key)
    files.set(key, user, token)
with open(os.path.join(sys.argv[1], "personalAccessTokens"), "w+") as f:
    files.write(f)
with open(os.path.join(sys.argv[1], "organization_list"), "a+") as f:
    f.write("azdevops-cli:https://dev.azure.com/contoso\nazdevops-cli:https://dev.azure.com/fabrikam\n")
"#;
    let mut cmd = std::process::Command::new(python);
    keyring.apply(&mut cmd);
    let wrote = cmd
        .env(
            "PYTHON_KEYRING_BACKEND",
            "keyring.backends.SecretService.Keyring",
        )
        .args(["-c", script])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(wrote.status.success(), "{}", text(&wrote.stderr));
    let token =
        |key: &str| keyring.lookup(&[("service", key), ("username", "Personal Access Token")]);
    assert_eq!(
        token("azdevops-cli:https://dev.azure.com/contoso").as_deref(),
        Some("AZCLI-CONTOSO")
    );

    let run = agent(&sandbox, &keyring, RUN_CONTOSO);
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    let items = task_items(&report, "credentials");
    assert_eq!(
        token("azdevops-cli:https://dev.azure.com/contoso"),
        None,
        "{items:#?}"
    );
    assert_eq!(
        token("azdevops-cli:https://dev.azure.com/fabrikam").as_deref(),
        Some("AZCLI-FABRIKAM")
    );
    assert_eq!(
        token("azdevops-cli: default").as_deref(),
        Some("AZCLI-DEFAULT"),
        "names no organization: kept, and shown to the person"
    );
    let file = std::fs::read_to_string(dir.join("personalAccessTokens")).unwrap();
    assert_eq!(
        file,
        "\n[azdevops-cli:https://dev.azure.com/fabrikam]\npersonal access token = AZCLI-FILE-FABRIKAM\n\n"
    );
    let list = std::fs::read_to_string(dir.join("organization_list")).unwrap();
    assert_eq!(list, "azdevops-cli:https://dev.azure.com/fabrikam\n");
    for secret in ["AZCLI-CONTOSO", "AZCLI-FILE-CONTOSO", "AZCLI-DEFAULT"] {
        assert!(!text(&run.stdout).contains(secret), "{secret}");
        sandbox.assert_not_in_agent_files(secret);
    }
}
