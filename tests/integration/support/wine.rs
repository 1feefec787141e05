//! Whether the Windows build's tests are running under Wine: the tests that write to Windows
//! stores (Credential Manager, the registry) run only there, never on a real machine.
#![allow(unsafe_code)]

use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleA, GetProcAddress};

/// True when Wine's ntdll answers to `wine_get_version`.
pub(crate) fn under_wine() -> bool {
    unsafe {
        let ntdll = GetModuleHandleA(c"ntdll.dll".as_ptr().cast());
        !ntdll.is_null() && GetProcAddress(ntdll, c"wine_get_version".as_ptr().cast()).is_some()
    }
}

/// Starts Wine's desktop process (`explorer.exe /desktop`, which also keeps the clipboard) from
/// the test process, once. Otherwise the first agent that touches the clipboard starts it, and
/// the desktop process keeps that agent's output pipes open after the agent exits, so the test
/// would wait for the end of its output forever. (Windows itself has no such process.)
pub(crate) fn start_desktop() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        if under_wine() {
            // SAFETY: no arguments; it returns the desktop window, starting Wine's desktop.
            unsafe { windows_sys::Win32::UI::WindowsAndMessaging::GetDesktopWindow() };
        }
    });
}
