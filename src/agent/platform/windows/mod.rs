//! Windows: `%LocalAppData%`, `%ProgramData%\ado-cutover`, the registry MachineGuid, and the
//! console-process check that tells a double-click from a shell.
// The Windows API (GetUserNameExW, the console and registry calls) is reached through
// unsafe FFI: this module is the only place the crate allows it.
#![allow(unsafe_code)]

use std::path::{Path, PathBuf};

mod acl;
mod desktop;

pub(crate) use acl::restrict_to_owner;
pub(crate) use desktop::{copy, open_url};

use super::AppDirs;
use crate::agent::env::Env;
use crate::agent::paths::{APP_DIR, Bases};

/// `AppData\Local` and `AppData\Roaming` under the profile folder.
pub(crate) fn bases_under_home(home: &Path) -> Bases {
    let local = home.join("AppData").join("Local");
    Bases {
        home: home.to_path_buf(),
        local_data: local.clone(),
        config_home: home.join("AppData").join("Roaming"),
        state_home: local,
    }
}

/// Data in `%LocalAppData%\ado-cutover`, logs in `%LocalAppData%\ado-cutover\logs`.
pub(crate) fn app_dirs(bases: &Bases) -> AppDirs {
    let data = bases.local_data.join(APP_DIR);
    AppDirs {
        logs: data.join("logs"),
        data,
    }
}

/// `%ProgramData%\ado-cutover`.
pub(crate) fn managed_dir(env: &Env) -> PathBuf {
    env.get_os("ProgramData")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"))
        .join(APP_DIR)
}

/// `HKLM\SOFTWARE\Microsoft\Cryptography\MachineGuid` (only ever stored hashed).
pub(crate) fn machine_id() -> Option<String> {
    use windows_sys::Win32::System::Registry::{
        HKEY_LOCAL_MACHINE, RRF_RT_REG_SZ, RRF_SUBKEY_WOW6464KEY, RegGetValueW,
    };
    let wide = |s: &str| s.encode_utf16().chain([0]).collect::<Vec<u16>>();
    let key = wide(r"SOFTWARE\Microsoft\Cryptography");
    let name = wide("MachineGuid");
    let mut buf = [0u16; 128];
    let mut len = (buf.len() * 2) as u32;
    // SAFETY: the key and value names are NUL-terminated, and `len` is the buffer's size in
    // bytes, which RegGetValueW never writes past.
    let status = unsafe {
        RegGetValueW(
            HKEY_LOCAL_MACHINE,
            key.as_ptr(),
            name.as_ptr(),
            RRF_RT_REG_SZ | RRF_SUBKEY_WOW6464KEY,
            std::ptr::null_mut(),
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if status != 0 {
        return None;
    }
    let chars = (len as usize / 2).min(buf.len());
    let id = String::from_utf16_lossy(&buf[..chars]);
    let id = id.trim_end_matches('\0').trim().to_string();
    (!id.is_empty()).then_some(id)
}

/// The signed-in account's user principal name (`alice@contoso.com`) on an Entra ID or Active
/// Directory joined machine; `None` for a local account.
pub(crate) fn user_principal_name() -> Option<String> {
    use windows_sys::Win32::Security::Authentication::Identity::{
        GetUserNameExW, NameUserPrincipal,
    };
    let mut buf = [0u16; 512];
    let mut len = buf.len() as u32;
    // SAFETY: `len` is the buffer's size in characters; the call writes at most that many and
    // sets `len` to the characters written, without the terminating NUL.
    let ok = unsafe { GetUserNameExW(NameUserPrincipal, buf.as_mut_ptr(), &mut len) };
    if !ok {
        return None;
    }
    let upn = String::from_utf16_lossy(&buf[..(len as usize).min(buf.len())]);
    let upn = upn.trim_end_matches('\0').trim().to_string();
    (!upn.is_empty()).then_some(upn)
}

/// The signed-in account's name (`GetUserNameW`), for when `USERNAME` is not set.
pub(crate) fn account_name() -> Option<String> {
    use windows_sys::Win32::System::WindowsProgramming::GetUserNameW;
    let mut buf = [0u16; 257];
    let mut len = buf.len() as u32;
    // SAFETY: `len` is the buffer's size in characters; the call writes at most that many and
    // sets `len` to the characters written, including the terminating NUL.
    let ok = unsafe { GetUserNameW(buf.as_mut_ptr(), &mut len) };
    if ok == 0 {
        return None;
    }
    let name = String::from_utf16_lossy(&buf[..(len as usize).min(buf.len())]);
    let name = name.trim_end_matches('\0').trim().to_string();
    (!name.is_empty()).then_some(name)
}

/// A console window that Explorer opened for a double-clicked program has exactly one process
/// attached: this one. From `cmd` or PowerShell the shell is attached too.
pub(crate) fn started_from_double_click() -> bool {
    use windows_sys::Win32::System::Console::GetConsoleProcessList;
    let mut ids = [0u32; 4];
    // SAFETY: the buffer holds `ids.len()` process ids and the call writes at most that many.
    let count = unsafe { GetConsoleProcessList(ids.as_mut_ptr(), ids.len() as u32) };
    count == 1
}

/// Browser data folders: the Chromium family's `User Data` under `%LocalAppData%`, Firefox under
/// `%AppData%\Mozilla\Firefox`.
pub fn browser_dirs(paths: &crate::agent::paths::Paths) -> Vec<crate::agent::browsers::Root> {
    use crate::agent::browsers::{BRAVE, CHROME, CHROMIUM, EDGE, FIREFOX, Root, VIVALDI};
    let local = &paths.local_data;
    let user_data = |parts: &[&str]| {
        let mut dir = local.clone();
        for part in parts {
            dir.push(part);
        }
        dir.join("User Data")
    };
    vec![
        Root {
            browser: CHROME,
            dir: user_data(&["Google", "Chrome"]),
        },
        Root {
            browser: EDGE,
            dir: user_data(&["Microsoft", "Edge"]),
        },
        Root {
            browser: BRAVE,
            dir: user_data(&["BraveSoftware", "Brave-Browser"]),
        },
        Root {
            browser: CHROMIUM,
            dir: user_data(&["Chromium"]),
        },
        Root {
            browser: VIVALDI,
            dir: user_data(&["Vivaldi"]),
        },
        Root {
            browser: FIREFOX,
            dir: paths.config_home.join("Mozilla").join("Firefox"),
        },
    ]
}

/// Decrypts data the current user protected with the Windows data protection API (DPAPI, no
/// extra entropy, as MSAL protects its token caches).
pub(crate) fn unprotect(data: &[u8]) -> Result<Vec<u8>, String> {
    use windows_sys::Win32::Security::Cryptography::{
        CRYPT_INTEGER_BLOB, CRYPTPROTECT_UI_FORBIDDEN, CryptUnprotectData,
    };
    let input = blob_of(data)?;
    let mut output = CRYPT_INTEGER_BLOB::default();
    let ok = unsafe {
        CryptUnprotectData(
            &input,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
            std::ptr::null(),
            CRYPTPROTECT_UI_FORBIDDEN,
            &mut output,
        )
    };
    take_blob(ok, output, "unprotected")
}

/// Encrypts data for the current user with DPAPI (the inverse of [`unprotect`]).
pub(crate) fn protect(data: &[u8]) -> Result<Vec<u8>, String> {
    use windows_sys::Win32::Security::Cryptography::{
        CRYPT_INTEGER_BLOB, CRYPTPROTECT_UI_FORBIDDEN, CryptProtectData,
    };
    let input = blob_of(data)?;
    let mut output = CRYPT_INTEGER_BLOB::default();
    let ok = unsafe {
        CryptProtectData(
            &input,
            std::ptr::null(),
            std::ptr::null(),
            std::ptr::null(),
            std::ptr::null(),
            CRYPTPROTECT_UI_FORBIDDEN,
            &mut output,
        )
    };
    take_blob(ok, output, "protected")
}

fn blob_of(
    data: &[u8],
) -> Result<windows_sys::Win32::Security::Cryptography::CRYPT_INTEGER_BLOB, String> {
    Ok(
        windows_sys::Win32::Security::Cryptography::CRYPT_INTEGER_BLOB {
            cbData: u32::try_from(data.len()).map_err(|_| "the data is too large".to_string())?,
            // DPAPI only reads the input.
            pbData: data.as_ptr().cast_mut(),
        },
    )
}

/// Copies DPAPI's output and frees it (it is allocated with `LocalAlloc`).
fn take_blob(
    ok: windows_sys::core::BOOL,
    output: windows_sys::Win32::Security::Cryptography::CRYPT_INTEGER_BLOB,
    verb: &str,
) -> Result<Vec<u8>, String> {
    if ok == 0 || output.pbData.is_null() {
        return Err(format!(
            "it could not be {verb} for this Windows account ({})",
            std::io::Error::last_os_error()
        ));
    }
    let bytes =
        unsafe { std::slice::from_raw_parts(output.pbData, output.cbData as usize) }.to_vec();
    unsafe { windows_sys::Win32::Foundation::LocalFree(output.pbData.cast()) };
    Ok(bytes)
}

/// An open key under `HKEY_CURRENT_USER`, closed when dropped.
struct UserKey(windows_sys::Win32::System::Registry::HKEY);

impl Drop for UserKey {
    fn drop(&mut self) {
        // SAFETY: the handle came from RegOpenKeyExW / RegCreateKeyExW and is closed once.
        unsafe { windows_sys::Win32::System::Registry::RegCloseKey(self.0) };
    }
}

/// True when this runs under Wine (its ntdll answers to `wine_get_version`): the tests that
/// Wine cannot answer as Windows does say so.
#[cfg(test)]
pub(crate) fn under_wine() -> bool {
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleA, GetProcAddress};
    // SAFETY: both names are NUL-terminated; ntdll is always loaded.
    unsafe {
        let ntdll = GetModuleHandleA(c"ntdll.dll".as_ptr().cast());
        !ntdll.is_null() && GetProcAddress(ntdll, c"wine_get_version".as_ptr().cast()).is_some()
    }
}

/// A NUL-terminated UTF-16 string for the Windows API.
fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain([0]).collect()
}

/// A path as a NUL-terminated UTF-16 string (any path Windows can name, not only Unicode).
fn wide_path(path: &Path) -> Vec<u16> {
    use std::os::windows::ffi::OsStrExt;
    path.as_os_str().encode_wide().chain([0]).collect()
}

fn open_user_key(path: &str) -> Option<UserKey> {
    use windows_sys::Win32::System::Registry::{HKEY_CURRENT_USER, KEY_READ, RegOpenKeyExW};
    let name = wide(path);
    let mut key = std::ptr::null_mut();
    // SAFETY: `name` is NUL-terminated; `key` receives a handle only on success.
    let status = unsafe { RegOpenKeyExW(HKEY_CURRENT_USER, name.as_ptr(), 0, KEY_READ, &mut key) };
    (status == 0).then_some(UserKey(key))
}

fn subkeys(key: &UserKey) -> Vec<String> {
    use windows_sys::Win32::System::Registry::RegEnumKeyExW;
    let mut names = Vec::new();
    for index in 0u32.. {
        let mut buf = [0u16; 256];
        let mut len = buf.len() as u32;
        // SAFETY: `len` is the buffer's size in characters; the call writes at most that many.
        let status = unsafe {
            RegEnumKeyExW(
                key.0,
                index,
                buf.as_mut_ptr(),
                &mut len,
                std::ptr::null(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        if status != 0 {
            break;
        }
        names.push(String::from_utf16_lossy(
            &buf[..(len as usize).min(buf.len())],
        ));
    }
    names
}

fn string_value(key: &UserKey, name: &str) -> Option<String> {
    use windows_sys::Win32::System::Registry::{RRF_RT_REG_SZ, RegGetValueW};
    let name = wide(name);
    let mut buf = vec![0u16; 4096];
    let mut len = (buf.len() * 2) as u32;
    // SAFETY: `len` is the buffer's size in bytes, which RegGetValueW never writes past.
    let status = unsafe {
        RegGetValueW(
            key.0,
            std::ptr::null(),
            name.as_ptr(),
            RRF_RT_REG_SZ,
            std::ptr::null_mut(),
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if status != 0 {
        return None;
    }
    buf.truncate((len as usize / 2).min(buf.len()));
    Some(
        String::from_utf16_lossy(&buf)
            .trim_end_matches('\0')
            .to_string(),
    )
}

/// Visual Studio's stored Azure DevOps sign-in tokens: each key under
/// `HKCU\Software\Microsoft\VSCommon\<version>\ClientServices\TokenStorage\VisualStudio\VssApp`
/// with its `Url` value, as (key path under `HKCU`, URL). The token value is never read.
pub(crate) fn visual_studio_tokens() -> Vec<(String, String)> {
    const BASE: &str = r"Software\Microsoft\VSCommon";
    let Some(base) = open_user_key(BASE) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for version in subkeys(&base) {
        let app = format!(r"{BASE}\{version}\ClientServices\TokenStorage\VisualStudio\VssApp");
        let Some(app_key) = open_user_key(&app) else {
            continue;
        };
        for name in subkeys(&app_key) {
            let path = format!(r"{app}\{name}");
            if let Some(url) = open_user_key(&path).and_then(|k| string_value(&k, "Url")) {
                found.push((path, url));
            }
        }
    }
    found
}

/// True when `HKCU\<path>` exists.
pub(crate) fn user_key_exists(path: &str) -> bool {
    open_user_key(path).is_some()
}

/// Moves `HKCU\<from>` with everything in it to `HKCU\<to>` (copied, then deleted), so it can
/// be moved back exactly. `Ok(false)` when `from` is not there; refused when `to` is.
pub(crate) fn move_user_key(from: &str, to: &str) -> Result<bool, String> {
    use windows_sys::Win32::System::Registry::{
        HKEY_CURRENT_USER, KEY_ALL_ACCESS, REG_OPTION_NON_VOLATILE, RegCopyTreeW, RegCreateKeyExW,
        RegDeleteTreeW,
    };
    if user_key_exists(to) {
        return Err(format!(r"HKCU\{to} exists already"));
    }
    let Some(source) = open_user_key(from) else {
        return Ok(false);
    };
    let to_name = wide(to);
    let mut dest = std::ptr::null_mut();
    // SAFETY: `to_name` is NUL-terminated; `dest` receives a handle only on success.
    let status = unsafe {
        RegCreateKeyExW(
            HKEY_CURRENT_USER,
            to_name.as_ptr(),
            0,
            std::ptr::null(),
            REG_OPTION_NON_VOLATILE,
            KEY_ALL_ACCESS,
            std::ptr::null(),
            &mut dest,
            std::ptr::null_mut(),
        )
    };
    if status != 0 {
        return Err(format!(r"HKCU\{to} cannot be made (error {status})"));
    }
    let dest = UserKey(dest);
    // SAFETY: both handles are open keys.
    let status = unsafe { RegCopyTreeW(source.0, std::ptr::null(), dest.0) };
    drop(source);
    drop(dest);
    if status != 0 {
        // SAFETY: `to_name` is NUL-terminated; it names the copy just made.
        unsafe { RegDeleteTreeW(HKEY_CURRENT_USER, to_name.as_ptr()) };
        return Err(format!(r"HKCU\{from} cannot be copied (error {status})"));
    }
    let from_name = wide(from);
    // SAFETY: `from_name` is NUL-terminated.
    let status = unsafe { RegDeleteTreeW(HKEY_CURRENT_USER, from_name.as_ptr()) };
    if status != 0 {
        return Err(format!(
            r"HKCU\{from} was copied but cannot be removed (error {status})"
        ));
    }
    // RegDeleteTreeW empties the key; the key itself goes with RegDeleteKeyW.
    let status = unsafe {
        windows_sys::Win32::System::Registry::RegDeleteKeyW(HKEY_CURRENT_USER, from_name.as_ptr())
    };
    if status != 0 && user_key_exists(from) {
        return Err(format!(
            r"HKCU\{from} was emptied but not removed (error {status})"
        ));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    /// Set in the child process the console test starts.
    const CONSOLE_CHILD: &str = "ADO_CUTOVER_TEST_CONSOLE_CHILD";

    /// Explorer gives a double-clicked program a console of its own, with that one process on
    /// it; a shell shares its console. The test makes both in a child process of its own (a
    /// console belongs to a whole process): a new console, then a second program on it.
    #[test]
    fn a_console_of_its_own_reads_as_a_double_click_and_a_shared_one_does_not() {
        use windows_sys::Win32::System::Console::{AllocConsole, FreeConsole};
        if std::env::var_os(CONSOLE_CHILD).is_some() {
            // SAFETY: plain calls; this child process has no other use for its console.
            let allocated = unsafe {
                FreeConsole();
                AllocConsole()
            };
            assert_ne!(
                allocated,
                0,
                "no console: {}",
                std::io::Error::last_os_error()
            );
            assert!(super::started_from_double_click(), "alone on a new console");
            let system = std::env::var("SystemRoot").unwrap_or_else(|_| r"C:\windows".into());
            let mut shell = std::process::Command::new(
                std::path::Path::new(&system).join(r"system32\ping.exe"),
            )
            .args(["-n", "30", "127.0.0.1"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while super::started_from_double_click() {
                assert!(std::time::Instant::now() < deadline, "ping never joined");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let _ = shell.kill();
            let _ = shell.wait();
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "agent::platform::windows::tests::a_console_of_its_own_reads_as_a_double_click_and_a_shared_one_does_not",
                "--test-threads=1",
            ])
            .env(CONSOLE_CHILD, "1")
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        // "1 passed": the child ran this very test (a wrong name would run none and pass).
        assert!(
            out.status.success() && said.contains("1 passed"),
            "the child's checks failed: {said}"
        );
    }

    #[test]
    fn dpapi_round_trips_for_this_account() {
        let plain = br#"{"Account":{}}"#;
        let sealed = super::protect(plain).unwrap();
        assert_ne!(sealed.as_slice(), plain.as_slice());
        assert_eq!(super::unprotect(&sealed).unwrap(), plain);
        assert!(super::unprotect(b"not protected").is_err());
    }
}
