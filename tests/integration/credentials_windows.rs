//! Task `credentials` on the real Windows Credential Manager, seeded with the Windows API the way
//! Git Credential Manager and git's wincred helper write it. It runs only under Wine (the
//! platform check), whose credential store lives in a throwaway prefix: a test must never touch
//! a real machine's Credential Manager.
#![cfg(windows)]
// The Windows API that seeds Credential Manager is unsafe to call.
#![allow(unsafe_code)]

use crate::support;

use serde_json::Value;
use support::wine::under_wine;
use support::{Sandbox, task_items, text};
use windows_sys::Win32::Security::Credentials::{
    CRED_PERSIST_LOCAL_MACHINE, CRED_TYPE_GENERIC, CREDENTIALW, CredDeleteW, CredFree, CredReadW,
    CredWriteW,
};

/// (target, user, secret, stays?)
const ITEMS: &[(&str, &str, &str, bool)] = &[
    (
        "git:https://dev.azure.com/contoso",
        "alice@contoso.com",
        "SECRET-WIN-1",
        false,
    ),
    (
        "git:https://alice_contoso.com@dev.azure.com/contoso",
        "alice@contoso.com",
        "SECRET-WIN-2",
        false,
    ),
    (
        "git:https://contoso.visualstudio.com",
        "alice@contoso.com",
        "SECRET-WIN-3",
        false,
    ),
    (
        "git:https://contoso@dev.azure.com",
        "contoso",
        "SECRET-WIN-4",
        false,
    ),
    (
        "git:https://dev.azure.com/fabrikam",
        "alice@contoso.com",
        "SECRET-WIN-5",
        true,
    ),
    ("git:https://github.com", "alice", "SECRET-WIN-6", true),
    (
        "git:https://dev.azure.com.evil.example/contoso",
        "alice",
        "SECRET-WIN-7",
        true,
    ),
    (
        "git:https://dev.azure.com",
        "alice@contoso.com",
        "SECRET-WIN-8",
        true,
    ),
    (
        "MicrosoftAccount:user=alice@contoso.com",
        "alice@contoso.com",
        "SECRET-WIN-9",
        true,
    ),
];

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain([0]).collect()
}

fn write(target: &str, user: &str, secret: &str) {
    let mut target = wide(target);
    let mut user = wide(user);
    let mut blob = secret.as_bytes().to_vec();
    let credential = CREDENTIALW {
        Flags: 0,
        Type: CRED_TYPE_GENERIC,
        TargetName: target.as_mut_ptr(),
        Comment: std::ptr::null_mut(),
        LastWritten: unsafe { std::mem::zeroed() },
        CredentialBlobSize: blob.len() as u32,
        CredentialBlob: blob.as_mut_ptr(),
        Persist: CRED_PERSIST_LOCAL_MACHINE,
        AttributeCount: 0,
        Attributes: std::ptr::null_mut(),
        TargetAlias: std::ptr::null_mut(),
        UserName: user.as_mut_ptr(),
    };
    assert_ne!(
        unsafe { CredWriteW(&credential, 0) },
        0,
        "CredWriteW failed"
    );
}

/// The secret stored under `target`, if the credential exists.
fn read(target: &str) -> Option<String> {
    let target = wide(target);
    let mut found: *mut CREDENTIALW = std::ptr::null_mut();
    if unsafe { CredReadW(target.as_ptr(), CRED_TYPE_GENERIC, 0, &mut found) } == 0 {
        return None;
    }
    let secret = unsafe {
        let c = &*found;
        String::from_utf8_lossy(std::slice::from_raw_parts(
            c.CredentialBlob,
            c.CredentialBlobSize as usize,
        ))
        .into_owned()
    };
    unsafe { CredFree(found.cast()) };
    Some(secret)
}

fn clean() {
    for (target, ..) in ITEMS {
        unsafe { CredDeleteW(wide(target).as_ptr(), CRED_TYPE_GENERIC, 0) };
    }
}

#[test]
#[cfg_attr(
    not(wine),
    ignore = "writes to the Windows Credential Manager: runs only under Wine (the platform check), never on a real machine"
)]
fn exactly_the_moved_organizations_credentials_leave_credential_manager() {
    assert!(
        under_wine(),
        "built for Wine (cfg(wine)) but not running under it: refusing to touch this machine's Credential Manager"
    );
    clean();
    for (target, user, secret, _) in ITEMS {
        write(target, user, secret);
    }
    let sandbox = Sandbox::new();
    let agent = |args: &[&str]| {
        let mut cmd = sandbox.cmd();
        cmd.env(ado_cutover::agent::SANDBOX_OPT_IN, "1");
        cmd.args(args).output().unwrap()
    };
    let args = ["--only", "credentials", "--org", "contoso"];

    let plan = agent(&[&["plan", "--json"][..], &args].concat());
    for (target, _, secret, _) in ITEMS {
        assert_eq!(
            read(target).as_deref(),
            Some(*secret),
            "plan changed {target}"
        );
    }
    let report: Value =
        serde_json::from_slice(&plan.stdout).unwrap_or_else(|_| panic!("{}", text(&plan.stderr)));
    let items = task_items(&report, "credentials");
    let planned: Vec<&str> = items
        .iter()
        .filter(|i| i["status"] == "planned")
        .map(|i| i["target"].as_str().unwrap())
        .collect();
    assert_eq!(planned.len(), 4, "{items:#?}");
    let needs_user: Vec<&Value> = items
        .iter()
        .filter(|i| i["status"] == "needs-user")
        .collect();
    assert_eq!(needs_user.len(), 1, "{items:#?}");
    assert!(
        needs_user[0]["target"]
            .as_str()
            .unwrap()
            .starts_with("git:https://dev.azure.com (")
    );

    let run = agent(&[&["run", "--yes", "--silent"][..], &args].concat());
    assert_eq!(run.status.code(), Some(10), "{}", text(&run.stdout));
    for (target, _, secret, stays) in ITEMS {
        let want = stays.then_some(*secret);
        assert_eq!(read(target).as_deref(), want, "{target}");
    }
    for (_, _, secret, _) in ITEMS {
        for out in [&plan, &run] {
            assert!(!text(&out.stdout).contains(secret) && !text(&out.stderr).contains(secret));
        }
        sandbox.assert_not_in_agent_files(secret);
    }
    clean();
}
