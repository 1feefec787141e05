//! Test support: an isolated home for the agent (`ADO_CUTOVER_SANDBOX`), helpers to seed it
//! with the files real machines have, and a way to see that nothing outside the agent's own
//! folders changed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ado_cutover::agent::sha256_hex;
use ado_cutover::agent::{Paths, SANDBOX_VAR};
use std::process::{Command, Stdio};

#[cfg(all(feature = "server", target_os = "linux"))]
pub(crate) mod browser;
pub(crate) mod fake_cloud;
#[cfg(target_os = "linux")]
pub(crate) mod headless;
#[cfg(target_os = "linux")]
pub(crate) mod keyring;
#[cfg(all(feature = "server", target_os = "linux"))]
pub(crate) mod oidc;
#[cfg(feature = "server")]
pub(crate) mod receiver;
pub(crate) mod repo;
#[cfg(feature = "server")]
pub(crate) mod server;
#[cfg(unix)]
pub(crate) mod terminal;
#[cfg(target_os = "linux")]
pub(crate) mod tools;
#[cfg(windows)]
pub(crate) mod wine;

/// The all-zero tenant: personal Microsoft accounts.
pub(crate) const MSA: &str = "00000000-0000-0000-0000-000000000000";
pub(crate) const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

/// Never the internet: every network call the agent makes goes to a closed local port unless
/// a test serves it (Azure DevOps, Entra ID, and ssh to a local sshd).
pub(crate) const OFFLINE: &[(&str, &str)] = &[
    ("ADO_CUTOVER_AZURE_DEVOPS_URL", "http://127.0.0.1:9"),
    ("ADO_CUTOVER_ARTIFACTS_URL", "http://127.0.0.1:9"),
    ("ADO_CUTOVER_ENTRA_URL", "http://127.0.0.1:9"),
    ("ADO_CUTOVER_VSSPS_URL", "http://127.0.0.1:9"),
    ("ADO_CUTOVER_SSH_TEST_ENDPOINT", "git@127.0.0.1:9"),
];

/// `plan --json` of the credentials task, for the organization `contoso` that moved.
pub(crate) const PLAN_CONTOSO: &[&str] = &[
    "plan",
    "--json",
    "--only",
    "credentials",
    "--org",
    "contoso",
];
/// `run --yes --json` of the credentials task, for the organization `contoso` that moved.
pub(crate) const RUN_CONTOSO: &[&str] = &[
    "run",
    "--yes",
    "--json",
    "--only",
    "credentials",
    "--org",
    "contoso",
];

/// A temporary machine: home, local data, config, the managed folder, all under one root.
pub(crate) struct Sandbox {
    pub root: tempfile::TempDir,
    pub paths: Paths,
}

impl Sandbox {
    pub(crate) fn new() -> Sandbox {
        // Every missing tool named at once, before a test meets the first of them.
        #[cfg(target_os = "linux")]
        tools::require();
        #[cfg(windows)]
        wine::start_desktop();
        let root = tempfile::tempdir().expect("temp dir");
        let paths = Paths::sandboxed(root.path());
        std::fs::create_dir_all(&paths.home).unwrap();
        Sandbox { root, paths }
    }

    /// The agent, pointed at this sandbox, with none of the caller's agent settings.
    pub(crate) fn cmd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ado-cutover"));
        // No terminal to ask on unless a test gives one.
        cmd.stdin(Stdio::null());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ADO_CUTOVER_") {
                cmd.env_remove(&key);
            }
        }
        cmd.envs(OFFLINE.iter().copied())
            .env(SANDBOX_VAR, self.root.path())
            .env("NO_COLOR", "1")
            .env("HOME", &self.paths.home)
            .env("USERPROFILE", &self.paths.home);
        // Never this machine's browser: on Windows the agent would open one through the shell
        // (Linux tests remove DISPLAY instead). A test that plays the browser sets its own.
        #[cfg(windows)]
        cmd.env(
            "ADO_CUTOVER_BROWSER",
            self.root.path().join("no-browser.exe"),
        );
        cmd
    }

    /// Where GCM for Windows keeps its tenant cache in this sandbox.
    pub(crate) fn tenant_cache(&self) -> PathBuf {
        ado_cutover::agent::tenant_cache_path(&self.paths.local_data)
    }

    /// A script that plays the browser of a sign-in: it follows the sign-in page's redirect
    /// back to the agent (`ADO_CUTOVER_BROWSER`).
    #[cfg(unix)]
    pub(crate) fn browser_script(&self) -> PathBuf {
        let path = self.root.path().join("browser.sh");
        std::fs::write(&path, "#!/bin/sh\nexec curl -s -o /dev/null -L \"$1\"\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// Writes a tenant cache holding `entries`, and a sibling file that must survive.
    pub(crate) fn seed_tenant_cache(&self, entries: &[(&str, &str)]) {
        self.write(
            &self.tenant_cache(),
            &ado_cutover::agent::encode_tenant_cache(entries),
        );
        self.write(&self.sibling(), b"not ours\n");
    }

    /// A sandbox whose tenant cache names contoso (personal Microsoft accounts) and fabrikam
    /// (an Entra tenant).
    pub(crate) fn seeded() -> Sandbox {
        let sandbox = Sandbox::new();
        sandbox.seed_tenant_cache(&[
            ("https://dev.azure.com/contoso/", MSA),
            ("https://fabrikam.visualstudio.com/", TENANT),
        ]);
        sandbox
    }

    /// A file next to the tenant cache that no task may touch.
    pub(crate) fn sibling(&self) -> PathBuf {
        self.tenant_cache()
            .with_file_name("git-credential-manager.log")
    }

    /// `~/<rel>` with the platform's separators (`rel` uses `/`), as the agent shows paths.
    pub(crate) fn under_home(&self, rel: &str) -> PathBuf {
        rel.split('/')
            .fold(self.paths.home.clone(), |dir, part| dir.join(part))
    }

    pub(crate) fn write_user_config(&self, text: &str) {
        self.write(&self.paths.user_config(), text.as_bytes());
    }

    pub(crate) fn write_managed_config(&self, text: &str) {
        self.write(&self.paths.managed_config(), text.as_bytes());
    }

    pub(crate) fn write(&self, path: &Path, bytes: &[u8]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    /// Every file in the sandbox outside the agent's own data and log folders, with a hash of
    /// its content: equal snapshots mean the machine was not changed.
    pub(crate) fn snapshot(&self) -> BTreeMap<PathBuf, String> {
        let mut files = BTreeMap::new();
        let mut stack = vec![self.root.path().to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.starts_with(&self.paths.data_dir) || path.starts_with(&self.paths.log_dir) {
                    continue;
                }
                let meta = std::fs::symlink_metadata(&path).unwrap();
                if meta.is_dir() {
                    stack.push(path);
                } else {
                    let content = std::fs::read(&path).unwrap_or_default();
                    files.insert(path, sha256_hex(&content));
                }
            }
        }
        files
    }

    /// Every file the agent wrote for itself (journal, reports, state, logs), as text.
    pub(crate) fn agent_files(&self) -> Vec<(PathBuf, String)> {
        let mut files = Vec::new();
        let mut stack = vec![self.paths.data_dir.clone(), self.paths.log_dir.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let content =
                        String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
                    files.push((path, content));
                }
            }
        }
        files
    }

    /// Fails if `secret` is in any file the agent wrote for itself.
    pub(crate) fn assert_not_in_agent_files(&self, secret: &str) {
        for (path, content) in self.agent_files() {
            assert!(
                !content.contains(secret),
                "a secret is in {}",
                path.display()
            );
        }
    }

    /// The same, for a secret that has one home of its own (`allowed`).
    #[cfg(feature = "server")]
    pub(crate) fn assert_not_in_agent_files_except(&self, secret: &str, allowed: &Path) {
        for (path, content) in self.agent_files() {
            assert!(
                path == allowed || !content.contains(secret),
                "a secret is in {}",
                path.display()
            );
        }
    }

    /// Fails, naming only the files that differ, unless the machine is as in `before`.
    pub(crate) fn assert_unchanged(&self, before: &BTreeMap<PathBuf, String>, what: &str) {
        let after = self.snapshot();
        let changed: Vec<&PathBuf> = before
            .keys()
            .chain(after.keys())
            .filter(|path| before.get(*path) != after.get(*path))
            .collect();
        assert!(changed.is_empty(), "{what} changed: {changed:?}");
    }

    /// insta settings that make output the same on every machine and OS.
    pub(crate) fn insta(&self) -> insta::Settings {
        let mut settings = insta::Settings::clone_current();
        for (path, name) in [
            (self.paths.user_config(), "[USER_CONFIG]"),
            (self.paths.managed_config(), "[MANAGED_CONFIG]"),
        ] {
            settings.add_filter(&regex_escape(&path.display().to_string()), name);
        }
        let local = self.paths.display(&self.paths.local_data);
        settings.add_filter(&regex_escape(&local), "[LOCAL_DATA]");
        let root = self.root.path().display().to_string();
        settings.add_filter(&regex_escape(&root), "[SANDBOX]");
        settings.add_filter(r"\\", "/");
        // How many folders a scan passes depends on the platform's layout.
        settings.add_filter(r"searched \d+ folders?", "searched [N] folders");
        settings.add_filter(r"\d{8}T\d{12}Z-(plan|run|undo)-[0-9a-f-]{36}", "[REPORT]");
        settings
    }
}

/// A process named like a browser, running with the sandbox as its home: that browser's
/// profiles are in use. A renamed `sleep` on Unix; on Windows a renamed `ping.exe` pinging the
/// loopback address once a second (Windows has no `sleep` program).
pub(crate) struct FakeBrowser {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl FakeBrowser {
    pub(crate) fn start(sandbox: &Sandbox, name: &str) -> FakeBrowser {
        let dir = tempfile::tempdir().unwrap();
        #[cfg(unix)]
        let (program, args) = {
            let program = dir.path().join(name);
            std::fs::copy("/bin/sleep", &program).unwrap();
            (program, vec!["60"])
        };
        #[cfg(windows)]
        let (program, args) = {
            let program = dir.path().join(format!("{name}.exe"));
            let system = std::env::var("SystemRoot").unwrap_or_else(|_| r"C:\windows".into());
            std::fs::copy(
                Path::new(&system).join("system32").join("ping.exe"),
                &program,
            )
            .unwrap();
            (program, vec!["-n", "60", "127.0.0.1"])
        };
        let child = std::process::Command::new(&program)
            .args(args)
            .env("HOME", &sandbox.paths.home)
            .env("USERPROFILE", &sandbox.paths.home)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Wait until the process table shows it under its name.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !listed(child.id(), name) {
            assert!(
                std::time::Instant::now() < deadline,
                "fake browser did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        FakeBrowser { child, _dir: dir }
    }
}

/// True when the process table lists `pid` as `name` (without `.exe`).
fn listed(pid: u32, name: &str) -> bool {
    let mut system = sysinfo::System::new();
    let pid = sysinfo::Pid::from_u32(pid);
    system.refresh_processes(sysinfo::ProcessesToUpdate::Some(&[pid]), true);
    system.process(pid).is_some_and(|p| {
        let listed = p.name().to_string_lossy().to_ascii_lowercase();
        listed.trim_end_matches(".exe") == name
    })
}

impl Drop for FakeBrowser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn regex_escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The items of task `id` in a JSON report.
pub(crate) fn task_items(report: &serde_json::Value, id: &str) -> Vec<serde_json::Value> {
    report["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("no task {id} in the report"))["items"]
        .as_array()
        .expect("items")
        .clone()
}

/// Output of a finished command as text.
pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the agent and reads the JSON report it prints: exit code, report, standard error.
pub(crate) fn json_run(cmd: &mut Command) -> (Option<i32>, serde_json::Value, String) {
    let out = cmd.output().unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "no JSON report: {}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    });
    (out.status.code(), report, text(&out.stderr))
}

pub(crate) fn output_with_stdin(cmd: &mut Command, input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Makes the agent's journal look as a run killed mid-change leaves it: the confirmation of the
/// first intent `is_it` picks is taken out (the intent, written before the change, stays).
/// Returns that intent. Panics when there is no such intent or it was not confirmed.
pub(crate) fn unconfirm_in_journal(
    sandbox: &Sandbox,
    is_it: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let journal = sandbox.paths.data_dir.join("journal.jsonl");
    let lines = std::fs::read_to_string(&journal).unwrap();
    let records: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let intent = records
        .iter()
        .find(|r| r["record"] == "intent" && is_it(&r["change"]))
        .unwrap_or_else(|| panic!("no such intent in {lines}"))
        .clone();
    let kept: Vec<String> = records
        .iter()
        .filter(|r| !(r["record"] == "committed" && r["id"] == intent["id"]))
        .map(|r| r.to_string())
        .collect();
    assert_eq!(kept.len() + 1, records.len(), "the confirmation was there");
    std::fs::write(&journal, kept.join("\n") + "\n").unwrap();
    intent
}
