//! Task `credentials` end to end, on real stores that are files: git's credential-store file,
//! Git Credential Manager's plaintext store and its state in the global git configuration.

use crate::support;
use support::repo as git;

use serde_json::Value;
use support::fake_cloud::FakeCloud;

use support::{PLAN_CONTOSO, RUN_CONTOSO, Sandbox, task_items, text};

const LINES: &[&str] = &[
    "https://github.com-user:ghp_TOKENGITHUB@github.com",
    "https://alice:SECRETCONTOSO1@dev.azure.com/contoso/proj/_git/web",
    "https://contoso:SECRETCONTOSO2@dev.azure.com",
    "https://x:SECRETFABRIKAM@fabrikam.visualstudio.com",
    "https://x:SECRETEVIL@dev.azure.com.evil.example/contoso",
    "https://alice%40example.com:SECRETNOORG@dev.azure.com",
];

fn store(sandbox: &Sandbox) -> std::path::PathBuf {
    let path = sandbox.paths.home.join(".git-credentials");
    // CRLF on one line and no newline at the end: both must survive byte for byte.
    let content = format!("{}\r\n{}\n", LINES[0], LINES[1..].join("\n"));
    sandbox.write(&path, content.trim_end().as_bytes());
    path
}

#[test]
fn only_the_lines_of_moved_organizations_leave_the_credential_store() {
    let sandbox = Sandbox::new();
    let path = store(&sandbox);
    #[cfg(unix)]
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    let before = std::fs::read(&path).unwrap();

    let plan = sandbox.cmd().args(PLAN_CONTOSO).output().unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "plan changed the store"
    );
    let report: Value = serde_json::from_slice(&plan.stdout).unwrap();
    let items = task_items(&report, "credentials");
    let contoso = items
        .iter()
        .find(|i| i["target"].as_str().unwrap().ends_with("(contoso)"))
        .unwrap();
    assert_eq!(contoso["status"], "planned");
    let unknown = items
        .iter()
        .find(|i| i["target"].as_str().unwrap().ends_with("(dev.azure.com)"))
        .unwrap();
    assert_eq!(unknown["status"], "needs-user");
    assert_eq!(
        items.len(),
        2,
        "fabrikam did not move, the look-alike is not ours: {items:#?}"
    );

    let run = sandbox
        .cmd()
        .args(["run", "--yes", "--only", "credentials", "--org", "contoso"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(10), "{}", text(&run.stdout));
    let expected = format!("{}\r\n{}\n{}\n{}", LINES[0], LINES[3], LINES[4], LINES[5]);
    assert_eq!(
        String::from_utf8(std::fs::read(&path).unwrap()).unwrap(),
        expected
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o640
        );
    }
    for out in [&plan, &run] {
        for secret in [
            "SECRETCONTOSO",
            "SECRETFABRIKAM",
            "SECRETNOORG",
            "ghp_TOKENGITHUB",
        ] {
            assert!(!text(&out.stdout).contains(secret), "{secret} leaked");
            assert!(!text(&out.stderr).contains(secret), "{secret} leaked");
            sandbox.assert_not_in_agent_files(secret);
        }
    }
    let again = sandbox.cmd().args(PLAN_CONTOSO).output().unwrap();
    let report: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert!(
        task_items(&report, "credentials")
            .iter()
            .all(|i| i["status"] != "planned")
    );
}

#[test]
fn gcm_plaintext_credentials_of_moved_organizations_go() {
    let sandbox = Sandbox::new();
    let https = sandbox
        .paths
        .home
        .join(".gcm")
        .join("store")
        .join("git")
        .join("https");
    let contoso = https
        .join("dev.azure.com")
        .join("contoso")
        .join("alice@contoso.com.credential");
    let other_file = https.join("dev.azure.com").join("contoso").join(".gpg-id");
    let legacy = https
        .join("contoso.visualstudio.com")
        .join("alice@contoso.com.credential");
    let fabrikam = https
        .join("dev.azure.com")
        .join("fabrikam")
        .join("bob.credential");
    for path in [&contoso, &other_file, &legacy, &fabrikam] {
        sandbox.write(
            path,
            b"SECRETGCM\nservice=https://dev.azure.com/x\naccount=a\n",
        );
    }
    let run = sandbox.cmd().args(RUN_CONTOSO).output().unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stdout));
    assert!(!contoso.exists() && !legacy.exists());
    assert!(other_file.exists(), "only *.credential files go");
    assert!(fabrikam.exists(), "fabrikam did not move");
}

#[test]
fn gcm_dpapi_and_gpg_stores_lose_only_credential_files_of_moved_organizations() {
    let sandbox = Sandbox::new();
    let home = &sandbox.paths.home;
    let dpapi =
        home.join(".gcm/dpapi_store/git/https/dev.azure.com/contoso/alice@contoso.com.credential");
    let pass = home.join(".password-store");
    let gpg = pass.join("git/https/dev.azure.com/contoso/alice@contoso.com.gpg");
    let gpg_legacy = pass.join("git/https/contoso.visualstudio.com/alice@contoso.com.gpg");
    // pass's own files and other organizations' and hosts' entries stay.
    let kept = [
        pass.join(".gpg-id"),
        pass.join("git/https/dev.azure.com/contoso/.gpg-id"),
        pass.join("git/https/dev.azure.com/fabrikam/bob.gpg"),
        pass.join("git/https/github.com/alice.gpg"),
        pass.join("git/https/dev.azure.com.evil.example/contoso/alice.gpg"),
        pass.join("email/contoso.gpg"),
    ];
    for path in kept.iter().chain([&dpapi, &gpg, &gpg_legacy]) {
        sandbox.write(path, b"\x85\x02ENCRYPTED");
    }
    let plan = sandbox.cmd().args(PLAN_CONTOSO).output().unwrap();
    let report: Value = serde_json::from_slice(&plan.stdout).unwrap();
    let kinds: Vec<String> = task_items(&report, "credentials")
        .iter()
        .map(|i| {
            format!(
                "{} {}",
                i["kind"].as_str().unwrap(),
                i["status"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "gcm-dpapi-store planned",
            "gcm-gpg-store planned",
            "gcm-gpg-store planned"
        ]
    );
    let run = sandbox
        .cmd()
        .args(["run", "--yes", "--only", "credentials", "--org", "contoso"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stdout));
    assert!(!dpapi.exists() && !gpg.exists() && !gpg_legacy.exists());
    for path in &kept {
        assert!(path.exists(), "{} must stay", path.display());
    }
}

#[test]
fn the_shared_sign_in_cache_file_is_reported_and_cleared_only_by_admin_choice() {
    let sandbox = Sandbox::new();
    let cache = if cfg!(windows) {
        sandbox.paths.local_data.join(".IdentityService/msal.cache")
    } else {
        sandbox
            .paths
            .home
            .join(".local/.IdentityService/msal.cache")
    };
    sandbox.write(&cache, b"MSAL-CACHE-CONTENT");
    let args = RUN_CONTOSO;
    let run = sandbox.cmd().args(args).output().unwrap();
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    let items = task_items(&report, "credentials");
    assert_eq!(items.len(), 1, "{items:#?}");
    assert_eq!(items[0]["kind"], "msal-cache");
    assert_eq!(items[0]["status"], "info");
    assert!(cache.exists(), "kept by default");

    sandbox.write_managed_config("[credentials]\nclear_msal_cache = true\n");
    let plan = sandbox
        .cmd()
        .args(["plan", "--only", "credentials", "--org", "contoso"])
        .output()
        .unwrap();
    // Compared with the lines joined: the wording wraps where the reason is longer.
    let words = text(&plan.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        words.contains("signs you out of Visual Studio"),
        "{}",
        text(&plan.stdout)
    );
    let run = sandbox.cmd().args(args).output().unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stdout));
    assert!(!cache.exists(), "the admin chose to clear it");
}

#[test]
fn the_artifacts_credential_providers_session_tokens_go_when_a_feed_moved() {
    let sandbox = Sandbox::new();
    let cache = sandbox
        .paths
        .local_data
        .join("MicrosoftCredentialProvider/SessionTokenCache.dat");
    let neighbour = cache.with_file_name("ADALTokenCache.dat");
    // As the provider writes it: a JSON object from feed URL to session token.
    sandbox.write(
        &cache,
        br#"{"https://pkgs.dev.azure.com/contoso/_packaging/team/nuget/v3/index.json":"SESSIONTOKENSECRET"}"#,
    );
    sandbox.write(&neighbour, b"not ours to judge");

    let only_fabrikam = sandbox
        .cmd()
        .args([
            "run",
            "--yes",
            "--json",
            "--only",
            "credentials",
            "--org",
            "fabrikam",
        ])
        .output()
        .unwrap();
    assert_eq!(only_fabrikam.status.code(), Some(0));
    assert!(cache.exists(), "contoso did not move in this run");

    let run = sandbox.cmd().args(RUN_CONTOSO).output().unwrap();
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    let items = task_items(&report, "credentials");
    let item = items
        .iter()
        .find(|i| i["kind"] == "artifacts-session-tokens")
        .unwrap_or_else(|| panic!("{items:#?}"));
    assert_eq!(item["status"], "done", "{item:#}");
    assert!(
        item["detail"]
            .as_str()
            .unwrap()
            .contains("the next restore")
    );
    assert!(!cache.exists());
    assert!(neighbour.exists(), "only the session token cache goes");
    assert!(!text(&run.stdout).contains("SESSIONTOKENSECRET"));
    sandbox.assert_not_in_agent_files("SESSIONTOKENSECRET");
    // Nothing is left to do the second time.
    let again = sandbox.cmd().args(RUN_CONTOSO).output().unwrap();
    let report: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert!(
        task_items(&report, "credentials")
            .iter()
            .all(|i| i["kind"] != "artifacts-session-tokens")
    );
}

/// git's real credential-cache daemon, on a socket in the sandbox: what it holds for the
/// organization that moved is erased, exactly; the rest stays.
#[cfg(unix)] // git's credential-cache daemon exists only on Unix (a Unix socket)
#[test]
fn git_s_credential_cache_daemon_forgets_only_the_moved_organization() {
    let sandbox = Sandbox::new();
    // The daemon wants its socket's folder private.
    let socket_dir = sandbox.root.path().join("cache");
    std::fs::create_dir_all(&socket_dir).unwrap();
    std::fs::set_permissions(
        &socket_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let socket = socket_dir.join("socket");
    sandbox.write(
        &sandbox.paths.home.join(".gitconfig"),
        format!(
            "[credential]\n\thelper = cache --timeout=300 --socket={}\n",
            socket.display()
        )
        .as_bytes(),
    );
    let cache = |action: &str, input: &str| {
        support::output_with_stdin(
            sandbox
                .paths
                .command("git")
                .current_dir(sandbox.root.path())
                .arg("credential-cache")
                .arg("--socket")
                .arg(&socket)
                .arg(action),
            input,
        )
    };
    let contoso = "protocol=https\nhost=dev.azure.com\npath=contoso\n";
    let fabrikam = "protocol=https\nhost=dev.azure.com\npath=fabrikam\n";
    let legacy = "protocol=https\nhost=contoso.visualstudio.com\n";
    for (what, secret) in [
        (contoso, "CACHEDCONTOSO"),
        (fabrikam, "CACHEDFABRIKAM"),
        (legacy, "CACHEDLEGACY"),
    ] {
        let stored = cache(
            "store",
            &format!("{what}username=alice\npassword={secret}\n\n"),
        );
        assert!(stored.status.success(), "{}", text(&stored.stderr));
    }
    let holds = |what: &str| text(&cache("get", &format!("{what}\n")).stdout).contains("password=");
    assert!(holds(contoso) && holds(fabrikam) && holds(legacy));

    let plan = sandbox.cmd().args(PLAN_CONTOSO).output().unwrap();
    assert!(holds(contoso), "plan erases nothing");
    let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
    let planned: Vec<_> = task_items(&plan, "credentials")
        .into_iter()
        .filter(|i| i["kind"] == "credential-cache" && i["status"] == "planned")
        .collect();
    assert_eq!(planned.len(), 2, "{planned:#?}");

    let run = sandbox.cmd().args(RUN_CONTOSO).output().unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stdout));
    assert!(!holds(contoso), "erased");
    assert!(!holds(legacy), "erased");
    assert!(holds(fabrikam), "another organization's credential stays");
    assert!(!text(&run.stdout).contains("CACHED"));
    sandbox.assert_not_in_agent_files("CACHEDCONTOSO");
    let _ = cache("exit", "");
}

#[test]
fn without_configured_organizations_the_tenant_decides_and_offline_nothing_goes() {
    let sandbox = Sandbox::new();
    let path = sandbox.paths.home.join(".git-credentials");
    let content = "https://a:S1@dev.azure.com/contoso\nhttps://a:S2@dev.azure.com/msaorg\n";
    sandbox.write(&path, content.as_bytes());

    // Offline (the sandbox sends lookups to a closed port): nothing unconfigured is touched.
    let offline = sandbox
        .cmd()
        .args(["run", "--yes", "--json", "--only", "credentials"])
        .output()
        .unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), content);
    let report: Value = serde_json::from_slice(&offline.stdout).unwrap();
    let items = task_items(&report, "credentials");
    let unchecked = items
        .iter()
        .find(|i| i["target"] == "contoso")
        .unwrap_or_else(|| panic!("{items:#?}"));
    assert_eq!(unchecked["status"], "skipped", "not checked is never ok");
    assert!(
        unchecked["detail"]
            .as_str()
            .unwrap()
            .starts_with("not checked: could not ask Azure DevOps whether contoso moved"),
        "{unchecked}"
    );
    let task = report["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "credentials")
        .unwrap();
    assert_eq!(task["status"], "skipped");
    assert!(
        task["summary"].as_str().unwrap().contains("not checked"),
        "{task}"
    );
    assert_eq!(
        offline.status.code(),
        Some(11),
        "not finished: device management runs it again"
    );

    let fake = FakeCloud::start();
    let online = sandbox
        .cmd()
        .args(["run", "--yes", "--json", "--only", "credentials"])
        .env(ado_cutover::agent::AZURE_DEVOPS_URL_VAR, fake.ado_base())
        .output()
        .unwrap();
    assert_eq!(online.status.code(), Some(0), "{}", text(&online.stdout));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "https://a:S2@dev.azure.com/msaorg\n",
        "contoso moved to Entra, msaorg did not"
    );
}

/// Git Credential Manager's bindings and cached authorities in `~/.gitconfig`, seeded and read
/// back with libgit2 (so this runs in the Windows build too).
#[test]
fn gcm_git_config_state_is_cleared_and_undo_restores_it() {
    let sandbox = Sandbox::new();
    let gitconfig = sandbox.paths.home.join(".gitconfig");
    let get = |key: &str| git::config_get(&gitconfig, key);
    let seed = [
        (
            "credential.azrepos:org/contoso.username",
            "alice@old.example",
        ),
        (
            "credential.azrepos:org/contoso.azureAuthority",
            "https://login.microsoftonline.com/organizations",
        ),
        (
            "credential.https://contoso.visualstudio.com.authority",
            "MSA",
        ),
        (
            "credential.azrepos:org/fabrikam.username",
            "bob@example.com",
        ),
        ("credential.helper", "store"),
    ];
    for (key, value) in seed {
        git::config_set(&gitconfig, key, value);
    }
    let run = sandbox
        .cmd()
        .args(["run", "--yes", "--only", "credentials", "--org", "contoso"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stdout));
    for (key, _) in &seed[..3] {
        assert_eq!(get(key), None, "{key} is still set");
    }
    for (key, value) in &seed[3..] {
        assert_eq!(get(key).as_deref(), Some(*value));
    }
    let undo = sandbox.cmd().arg("undo").output().unwrap();
    assert_eq!(undo.status.code(), Some(0), "{}", text(&undo.stdout));
    for (key, value) in seed {
        assert_eq!(get(key).as_deref(), Some(value), "{key}");
    }
}

#[test]
fn tokens_kept_in_package_manager_and_shell_files_are_reported_never_shown_or_changed() {
    let sandbox = Sandbox::new();
    let npmrc = sandbox.paths.home.join(".npmrc");
    let bashrc = sandbox.paths.home.join(".bashrc");
    let npm = "registry=https://pkgs.dev.azure.com/contoso/_packaging/f/npm/registry/\n\
               //pkgs.dev.azure.com/contoso/_packaging/f/npm/registry/:_password=U0VDUkVUTlBN\n\
               //pkgs.dev.azure.com/fabrikam/_packaging/f/npm/registry/:_password=RkFCUklLQU0=\n";
    let bash = "export PATH=$PATH:~/bin\nexport AZURE_DEVOPS_EXT_PAT=SECRETSHELLPAT\n";
    sandbox.write(&npmrc, npm.as_bytes());
    sandbox.write(&bashrc, bash.as_bytes());
    let out = sandbox.cmd().args(PLAN_CONTOSO).output().unwrap();
    assert_eq!(out.status.code(), Some(10), "{}", text(&out.stderr));
    for secret in ["U0VDUkVUTlBN", "RkFCUklLQU0", "SECRETSHELLPAT"] {
        assert!(!text(&out.stdout).contains(secret), "{secret} leaked");
    }
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let targets: Vec<String> = task_items(&report, "credentials")
        .iter()
        .filter(|i| i["kind"] == "token-elsewhere")
        .map(|i| i["target"].as_str().unwrap().replace('\\', "/"))
        .collect();
    assert_eq!(
        targets,
        ["~/.npmrc:2", "~/.bashrc:2"],
        "fabrikam did not move"
    );
    let run = sandbox
        .cmd()
        .args(["run", "--yes", "--only", "credentials", "--org", "contoso"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(10));
    assert_eq!(
        std::fs::read_to_string(&npmrc).unwrap(),
        npm,
        "reported, never changed"
    );
    assert_eq!(std::fs::read_to_string(&bashrc).unwrap(), bash);
}

/// Bindings in each repository's own configuration, including the empty "no inherit" value,
/// seeded and read back with libgit2 (so this runs in the Windows build too).
#[test]
fn repository_bindings_are_cleared_and_undo_restores_them() {
    let sandbox = Sandbox::new();
    let web = sandbox.paths.home.join("src").join("web");
    let api = sandbox.paths.home.join("src").join("api");
    let local = |dir: &std::path::Path| dir.join(".git").join("config");
    let get = |dir: &std::path::Path, key: &str| git::config_get(&local(dir), key);
    for (dir, key, value) in [
        (
            &web,
            "credential.azrepos:org/contoso.username",
            "alice@old.example",
        ),
        (
            &web,
            "credential.azrepos:org/fabrikam.username",
            "bob@example.com",
        ),
        (&api, "credential.azrepos:org/contoso.username", ""),
    ] {
        std::fs::create_dir_all(dir).unwrap();
        if !local(dir).exists() {
            git::init(dir);
        }
        git::config_set(&local(dir), key, value);
    }
    let run = sandbox
        .cmd()
        .args(["run", "--yes", "--only", "credentials", "--org", "contoso"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stdout));
    let contoso = "credential.azrepos:org/contoso.username";
    assert_eq!(get(&web, contoso), None);
    assert_eq!(get(&api, contoso), None);
    assert_eq!(
        get(&web, "credential.azrepos:org/fabrikam.username").as_deref(),
        Some("bob@example.com")
    );
    let undo = sandbox.cmd().arg("undo").output().unwrap();
    assert_eq!(undo.status.code(), Some(0), "{}", text(&undo.stdout));
    assert_eq!(get(&web, contoso).as_deref(), Some("alice@old.example"));
    assert_eq!(
        get(&api, contoso).as_deref(),
        Some(""),
        "the empty no-inherit value is back"
    );
}

/// Several organizations' lines in one file are planned against the same checksum; one run
/// removes them all (each removal accepts what the run's own earlier removal left), and a file
/// something else changed after the plan is still refused.
#[test]
fn one_run_clears_several_moved_organizations_from_one_credential_file() {
    let sandbox = Sandbox::new();
    let path = sandbox.paths.home.join(".git-credentials");
    let content = "https://a:S1@dev.azure.com/contoso\n\
                   https://gh:GHTOKEN@github.com\n\
                   https://b:S2@dev.azure.com/fabrikam/p/_git/r\n\
                   https://c:S3@tailspin.visualstudio.com\n\
                   https://a:S4@dev.azure.com/contoso/other/_git/x\n";
    sandbox.write(&path, content.as_bytes());
    let orgs = ["--org", "contoso", "--org", "fabrikam", "--org", "tailspin"];
    let run = sandbox
        .cmd()
        .args(["run", "--yes", "--silent", "--only", "credentials"])
        .args(orgs)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "https://gh:GHTOKEN@github.com\n"
    );
    let again = sandbox
        .cmd()
        .args(["plan", "--json", "--only", "credentials"])
        .args(orgs)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert!(task_items(&report, "credentials").is_empty(), "{report:#}");
}

/// A `~/.gitconfig` that is a link (a dotfile manager's) is never written through: the
/// binding in it is left as a step for the person, and the file it points to is unchanged.
#[cfg(unix)] // symbolic links need an administrator or developer mode on Windows
#[test]
fn a_linked_gitconfig_is_not_written_through() {
    let sandbox = Sandbox::new();
    let dotfiles = sandbox.paths.home.join("dotfiles/gitconfig");
    sandbox.write(
        &dotfiles,
        b"[credential \"azrepos:org/contoso\"]\n\tusername = alice@old.example\n",
    );
    std::os::unix::fs::symlink(&dotfiles, sandbox.paths.home.join(".gitconfig")).unwrap();
    let before = std::fs::read(&dotfiles).unwrap();
    let run = sandbox
        .cmd()
        .args([
            "run",
            "--yes",
            "--json",
            "--only",
            "credentials",
            "--org",
            "contoso",
        ])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(10), "{}", text(&run.stderr));
    assert_eq!(
        std::fs::read(&dotfiles).unwrap(),
        before,
        "not written through"
    );
    assert!(
        sandbox.paths.home.join(".gitconfig").is_symlink(),
        "still a link"
    );
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    let binding = task_items(&report, "credentials")
        .into_iter()
        .find(|i| i["status"] == "needs-user")
        .expect("the binding is the person's to remove");
    assert!(
        binding["detail"]
            .as_str()
            .unwrap()
            .contains("symbolic link"),
        "{binding:#}"
    );
}
