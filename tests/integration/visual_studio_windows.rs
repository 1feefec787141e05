//! Task `credentials` on Visual Studio's registry sign-in tokens, seeded with the Windows API as
//! Visual Studio writes them (`Url`, `Type`, `Token` under `...\VssApp\<id>`). Runs only under
//! Wine (the platform check), whose registry lives in a throwaway prefix.
#![cfg(windows)]
// The registry is reached through unsafe FFI.
#![allow(unsafe_code)]

use crate::support;

use serde_json::Value;
use support::wine::under_wine;
use support::{Sandbox, task_items, text};
use windows_sys::Win32::System::Registry::{
    HKEY_CURRENT_USER, REG_SZ, RRF_RT_REG_SZ, RegDeleteTreeW, RegGetValueW, RegSetKeyValueW,
};

const APP: &str =
    r"Software\Microsoft\VSCommon\14.0\ClientServices\TokenStorage\VisualStudio\VssApp";

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain([0]).collect()
}

fn set(key: &str, name: &str, value: &str) {
    let (key, name, value) = (wide(key), wide(name), wide(value));
    let status = unsafe {
        RegSetKeyValueW(
            HKEY_CURRENT_USER,
            key.as_ptr(),
            name.as_ptr(),
            REG_SZ,
            value.as_ptr().cast(),
            (value.len() * 2) as u32,
        )
    };
    assert_eq!(status, 0, "RegSetKeyValueW");
}

fn get(key: &str, name: &str) -> Option<String> {
    let (key, name) = (wide(key), wide(name));
    let mut buf = vec![0u16; 1024];
    let mut len = (buf.len() * 2) as u32;
    let status = unsafe {
        RegGetValueW(
            HKEY_CURRENT_USER,
            key.as_ptr(),
            name.as_ptr(),
            RRF_RT_REG_SZ,
            std::ptr::null_mut(),
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    (status == 0).then(|| {
        buf.truncate(len as usize / 2);
        String::from_utf16_lossy(&buf)
            .trim_end_matches('\0')
            .to_string()
    })
}

fn seed(name: &str, url: &str, token: &str) {
    let key = format!(r"{APP}\{name}");
    set(&key, "Url", url);
    set(&key, "Type", "Federated");
    set(&key, "Token", token);
}

fn clear() {
    for key in [r"Software\Microsoft\VSCommon", r"Software\ado-cutover"] {
        let key = wide(key);
        unsafe { RegDeleteTreeW(HKEY_CURRENT_USER, key.as_ptr()) };
    }
}

#[test]
#[cfg_attr(
    not(wine),
    ignore = "writes to the Windows registry: runs only under Wine (the platform check), never on a real machine"
)]
fn the_moved_organization_s_token_is_reported_then_moved_aside_and_undo_puts_it_back() {
    assert!(
        under_wine(),
        "built for Wine (cfg(wine)) but not running under it: refusing to touch this machine's registry"
    );
    clear();
    seed(
        "contoso-key",
        "https://contoso.visualstudio.com/",
        "VSTOKEN-CONTOSO",
    );
    seed(
        "fabrikam-key",
        "https://dev.azure.com/fabrikam/",
        "VSTOKEN-FABRIKAM",
    );
    let sandbox = Sandbox::new();
    let args = [
        "run",
        "--yes",
        "--json",
        "--only",
        "credentials",
        "--org",
        "contoso",
    ];
    let items = |out: &std::process::Output| -> Vec<Value> {
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        task_items(&report, "credentials")
            .into_iter()
            .filter(|i| i["kind"] == "visual-studio-token")
            .collect()
    };

    // By default: the command, and nothing changed.
    // In a sandbox the agent reads the registry only when told it is a throwaway one.
    let agent = |args: &[&str]| {
        let mut cmd = sandbox.cmd();
        cmd.env(ado_cutover::agent::SANDBOX_OPT_IN, "1");
        cmd.args(args).output().unwrap()
    };
    let run = agent(&args);
    let found = items(&run);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["status"], "needs-user");
    assert!(found[0]["detail"].as_str().unwrap().contains("reg delete"));
    assert_eq!(
        get(&format!(r"{APP}\contoso-key"), "Url").as_deref(),
        Some("https://contoso.visualstudio.com/")
    );

    // The admin's choice: moved aside whole; fabrikam's stays.
    sandbox.write_managed_config("[credentials]\nclear_visual_studio_tokens = true\n");
    let run = agent(&args);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stdout));
    assert_eq!(items(&run)[0]["status"], "done", "{}", text(&run.stdout));
    assert_eq!(get(&format!(r"{APP}\contoso-key"), "Url"), None);
    let backup = r"Software\ado-cutover\Backup\VSCommon-14.0-VssApp\contoso-key";
    assert_eq!(get(backup, "Token").as_deref(), Some("VSTOKEN-CONTOSO"));
    assert_eq!(
        get(&format!(r"{APP}\fabrikam-key"), "Token").as_deref(),
        Some("VSTOKEN-FABRIKAM")
    );
    for secret in ["VSTOKEN-CONTOSO", "VSTOKEN-FABRIKAM"] {
        assert!(!text(&run.stdout).contains(secret));
        sandbox.assert_not_in_agent_files(secret);
    }

    // undo moves it back, every value as it was.
    let undo = agent(&["undo"]);
    assert_eq!(undo.status.code(), Some(0), "{}", text(&undo.stdout));
    let key = format!(r"{APP}\contoso-key");
    assert_eq!(
        get(&key, "Url").as_deref(),
        Some("https://contoso.visualstudio.com/")
    );
    assert_eq!(get(&key, "Type").as_deref(), Some("Federated"));
    assert_eq!(get(&key, "Token").as_deref(), Some("VSTOKEN-CONTOSO"));
    assert_eq!(get(backup, "Token"), None);
    clear();
}
