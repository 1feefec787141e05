//! The desktop on Windows through its APIs, not programs: `ShellExecuteW` opens a web page in the
//! default browser (the URL passes whole, where `cmd /c start` splits it at `&`), and the
//! clipboard API takes text (`clip.exe` would need a console and mangles non-ASCII text in some
//! code pages).

use windows_sys::Win32::Foundation::{GlobalFree, HANDLE};
#[cfg(test)]
use windows_sys::Win32::System::DataExchange::GetClipboardData;
use windows_sys::Win32::System::DataExchange::{
    CloseClipboard, EmptyClipboard, OpenClipboard, SetClipboardData,
};
use windows_sys::Win32::System::Memory::{GMEM_MOVEABLE, GlobalAlloc, GlobalLock, GlobalUnlock};
use windows_sys::Win32::System::Ole::CF_UNICODETEXT;
use windows_sys::Win32::UI::Shell::ShellExecuteW;
use windows_sys::Win32::UI::WindowsAndMessaging::SW_SHOWNORMAL;

use super::wide;

/// Opens `url` with the program Windows associates with it (the default browser).
pub(crate) fn open_url(url: &str) -> Result<(), String> {
    let verb = wide("open");
    let file = wide(url);
    // SAFETY: both strings are NUL-terminated and outlive the call; no window owns it.
    let result = unsafe {
        ShellExecuteW(
            std::ptr::null_mut(),
            verb.as_ptr(),
            file.as_ptr(),
            std::ptr::null(),
            std::ptr::null(),
            SW_SHOWNORMAL,
        )
    };
    // ShellExecuteW returns a value above 32 on success, an error code otherwise.
    let code = result as usize;
    if code > 32 {
        Ok(())
    } else {
        Err(format!(
            "Windows could not open the page in a browser (error {code})"
        ))
    }
}

/// The clipboard, open for this thread until dropped.
struct Clipboard;

impl Clipboard {
    fn open() -> Result<Clipboard, String> {
        // Another program may hold it for a moment (clipboard managers do): try a few times.
        for _ in 0..10 {
            // SAFETY: no window handle: the clipboard is opened for this task.
            if unsafe { OpenClipboard(std::ptr::null_mut()) } != 0 {
                return Ok(Clipboard);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Err(format!(
            "the clipboard is in use by another program ({})",
            std::io::Error::last_os_error()
        ))
    }
}

impl Drop for Clipboard {
    fn drop(&mut self) {
        // SAFETY: opened by `open` on this thread.
        unsafe { CloseClipboard() };
    }
}

/// Puts `text` on the clipboard as Unicode text.
pub(crate) fn copy(text: &str) -> Result<(), String> {
    let units = wide(text);
    let bytes = units.len() * std::mem::size_of::<u16>();
    let _open = Clipboard::open()?;
    // SAFETY: the clipboard is open; the memory is movable global memory as the API requires,
    // filled while locked, and owned by the system once SetClipboardData succeeds.
    unsafe {
        if EmptyClipboard() == 0 {
            return Err("the clipboard could not be emptied".into());
        }
        let memory = GlobalAlloc(GMEM_MOVEABLE, bytes);
        if memory.is_null() {
            return Err("no memory for the clipboard".into());
        }
        let target = GlobalLock(memory);
        if target.is_null() {
            GlobalFree(memory);
            return Err("no memory for the clipboard".into());
        }
        std::ptr::copy_nonoverlapping(units.as_ptr(), target.cast::<u16>(), units.len());
        GlobalUnlock(memory);
        if SetClipboardData(u32::from(CF_UNICODETEXT), memory as HANDLE).is_null() {
            GlobalFree(memory);
            return Err(format!(
                "the clipboard did not take the text ({})",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

/// The clipboard's Unicode text, if any: the tests read back what [`copy`] put there.
#[cfg(test)]
fn pasted() -> Option<String> {
    let _open = Clipboard::open().ok()?;
    // SAFETY: the clipboard is open; the handle stays the clipboard's and is only read while
    // locked, up to its terminating NUL.
    unsafe {
        let memory = GetClipboardData(u32::from(CF_UNICODETEXT));
        if memory.is_null() {
            return None;
        }
        let start = GlobalLock(memory).cast::<u16>();
        if start.is_null() {
            return None;
        }
        let mut len = 0;
        while *start.add(len) != 0 {
            len += 1;
        }
        let text = String::from_utf16_lossy(std::slice::from_raw_parts(start, len));
        GlobalUnlock(memory);
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    /// Sets the default value of `HKEY_CLASSES_ROOT\<path>` (creating the key).
    fn set_class(path: &str, name: Option<&str>, value: &str) {
        use windows_sys::Win32::System::Registry::{
            HKEY_CLASSES_ROOT, KEY_WRITE, REG_OPTION_NON_VOLATILE, REG_SZ, RegCloseKey,
            RegCreateKeyExW, RegSetValueExW,
        };
        let path = super::wide(path);
        let name = name.map(super::wide);
        let data = super::wide(value);
        let mut key = std::ptr::null_mut();
        // SAFETY: NUL-terminated strings; the key is closed once.
        unsafe {
            let created = RegCreateKeyExW(
                HKEY_CLASSES_ROOT,
                path.as_ptr(),
                0,
                std::ptr::null(),
                REG_OPTION_NON_VOLATILE,
                KEY_WRITE,
                std::ptr::null(),
                &mut key,
                std::ptr::null_mut(),
            );
            assert_eq!(created, 0);
            let set = RegSetValueExW(
                key,
                name.as_ref().map_or(std::ptr::null(), |n| n.as_ptr()),
                0,
                REG_SZ,
                data.as_ptr().cast(),
                (data.len() * 2) as u32,
            );
            RegCloseKey(key);
            assert_eq!(set, 0);
        }
    }

    #[test]
    fn a_web_address_reaches_its_handler_whole() {
        // Only under Wine: the test registers a handler for its own scheme, which a real
        // machine's registry must not get.
        if !crate::agent::platform::under_wine() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("opened.txt");
        set_class("ado-cutover-test", None, "URL:ado-cutover test");
        set_class("ado-cutover-test", Some("URL Protocol"), "");
        set_class(
            "ado-cutover-test\\shell\\open\\command",
            None,
            &format!("cmd.exe /c echo \"%1\"> \"{}\"", out.display()),
        );
        // `&` is where `cmd /c start` would cut the address; ShellExecuteW passes it whole.
        let url = "ado-cutover-test://sign-in?state=a1&code=b2";
        super::open_url(url).unwrap();
        let mut opened = String::new();
        for _ in 0..200 {
            opened = std::fs::read_to_string(&out).unwrap_or_default();
            if opened.contains("code") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(opened.trim(), format!("\"{url}\""));
    }

    #[test]
    fn text_put_on_the_clipboard_is_what_a_paste_gets() {
        let line = "ssh-rsa AAAAB3Nza ado-cutover Zürich €";
        super::copy(line).unwrap();
        assert_eq!(super::pasted().as_deref(), Some(line));
        super::copy("second").unwrap();
        assert_eq!(super::pasted().as_deref(), Some("second"));
    }
}
