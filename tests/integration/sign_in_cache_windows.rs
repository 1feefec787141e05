//! The shared Microsoft sign-in cache as Windows keeps it: `%LocalAppData%\.IdentityService\msal.cache`,
//! protected with DPAPI for the current user. The cache is `fixtures/msal_cache.json`, written by
//! Microsoft's msal for Python (`support/msal_cache.py write`, accounts of the old tenant, the new
//! one and a partner's), protected here with the Windows API as MSAL's extensions protect it.
//! Runs under Wine (the platform check), whose DPAPI is the one the agent calls.
#![cfg(windows)]
// DPAPI is reached through unsafe FFI.
#![allow(unsafe_code)]

use crate::support;

use serde_json::Value;
use support::{Sandbox, TENANT, task_items, text};
use windows_sys::Win32::Foundation::LocalFree;
use windows_sys::Win32::Security::Cryptography::{
    CRYPT_INTEGER_BLOB, CryptProtectData, CryptUnprotectData,
};

const OLD: &str = "11111111-1111-1111-1111-111111111111";
const FIXTURE: &str = include_str!("fixtures/msal_cache.json");

fn dpapi(data: &[u8], protect: bool) -> Vec<u8> {
    let input = CRYPT_INTEGER_BLOB {
        cbData: data.len() as u32,
        pbData: data.as_ptr().cast_mut(),
    };
    let mut output = CRYPT_INTEGER_BLOB::default();
    let ok = unsafe {
        if protect {
            CryptProtectData(
                &input,
                std::ptr::null(),
                std::ptr::null(),
                std::ptr::null(),
                std::ptr::null(),
                0,
                &mut output,
            )
        } else {
            CryptUnprotectData(
                &input,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
                std::ptr::null(),
                0,
                &mut output,
            )
        }
    };
    assert_ne!(ok, 0, "DPAPI failed: {}", std::io::Error::last_os_error());
    let bytes =
        unsafe { std::slice::from_raw_parts(output.pbData, output.cbData as usize) }.to_vec();
    unsafe { LocalFree(output.pbData.cast()) };
    bytes
}

#[test]
fn the_protected_cache_loses_the_old_tenant_s_account_and_stays_protected() {
    let sandbox = Sandbox::new();
    sandbox.seed_tenant_cache(&[("https://dev.azure.com/contoso", OLD)]);
    sandbox.write_managed_config(&format!(
        "organizations = [\"contoso\"]\nexpected_tenant = \"{TENANT}\"\nwait_for_switch = false\n"
    ));
    let cache = sandbox
        .paths
        .local_data
        .join(".IdentityService")
        .join("msal.cache");
    sandbox.write(&cache, &dpapi(FIXTURE.as_bytes(), true));

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
    let items: Vec<Value> = task_items(&report, "credentials")
        .into_iter()
        .filter(|i| i["kind"] == "msal-cache")
        .collect();
    assert_eq!(items.len(), 1, "{items:#?}");
    assert_eq!(items[0]["status"], "done");

    let sealed = std::fs::read(&cache).unwrap();
    assert!(
        serde_json::from_slice::<Value>(&sealed).is_err(),
        "written back protected, not as plain JSON"
    );
    let after: Value = serde_json::from_slice(&dpapi(&sealed, false)).unwrap();
    let before: Value = serde_json::from_str(FIXTURE).unwrap();
    let users: Vec<String> = after["Account"]
        .as_object()
        .unwrap()
        .values()
        .map(|a| a["home_account_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(users.len(), 2, "{users:?}");
    assert!(users.iter().all(|u| !u.ends_with(OLD)), "{users:?}");
    // Every kept entry is as msal wrote it.
    for (section, entries) in after.as_object().unwrap() {
        for (key, entry) in entries.as_object().unwrap() {
            assert_eq!(&before[section][key], entry, "{section} {key}");
        }
    }
    let secrets: Vec<&str> = ["AccessToken", "RefreshToken"]
        .iter()
        .flat_map(|s| after[s].as_object().unwrap().values())
        .map(|t| t["secret"].as_str().unwrap())
        .collect();
    assert!(
        !secrets.iter().any(|s| s.ends_with("OLDHOME")),
        "{secrets:?}"
    );
    assert_eq!(secrets.len(), 4);
    for secret in ["AT-OLDHOME", "RT-NEWHOME"] {
        assert!(!text(&run.stdout).contains(secret));
        sandbox.assert_not_in_agent_files(secret);
    }
}
