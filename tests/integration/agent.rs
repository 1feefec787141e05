//! The agent end to end, in a sandboxed home: plan, run, undo, report, configuration, the run
//! lock and exit codes, as a user or a script sees them.

use crate::support;

use ado_cutover::agent::RunLock;
use serde_json::{Value, json};
use support::{MSA, PLAN_CONTOSO, RUN_CONTOSO, Sandbox, TENANT, text};

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(bytes)))
}

fn task<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("no task {id} in {report}"))
}

#[test]
fn plan_names_the_cache_and_its_organizations_and_changes_nothing() {
    let sandbox = Sandbox::seeded();
    let before = sandbox.snapshot();
    let out = sandbox.cmd().args(["plan", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(10), "{}", text(&out.stderr));
    assert_eq!(sandbox.snapshot(), before, "plan changed the machine");

    let report = json(&out.stdout);
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["mode"], "plan");
    assert_eq!(report["outcome"], "action-needed");
    let cache = task(&report, "gcm-tenant-cache");
    assert_eq!(cache["status"], "planned");
    let item = &cache["items"][0];
    assert_eq!(item["kind"], "tenant-cache");
    assert_eq!(item["status"], "planned");
    assert!(item["target"].as_str().unwrap().ends_with("tenant.cache"));
    let detail = item["detail"].as_str().unwrap();
    assert!(
        detail.contains("contoso (personal Microsoft accounts)"),
        "{detail}"
    );
    assert!(
        detail.contains(&format!("fabrikam (tenant {TENANT})")),
        "{detail}"
    );
    let steps: Vec<&str> = task(&report, "guidance")["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["target"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        ["rename-personal-account", "move-visual-studio-subscription"]
    );
}

#[test]
fn plan_json_carries_every_schema_field() {
    let sandbox = Sandbox::seeded();
    sandbox.write(
        &sandbox.paths.managed_dir.join("machine-id"),
        b"fixed-machine\n",
    );
    let out = sandbox.cmd().args(["plan", "--json"]).output().unwrap();
    let report = json(&out.stdout);
    for key in [
        "schema_version",
        "report_id",
        "agent_version",
        "mode",
        "started_at",
        "finished_at",
        "device",
        "user",
        "outcome",
        "tasks",
    ] {
        assert!(report.get(key).is_some(), "missing {key}");
    }
    for key in ["hostname", "os", "os_version", "arch", "device_id"] {
        assert!(report["device"][key].is_string(), "device.{key}");
    }
    assert_eq!(
        report["device"]["device_id"],
        ado_cutover::agent::device_id("fixed-machine")
    );
    assert!(report["user"]["name"].is_string());
    assert!(report["user"]["upn"].is_null());
    let started = report["started_at"].as_str().unwrap();
    time::OffsetDateTime::parse(started, &time::format_description::well_known::Rfc3339)
        .expect("RFC 3339");
    uuid::Uuid::parse_str(report["report_id"].as_str().unwrap()).expect("UUID");
}

#[test]
fn run_deletes_only_the_cache_a_second_run_has_nothing_to_do_and_undo_restores_nothing() {
    let sandbox = Sandbox::seeded();
    let out = sandbox
        .cmd()
        .args(["run", "--yes", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(10),
        "user steps remain: {}",
        text(&out.stderr)
    );
    let report = json(&out.stdout);
    assert_eq!(report["mode"], "run");
    assert_eq!(
        task(&report, "gcm-tenant-cache")["items"][0]["status"],
        "done"
    );
    assert!(!sandbox.tenant_cache().exists(), "the cache is deleted");
    assert_eq!(std::fs::read(sandbox.sibling()).unwrap(), b"not ours\n");

    // The person saw the steps on the first run (human output), so the second run is clean.
    let sandbox = Sandbox::seeded();
    let first = sandbox.cmd().args(["run", "--yes"]).output().unwrap();
    assert_eq!(first.status.code(), Some(10));
    let second = sandbox
        .cmd()
        .args(["run", "--yes", "--json"])
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(0), "{}", text(&second.stdout));
    let report = json(&second.stdout);
    assert_eq!(report["outcome"], "nothing-to-do");
    assert_eq!(
        task(&report, "gcm-tenant-cache")["summary"],
        "nothing to do"
    );
    let guidance = &task(&report, "guidance")["items"];
    assert_eq!(
        guidance[0]["status"], "info",
        "remembered, not repeated: {guidance}"
    );

    let before = sandbox.snapshot();
    let undo = sandbox.cmd().arg("undo").output().unwrap();
    assert_eq!(undo.status.code(), Some(0));
    let shown = text(&undo.stdout);
    assert!(shown.contains("nothing reversible was changed"), "{shown}");
    assert!(shown.contains("cannot be restored"), "{shown}");
    assert!(
        !sandbox.tenant_cache().exists(),
        "a deleted cache is not restored"
    );
    assert_eq!(sandbox.snapshot(), before);
    let again = sandbox.cmd().arg("undo").output().unwrap();
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(
        text(&again.stdout),
        "Nothing reversible was changed; there is nothing to undo.\n"
    );
}

#[test]
fn human_plan_output() {
    let sandbox = Sandbox::seeded();
    let out = sandbox.cmd().arg("plan").output().unwrap();
    sandbox
        .insta()
        .bind(|| insta::assert_snapshot!(text(&out.stdout)));
}

#[test]
fn a_second_concurrent_run_exits_3_at_once_and_changes_nothing() {
    let sandbox = Sandbox::seeded();
    let held = RunLock::acquire(&sandbox.paths.data_dir).unwrap();
    let before = sandbox.snapshot();
    for args in [&["run", "--yes"][..], &["plan"], &["undo"]] {
        let out = sandbox.cmd().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        let err = text(&out.stderr);
        assert!(
            err.starts_with("error: another ado-cutover is already running"),
            "{err}"
        );
        assert!(err.contains("hint:"), "{err}");
    }
    assert_eq!(sandbox.snapshot(), before);
    drop(held);
    let out = sandbox.cmd().args(["run", "--yes"]).output().unwrap();
    assert_eq!(out.status.code(), Some(10));
}

#[test]
fn a_bad_config_file_exits_2_naming_file_line_and_fix() {
    let sandbox = Sandbox::seeded();
    sandbox.write_user_config("organizations = [\"contoso\"]\nexpected_tenant = 42\n");
    let before = sandbox.snapshot();
    let out = sandbox.cmd().args(["run", "--yes"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    let file = sandbox.paths.user_config().display().to_string();
    assert!(
        err.starts_with(&format!(
            "error: {file} line 2: `expected_tenant` must be a string"
        )),
        "{err}"
    );
    assert!(err.contains("\nhint: "), "{err}");
    assert!(out.stdout.is_empty());
    assert_eq!(sandbox.snapshot(), before, "nothing changed");

    sandbox.write_user_config("organizations = [\"contoso\"\n");
    let out = sandbox.cmd().arg("plan").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    // An unclosed list is noticed where the file ends.
    assert!(
        text(&out.stderr).contains("line 2: invalid TOML: invalid array; expected `]`\nhint:"),
        "{}",
        text(&out.stderr)
    );

    let out = sandbox
        .cmd()
        .args(["plan", "--config", "missing.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("missing.toml does not exist"));
    assert!(sandbox.tenant_cache().exists());
}

#[test]
fn usage_errors_exit_2() {
    let sandbox = Sandbox::seeded();
    let out = sandbox
        .cmd()
        .args(["plan", "--only", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown task `nope`"));
    let out = sandbox.cmd().arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = sandbox
        .cmd()
        .args(["plan", "--org", "https://dev.azure.com/x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("hint: use the organization's name alone"));
    assert!(sandbox.tenant_cache().exists());
}

#[test]
fn the_managed_file_locks_its_keys() {
    let sandbox = Sandbox::seeded();
    sandbox.write_managed_config("organizations = [\"fabrikam-not-in-cache\"]\n");
    let out = sandbox
        .cmd()
        .args(["plan", "--json", "--org", "contoso"])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(
        err.contains("warning: `organizations` from flag --org is ignored"),
        "{err}"
    );
    let report = json(&out.stdout);
    let item = &task(&report, "gcm-tenant-cache")["items"][0];
    assert_eq!(
        item["status"], "ok",
        "only the locked organizations count: {item}"
    );
    assert_eq!(out.status.code(), Some(0));

    let show = sandbox
        .cmd()
        .args(["config", "show", "--json"])
        .output()
        .unwrap();
    let shown = json(&show.stdout);
    let orgs = &shown["settings"][0];
    assert_eq!(orgs["key"], "organizations");
    assert_eq!(orgs["value"][0], "fabrikam-not-in-cache");
    assert_eq!(orgs["locked"], true);
}

#[test]
fn only_configured_organizations_are_touched() {
    let sandbox = Sandbox::seeded();
    let out = sandbox
        .cmd()
        .args([
            "run",
            "--yes",
            "--json",
            "--org",
            "someone-else",
            "--skip",
            "verify",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        sandbox.tenant_cache().exists(),
        "names no moved organization: left alone"
    );
    let out = sandbox
        .cmd()
        .args([
            "run", "--yes", "--json", "--org", "fabrikam", "--skip", "verify",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(!sandbox.tenant_cache().exists());
}

#[test]
fn config_show_says_where_each_value_comes_from() {
    let sandbox = Sandbox::new();
    sandbox.write_user_config(&format!("expected_tenant = \"{TENANT}\"\n"));
    let out = sandbox
        .cmd()
        .args(["config", "show"])
        .env("ADO_CUTOVER_REPORT_ENDPOINT", "https://reports.example.com")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    sandbox
        .insta()
        .bind(|| insta::assert_snapshot!(text(&out.stdout)));
}

#[test]
fn report_shows_the_last_report() {
    let sandbox = Sandbox::seeded();
    let none = sandbox.cmd().arg("report").output().unwrap();
    assert_eq!(none.status.code(), Some(2));
    assert!(text(&none.stderr).contains("hint: run `ado-cutover plan`"));
    let plan = json(
        &sandbox
            .cmd()
            .args(["plan", "--json"])
            .output()
            .unwrap()
            .stdout,
    );
    let last = sandbox.cmd().args(["report", "--json"]).output().unwrap();
    assert_eq!(last.status.code(), Some(0));
    assert_eq!(json(&last.stdout), plan);
}

#[test]
fn run_without_yes_and_without_a_terminal_changes_nothing() {
    let sandbox = Sandbox::seeded();
    let out = sandbox.cmd().arg("run").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("hint: pass --yes"),
        "{}",
        text(&out.stderr)
    );
    // The plan it shows says what works here, not "Run `ado-cutover run`" (which just failed).
    let shown = text(&out.stdout);
    assert!(shown.contains("ado-cutover run --yes"), "{shown}");
    assert!(!shown.contains("Run `ado-cutover run` to make"), "{shown}");
    assert!(sandbox.tenant_cache().exists());
}

#[test]
fn silent_run_prints_one_line_and_writes_a_log() {
    let sandbox = Sandbox::seeded();
    let out = sandbox.cmd().args(["run", "--silent"]).output().unwrap();
    assert_eq!(out.status.code(), Some(10));
    let line = text(&out.stdout);
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.starts_with(
            "ado-cutover action-needed: 1 changed, 2 for the user, 0 failed, 0 not checked; report "
        ),
        "{line}"
    );
    assert!(!sandbox.tenant_cache().exists());
    let log = std::fs::read_to_string(sandbox.paths.log_dir.join("ado-cutover.log")).unwrap();
    assert!(log.contains("tenant.cache"), "{log}");
    // A silent run shows nothing to a person, so the steps stay open for the dashboard.
    let again = sandbox.cmd().args(["run", "--silent"]).output().unwrap();
    assert_eq!(again.status.code(), Some(10));
}

#[test]
fn a_damaged_cache_is_deleted_and_the_plan_says_so() {
    let sandbox = Sandbox::new();
    let mut bytes =
        ado_cutover::agent::encode_tenant_cache(&[("https://dev.azure.com/contoso/", MSA)]);
    bytes.truncate(bytes.len() / 2);
    sandbox.write(&sandbox.tenant_cache(), &bytes);
    let plan = json(
        &sandbox
            .cmd()
            .args(["plan", "--json"])
            .output()
            .unwrap()
            .stdout,
    );
    let detail = task(&plan, "gcm-tenant-cache")["items"][0]["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(detail.contains("truncated"), "{detail}");
    let out = sandbox.cmd().args(["run", "--yes"]).output().unwrap();
    assert!(out.status.success() || out.status.code() == Some(10));
    assert!(!sandbox.tenant_cache().exists());
}

#[test]
fn credentials_in_a_url_never_reach_output_reports_or_logs() {
    let sandbox = Sandbox::new();
    let secret = "q7w2e4r5t6y7u8i9o0p1a2s3d4f5g6h7j8k9l0z1x2c3v4b5n6m7";
    let url = format!("https://alice:{secret}@dev.azure.com/contoso/");
    sandbox.seed_tenant_cache(&[(url.as_str(), MSA)]);
    let plan = sandbox.cmd().args(["plan", "--json"]).output().unwrap();
    let run = sandbox.cmd().args(["run", "--yes"]).output().unwrap();
    for out in [&plan, &run] {
        assert!(!text(&out.stdout).contains(secret));
        assert!(!text(&out.stderr).contains(secret));
    }
    assert!(text(&plan.stdout).contains("https://alice:***@dev.azure.com/contoso/"));
    sandbox.assert_not_in_agent_files(secret);
}

#[test]
fn installers_write_the_managed_configuration_through_the_agent() {
    let sandbox = Sandbox::new();
    let mut cmd = sandbox.cmd();
    cmd.args([
        "config",
        "write-managed",
        "--endpoint",
        "https://cutover.example.com",
        "--token-stdin",
        "--org",
        "contoso,fabrikam",
        "--tenant",
        "72f988bf-86f1-41af-91ab-2d7cd011db47",
    ]);
    let out = support::output_with_stdin(&mut cmd, "SECRET-ENROLLMENT\n");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let token = sandbox.paths.managed_dir.join("enrollment-token");
    assert_eq!(
        std::fs::read_to_string(&token).unwrap(),
        "SECRET-ENROLLMENT\n"
    );
    let show = sandbox
        .cmd()
        .args(["config", "show", "--json"])
        .output()
        .unwrap();
    let shown = text(&show.stdout);
    assert!(
        shown.contains("https://cutover.example.com") && shown.contains("fabrikam"),
        "{shown}"
    );
    assert!(!shown.contains("SECRET-ENROLLMENT"));

    // A bad value: exit 2 with a hint, and the earlier file stays as it was.
    let before = std::fs::read(sandbox.paths.managed_config()).unwrap();
    let bad = sandbox
        .cmd()
        .args([
            "config",
            "write-managed",
            "--org",
            "https://dev.azure.com/contoso",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("hint: use the organization's name alone"));
    assert_eq!(
        std::fs::read(sandbox.paths.managed_config()).unwrap(),
        before
    );

    // The uninstaller takes both files (and the folder) away; a second run finds nothing.
    let removed = sandbox
        .cmd()
        .args(["config", "remove-managed"])
        .output()
        .unwrap();
    assert_eq!(removed.status.code(), Some(0), "{}", text(&removed.stderr));
    assert!(!token.exists() && !sandbox.paths.managed_config().exists());
    assert!(!sandbox.paths.managed_dir.exists());
    assert!(!text(&removed.stderr).contains("SECRET-ENROLLMENT"));
    let again = sandbox
        .cmd()
        .args(["config", "remove-managed"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert!(
        text(&again.stderr).contains("nothing to remove"),
        "{}",
        text(&again.stderr)
    );
}

/// The report names the person's work account where the machine knows it (here Git Credential
/// Manager's binding), so the dashboard's readiness can match it; after the run cleared the
/// binding, the next report still names it; `user.email` is only a labelled guess.
#[test]
fn reports_name_the_work_account_the_machine_knows() {
    let sandbox = Sandbox::new();
    sandbox.write(
        &sandbox.paths.home.join(".gitconfig"),
        b"[user]\n\temail = alice@home.example\n\
          [credential \"azrepos:org/contoso\"]\n\tusername = Alice@Contoso.com\n",
    );
    let user_of = |args: &[&str]| {
        let out = sandbox.cmd().args(args).output().unwrap();
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (
            report["user"]["upn"].clone(),
            report["user"]["upn_source"].clone(),
        )
    };
    assert_eq!(
        user_of(RUN_CONTOSO),
        (json!("Alice@Contoso.com"), json!("gcm-binding"))
    );
    let gitconfig = std::fs::read_to_string(sandbox.paths.home.join(".gitconfig")).unwrap();
    assert!(
        !gitconfig.contains("Alice@Contoso.com"),
        "the binding was cleared"
    );
    assert_eq!(
        user_of(PLAN_CONTOSO),
        (json!("Alice@Contoso.com"), json!("gcm-binding")),
        "remembered"
    );

    let fresh = Sandbox::new();
    fresh.write(
        &fresh.paths.home.join(".gitconfig"),
        b"[user]\n\temail = alice@home.example\n",
    );
    let out = fresh.cmd().args(PLAN_CONTOSO).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["user"]["upn"], json!("alice@home.example"));
    assert_eq!(report["user"]["upn_source"], json!("git-user-email"));
}

/// Links planted among the agent's own files (the pid file, the journal, the log) are never
/// written through: `plan` changes nothing outside, and `run` does not journal through a link,
/// so it changes nothing it could not journal.
#[cfg(unix)] // symbolic links need an administrator or developer mode on Windows
#[test]
fn links_among_the_agent_s_own_files_are_never_followed() {
    let sandbox = Sandbox::seeded();
    let outside = sandbox.root.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let data = &sandbox.paths.data_dir;
    std::fs::create_dir_all(data).unwrap();
    std::fs::create_dir_all(&sandbox.paths.log_dir).unwrap();
    let plant = |link: std::path::PathBuf, name: &str| {
        let target = outside.join(name);
        std::fs::write(&target, b"keep\n").unwrap();
        std::os::unix::fs::symlink(&target, link).unwrap();
        target
    };
    let targets = [
        plant(data.join("run.pid"), "pid"),
        plant(data.join("journal.jsonl"), "journal"),
        plant(sandbox.paths.log_dir.join("ado-cutover.log"), "log"),
    ];
    let plan = sandbox.cmd().args(["plan"]).output().unwrap();
    assert_eq!(plan.status.code(), Some(10), "{}", text(&plan.stderr));
    let run = sandbox
        .cmd()
        .args(["run", "--yes", "--json"])
        .output()
        .unwrap();
    for target in &targets {
        assert_eq!(
            std::fs::read(target).unwrap(),
            b"keep\n",
            "{} was written through a link",
            target.display()
        );
    }
    let report = json(&run.stdout);
    assert_eq!(
        task(&report, "gcm-tenant-cache")["items"][0]["status"],
        "failed",
        "a change that cannot be journaled is not made"
    );
    assert!(sandbox.tenant_cache().exists());
    assert!(
        text(&run.stderr).contains("symbolic link"),
        "{}",
        text(&run.stderr)
    );
}

/// A damaged `tenant.cache` of gigabytes (sparse: it takes no disk) is not read into memory:
/// the plan says it is too large to read and what to do.
#[test]
fn a_huge_tenant_cache_is_not_read() {
    let sandbox = Sandbox::new();
    let cache = sandbox.tenant_cache();
    std::fs::create_dir_all(cache.parent().unwrap()).unwrap();
    std::fs::File::create(&cache)
        .unwrap()
        .set_len(2 * 1024 * 1024 * 1024)
        .unwrap();
    let plan = sandbox
        .cmd()
        .args(["plan", "--json", "--only", "gcm-tenant-cache"])
        .output()
        .unwrap();
    let report = json(&plan.stdout);
    let item = &task(&report, "gcm-tenant-cache")["items"][0];
    assert!(
        item["detail"]
            .as_str()
            .unwrap()
            .contains("larger than 16 MiB"),
        "{item:#}"
    );
}
