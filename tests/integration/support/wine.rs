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
