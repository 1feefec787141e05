//! The shared Microsoft sign-in cache (MSAL's `.IdentityService/msal.cache`), written by
//! Microsoft's own `msal` and `msal-extensions` (`.ci/test-python.sh`) with accounts of several
//! tenants: only the old identity's sign-ins leave it, every other entry stays as it was, and
//! MSAL still reads the cache afterwards.
//!
//! Unix only: the cache is made by Python's msal in a virtual environment the Windows build
//! here cannot run (the Windows cache is DPAPI-protected; `platform::windows` tests DPAPI under
//! Wine).
#![cfg(unix)]

use crate::support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use support::fake_cloud::FakeCloud;
use support::{Sandbox, TENANT, task_items, text};

const OLD: &str = "11111111-1111-1111-1111-111111111111";
const PARTNER: &str = "33333333-3333-3333-3333-333333333333";
const CONSUMERS: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// The virtual environment `.ci/test-python.sh` makes.
fn python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-python/bin/python");
    assert!(
        python.is_file(),
        "this test needs Microsoft's msal for Python\nhint: run `bash .ci/test-python.sh` once"
    );
    python
}

fn helper(args: &[&str]) -> String {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/support/msal_cache.py");
    let out = Command::new(python())
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// The shared cache's path in `sandbox`, written by msal with these sign-ins.
fn write_cache(sandbox: &Sandbox, sign_ins: &Value) -> PathBuf {
    let cache = sandbox
        .paths
        .home
        .join(".local/.IdentityService/msal.cache");
    write_cache_at(sandbox, &cache, sign_ins);
    cache
}

/// Writes an MSAL cache at `cache` with msal.
fn write_cache_at(sandbox: &Sandbox, cache: &Path, sign_ins: &Value) {
    std::fs::create_dir_all(cache.parent().unwrap()).unwrap();
    let spec = sandbox.root.path().join("spec.json");
    std::fs::write(&spec, sign_ins.to_string()).unwrap();
    helper(&["write", cache.to_str().unwrap(), spec.to_str().unwrap()]);
}

/// The cache as MSAL reads it: its accounts and its token secrets.
fn read_cache(cache: &Path) -> (BTreeSet<Vec<String>>, BTreeSet<String>) {
    let read: Value = serde_json::from_str(&helper(&["read", cache.to_str().unwrap()])).unwrap();
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    (
        read["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(strings)
            .collect(),
        strings(&read["secrets"]).into_iter().collect(),
    )
}

/// contoso moved from OLD (GCM's tenant cache names it) to TENANT, acted on without waiting.
fn moved_from_old_tenant(sandbox: &Sandbox) {
    sandbox.seed_tenant_cache(&[("https://dev.azure.com/contoso", OLD)]);
    sandbox.write_managed_config(&format!(
        "organizations = [\"contoso\"]\nexpected_tenant = \"{TENANT}\"\nwait_for_switch = false\n"
    ));
}

fn sign_in(oid: &str, tid: &str, realm: &str, username: &str, secret: &str) -> Value {
    json!({"oid": oid, "tid": tid, "realm": realm, "username": username, "secret": secret})
}

/// Every entry of `after` is the entry of `before` under the same key, unchanged, and exactly
/// `gone` entries are missing.
fn assert_kept_as_they_were(before: &Value, after: &Value, gone: usize) {
    let mut missing = 0;
    for (section, entries) in before.as_object().unwrap() {
        for (key, entry) in entries.as_object().unwrap() {
            match after[section].get(key) {
                Some(kept) => assert_eq!(kept, entry, "{section} {key} changed"),
                None => missing += 1,
            }
        }
        assert!(
            after[section]
                .as_object()
                .unwrap()
                .keys()
                .all(|k| entries.get(k).is_some()),
            "nothing is added to {section}"
        );
    }
    assert_eq!(missing, gone);
}

fn cache_items(report: &Value) -> Vec<Value> {
    task_items(report, "credentials")
        .into_iter()
        .filter(|i| i["kind"] == "msal-cache")
        .collect()
}

#[test]
fn the_old_tenant_s_sign_ins_leave_the_shared_cache_and_every_other_account_stays() {
    let sandbox = Sandbox::new();
    // GCM for Windows remembered contoso's old tenant; contoso moves to TENANT.
    moved_from_old_tenant(&sandbox);
    let cache = write_cache(
        &sandbox,
        &json!([
            sign_in("a-old", OLD, OLD, "alice@contoso.com", "OLDHOME"),
            sign_in("a-new", TENANT, TENANT, "alice@contoso.com", "NEWHOME"),
            sign_in("a-new", TENANT, OLD, "alice@contoso.com", "NEWGUEST"),
            sign_in("b", PARTNER, PARTNER, "bob@partner.example", "PARTNERHOME"),
            sign_in("b", PARTNER, OLD, "bob@partner.example", "PARTNERGUEST"),
            sign_in("p", CONSUMERS, CONSUMERS, "alice@outlook.com", "PERSONAL"),
        ]),
    );
    let before: Value = serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
    let (accounts_before, secrets_before) = read_cache(&cache);

    let plan = sandbox
        .cmd()
        .args(["plan", "--json", "--only", "gcm-tenant-cache,credentials"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&plan.stdout).unwrap();
    let planned = cache_items(&report);
    assert_eq!(planned.len(), 1, "{planned:#?}");
    assert_eq!(planned[0]["status"], "planned");
    let detail = planned[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("alice@contoso.com (old tenant")
            && detail.contains("bob@partner.example's sign-in to the old tenant"),
        "{detail}"
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&std::fs::read(&cache).unwrap()).unwrap(),
        before,
        "plan changes nothing"
    );

    let run = sandbox
        .cmd()
        .args([
            "run",
            "--yes",
            "--json",
            "--only",
            "gcm-tenant-cache,credentials",
        ])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stdout));
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(cache_items(&report)[0]["status"], "done");

    // MSAL still reads it: the old home account and bob's sign-in to the old tenant are gone,
    // the new account (also its guest sign-in there), bob's home and the personal account stay.
    let (accounts, secrets) = read_cache(&cache);
    let gone_accounts: BTreeSet<Vec<String>> = [
        ["alice@contoso.com", &format!("a-old.{OLD}"), OLD],
        ["bob@partner.example", &format!("b.{PARTNER}"), OLD],
    ]
    .iter()
    .map(|a| a.iter().map(|s| s.to_string()).collect())
    .collect();
    assert!(gone_accounts.is_subset(&accounts_before));
    assert_eq!(
        accounts,
        accounts_before
            .difference(&gone_accounts)
            .cloned()
            .collect()
    );
    let gone_secrets: BTreeSet<String> = ["AT-OLDHOME", "RT-OLDHOME", "AT-PARTNERGUEST"]
        .map(String::from)
        .into();
    assert!(gone_secrets.is_subset(&secrets_before));
    assert_eq!(
        secrets,
        secrets_before.difference(&gone_secrets).cloned().collect()
    );
    // Every other entry is exactly as MSAL wrote it: accounts, tokens, ID tokens and metadata
    // (two accounts, two access tokens, a refresh token and two ID tokens went).
    let after: Value = serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
    assert_kept_as_they_were(&before, &after, 7);
    assert!(!cache.with_file_name("msal.cache.lockfile").exists());

    // No token reached the output or the agent's files.
    for secret in &secrets_before {
        assert!(!text(&run.stdout).contains(secret.as_str()), "{secret}");
        sandbox.assert_not_in_agent_files(secret);
    }
    // A second run finds nothing more to take.
    let again = sandbox
        .cmd()
        .args(["plan", "--json", "--only", "credentials"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert!(cache_items(&report).is_empty(), "{report:#}");
}

/// contoso configured to move to TENANT, and the fake Azure DevOps showing it on `backing`
/// (a tenant id, or `msa`) for now.
fn waiting_for_the_switch(sandbox: &Sandbox, backing: &str) -> FakeCloud {
    sandbox.write_managed_config(&format!(
        "organizations = [\"contoso\"]\nexpected_tenant = \"{TENANT}\"\n"
    ));
    let cloud = FakeCloud::start();
    move_contoso(&cloud, backing);
    cloud
}

/// The fake Azure DevOps shows contoso on `backing` from now on.
fn move_contoso(cloud: &FakeCloud, backing: &str) {
    cloud
        .state
        .lock()
        .unwrap()
        .tenants
        .insert("contoso".into(), backing.into());
}

/// `run --yes --json --only <only>` against the fake cloud.
fn run_with(sandbox: &Sandbox, cloud: &FakeCloud, only: &str) -> (Option<i32>, Value, String) {
    let mut cmd = sandbox.cmd();
    cmd.args(["run", "--yes", "--json", "--only", only]);
    for (k, v) in cloud.env() {
        cmd.env(k, v);
    }
    support::json_run(&mut cmd)
}

#[test]
fn a_run_before_the_switch_remembers_the_old_tenant_and_the_run_after_it_cleans_with_it() {
    let sandbox = Sandbox::new();
    let cloud = waiting_for_the_switch(&sandbox, OLD);
    let cache = write_cache(
        &sandbox,
        &json!([
            sign_in("a-old", OLD, OLD, "alice@contoso.com", "OLDHOME"),
            sign_in("p", CONSUMERS, CONSUMERS, "alice@contoso.com", "PERSONAL"),
        ]),
    );
    let before = std::fs::read(&cache).unwrap();
    let (code, _, stdout) = run_with(&sandbox, &cloud, "credentials");
    assert_eq!(code, Some(12), "contoso still waits: {stdout}");
    assert_eq!(std::fs::read(&cache).unwrap(), before, "nothing changed");

    // Switch day: contoso is on the new tenant, and nothing on this machine names the old one.
    move_contoso(&cloud, TENANT);
    let (code, report, stdout) = run_with(&sandbox, &cloud, "credentials");
    assert_eq!(code, Some(0), "{stdout}");
    let items = cache_items(&report);
    assert_eq!(items.len(), 1, "{items:#?}");
    assert_eq!(items[0]["status"], "done");
    let (accounts, secrets) = read_cache(&cache);
    assert_eq!(
        accounts
            .into_iter()
            .map(|a| a[0].clone())
            .collect::<Vec<_>>(),
        ["alice@contoso.com"],
        "the personal account stays: contoso never used personal accounts"
    );
    assert_eq!(
        secrets,
        ["AT-PERSONAL", "RT-PERSONAL"].map(String::from).into()
    );
}

/// On Linux with a keyring, MSAL keeps the shared cache in a Secret Service item (schema
/// `msal.cache`) beside a marker file: MSAL for .NET (Git Credential Manager, Visual Studio)
/// stores the JSON base64-encoded, MSAL for Python as it is. The item's secret is rewritten in
/// place in the form it had, the item itself (attributes, label) stays, and the marker is not
/// mistaken for a cache.
#[cfg(target_os = "linux")]
#[test]
fn the_cache_in_the_secret_service_is_rewritten_in_place_in_its_own_form() {
    use base64::Engine as _;
    let base64 = base64::engine::general_purpose::STANDARD;
    let keyring = support::keyring::Keyring::start();
    let attributes = [
        ("MsalClientID", "Microsoft.Developer.IdentityService"),
        ("Microsoft.Developer.IdentityService", "1.0.0.0"),
    ];
    for encoded in [true, false] {
        let sandbox = Sandbox::new();
        moved_from_old_tenant(&sandbox);
        // msal writes the cache; its JSON goes into the keyring as MSAL keeps it there.
        let written = write_cache(
            &sandbox,
            &json!([
                sign_in("a-old", OLD, OLD, "alice@contoso.com", "OLDHOME"),
                sign_in("a-new", TENANT, TENANT, "alice@contoso.com", "NEWHOME"),
            ]),
        );
        let json = std::fs::read_to_string(&written).unwrap();
        std::fs::write(&written, b"").unwrap();
        let secret = if encoded { base64.encode(&json) } else { json };
        keyring.store("msal.cache", "MSALCache", &attributes, &secret);

        let mut cmd = sandbox.cmd();
        keyring.apply(&mut cmd);
        let run = cmd
            .args([
                "run",
                "--yes",
                "--json",
                "--only",
                "gcm-tenant-cache,credentials",
            ])
            .output()
            .unwrap();
        assert_eq!(run.status.code(), Some(0), "{}", text(&run.stdout));
        let report: Value = serde_json::from_slice(&run.stdout).unwrap();
        let items = cache_items(&report);
        assert_eq!(items.len(), 1, "the marker is no second cache: {items:#?}");
        assert_eq!(items[0]["status"], "done");

        assert_eq!(keyring.count("msal.cache"), 1, "the item stays");
        let kept = keyring.lookup(&attributes).expect("the item's secret");
        let kept = if encoded {
            let decoded = base64.decode(kept.trim()).expect("still base64");
            String::from_utf8(decoded).unwrap()
        } else {
            assert!(kept.starts_with('{'), "still plain JSON");
            kept
        };
        let check = sandbox.root.path().join("kept.json");
        std::fs::write(&check, &kept).unwrap();
        let (accounts, secrets) = read_cache(&check);
        assert_eq!(
            accounts
                .into_iter()
                .map(|a| a[1].clone())
                .collect::<Vec<_>>(),
            [format!("a-new.{TENANT}")]
        );
        assert_eq!(
            secrets,
            ["AT-NEWHOME", "RT-NEWHOME"].map(String::from).into()
        );
        assert_eq!(
            std::fs::read(&written).unwrap(),
            b"",
            "the marker is left as it was"
        );
        for secret in ["AT-OLDHOME", "RT-OLDHOME", "AT-NEWHOME"] {
            assert!(!text(&run.stdout).contains(secret));
            sandbox.assert_not_in_agent_files(secret);
        }
    }
}

/// The Azure CLI keeps its own sign-ins in an MSAL cache beside the subscriptions it lists per
/// account (`azureProfile.json`): the old identity's account is named with the commands that
/// replace it, and the files are left as they are.
#[test]
fn the_azure_cli_signed_in_as_the_old_identity_gets_the_commands_that_replace_it() {
    let sandbox = Sandbox::new();
    moved_from_old_tenant(&sandbox);
    let cache = sandbox.paths.home.join(".azure/msal_token_cache.json");
    write_cache_at(
        &sandbox,
        &cache,
        &json!([
            sign_in("a-old", OLD, OLD, "alice@contoso.com", "OLDHOME"),
            sign_in("b", PARTNER, PARTNER, "bob@partner.example", "PARTNERHOME"),
        ]),
    );
    let before = std::fs::read(&cache).unwrap();
    let run = sandbox
        .cmd()
        .args([
            "run",
            "--yes",
            "--json",
            "--only",
            "gcm-tenant-cache,credentials",
        ])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    let steps: Vec<Value> = task_items(&report, "credentials")
        .into_iter()
        .filter(|i| i["kind"] == "azure-cli-sign-in")
        .collect();
    assert_eq!(steps.len(), 1, "{steps:#?}");
    assert_eq!(steps[0]["status"], "needs-user");
    let detail = steps[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("az logout --username alice@contoso.com")
            && detail.contains(&format!(
                "az login --tenant {TENANT} --allow-no-subscription"
            ))
            && !detail.contains("bob@"),
        "{detail}"
    );
    assert_eq!(
        std::fs::read(&cache).unwrap(),
        before,
        "reported, not changed"
    );
    assert!(!text(&run.stdout).contains("AT-OLDHOME"));
}

/// An organization on personal Microsoft accounts until the switch: the waiting run remembers
/// that, and the run after it takes the personal account with the work e-mail's domain from the
/// cache (the domain of the new tenant's account there), keeps another personal account, and
/// does not tell the person they used the organization with a personal account (nothing here
/// says they did).
#[test]
fn an_organization_that_was_on_personal_accounts_takes_the_work_domain_personal_account() {
    let sandbox = Sandbox::new();
    let cloud = waiting_for_the_switch(&sandbox, "msa");
    let cache = write_cache(
        &sandbox,
        &json!([
            sign_in("p1", CONSUMERS, CONSUMERS, "alice@contoso.com", "WORKMAIL"),
            sign_in("p2", CONSUMERS, CONSUMERS, "alice@outlook.com", "OWNMAIL"),
            sign_in("a-new", TENANT, TENANT, "alice@contoso.com", "NEWHOME"),
        ]),
    );
    let (code, _, stdout) = run_with(&sandbox, &cloud, "credentials");
    assert_eq!(code, Some(12), "contoso still waits: {stdout}");
    move_contoso(&cloud, TENANT);
    let (code, report, stdout) = run_with(&sandbox, &cloud, "credentials,guidance");
    assert!(matches!(code, Some(0) | Some(10)), "{stdout}");
    let (accounts, secrets) = read_cache(&cache);
    let homes: Vec<String> = accounts.into_iter().map(|a| a[1].clone()).collect();
    assert_eq!(
        homes,
        [format!("a-new.{TENANT}"), format!("p2.{CONSUMERS}")],
        "the work-domain personal account went, the other stayed"
    );
    assert!(!secrets.contains("AT-WORKMAIL") && secrets.contains("AT-OWNMAIL"));
    let steps: Vec<Value> = task_items(&report, "guidance");
    assert!(
        steps
            .iter()
            .all(|s| s["target"] != "rename-personal-account"),
        "{steps:#?}"
    );
}
