//! The owner-only access list OpenSSH for Windows requires of a private key: one entry granting
//! the current user full control, nothing inherited from the folder. Set through the security
//! API (`SetNamedSecurityInfoW`), not `icacls`: a program can be missing, renamed by a
//! language pack or blocked by policy, and it needs the account's name where the API takes the
//! account's SID from this process's own token.

use std::path::Path;

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
use windows_sys::Win32::Security::Authorization::{SE_FILE_OBJECT, SetNamedSecurityInfoW};
use windows_sys::Win32::Security::{
    ACCESS_ALLOWED_ACE, ACL, ACL_REVISION, AddAccessAllowedAceEx, DACL_SECURITY_INFORMATION,
    GetLengthSid, GetTokenInformation, InitializeAcl, PROTECTED_DACL_SECURITY_INFORMATION, PSID,
    TOKEN_QUERY, TOKEN_USER, TokenUser,
};
use windows_sys::Win32::Storage::FileSystem::FILE_ALL_ACCESS;
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

use super::wide_path;

/// The current user's SID, copied out of the process token.
struct UserSid(Vec<u8>);

impl UserSid {
    fn current() -> Result<UserSid, String> {
        let mut token: HANDLE = std::ptr::null_mut();
        // SAFETY: the pseudo-handle of this process needs no closing; `token` receives a handle
        // only on success and is closed below.
        if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
            return Err(os_error("this process's account could not be read"));
        }
        let mut needed = 0u32;
        // SAFETY: a size query (null buffer, length 0) only writes `needed`.
        unsafe { GetTokenInformation(token, TokenUser, std::ptr::null_mut(), 0, &mut needed) };
        // u64 words keep the TOKEN_USER at the start of the buffer aligned.
        let mut buffer = vec![0u64; (needed as usize).div_ceil(8).max(1)];
        // SAFETY: the buffer holds `needed` bytes; the handle is valid until CloseHandle.
        let ok = unsafe {
            GetTokenInformation(
                token,
                TokenUser,
                buffer.as_mut_ptr().cast(),
                needed,
                &mut needed,
            )
        };
        unsafe { CloseHandle(token) };
        if ok == 0 {
            return Err(os_error("this process's account could not be read"));
        }
        // SAFETY: on success the buffer starts with a TOKEN_USER whose SID points inside it.
        let sid = unsafe { (*buffer.as_ptr().cast::<TOKEN_USER>()).User.Sid };
        let len = unsafe { GetLengthSid(sid) } as usize;
        Ok(UserSid(
            unsafe { std::slice::from_raw_parts(sid.cast::<u8>(), len) }.to_vec(),
        ))
    }

    fn as_psid(&self) -> PSID {
        // The API takes a mutable pointer but only reads the SID.
        self.0.as_ptr().cast_mut().cast()
    }
}

/// Makes `path` readable and writable by the current user alone: a protected access list (no
/// inherited entries) with one entry, full control for this account.
pub(crate) fn restrict_to_owner(path: &Path) -> Result<(), String> {
    let mut buffer = owner_only_acl(&UserSid::current()?)?;
    let acl = buffer.as_mut_ptr().cast::<ACL>();
    let name = wide_path(path);
    // SAFETY: `name` is NUL-terminated; the access list lives until the call returns.
    let status = unsafe {
        SetNamedSecurityInfoW(
            name.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            acl,
            std::ptr::null(),
        )
    };
    if status != 0 {
        return Err(format!(
            "its access could not be limited to you ({})",
            std::io::Error::from_raw_os_error(status as i32)
        ));
    }
    Ok(())
}

/// An access list with one entry: full control for `user`. Returned as the buffer that holds
/// it (u64 words keep it aligned).
fn owner_only_acl(user: &UserSid) -> Result<Vec<u64>, String> {
    let ace_size =
        std::mem::size_of::<ACCESS_ALLOWED_ACE>() - std::mem::size_of::<u32>() + user.0.len();
    let acl_size = std::mem::size_of::<ACL>() + ace_size;
    let mut buffer = vec![0u64; acl_size.div_ceil(8)];
    let acl = buffer.as_mut_ptr().cast::<ACL>();
    // SAFETY: the buffer is `acl_size` bytes, aligned, and sized for exactly this one entry.
    let built = unsafe {
        InitializeAcl(acl, acl_size as u32, ACL_REVISION) != 0
            && AddAccessAllowedAceEx(acl, ACL_REVISION, 0, FILE_ALL_ACCESS, user.as_psid()) != 0
    };
    if built {
        Ok(buffer)
    } else {
        Err(os_error("the access list could not be built"))
    }
}

fn os_error(what: &str) -> String {
    format!("{what} ({})", std::io::Error::last_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;
    use windows_sys::Win32::Foundation::LocalFree;
    use windows_sys::Win32::Security::Authorization::GetNamedSecurityInfoW;
    use windows_sys::Win32::Security::{
        EqualSid, GetAce, GetSecurityDescriptorControl, PSECURITY_DESCRIPTOR, SE_DACL_PROTECTED,
    };

    /// Each entry of an access list: (type, access mask, whether it names the current user).
    fn entries_of(acl: *const ACL, user: &UserSid) -> Vec<(u8, u32, bool)> {
        let mut entries = Vec::new();
        // SAFETY: `acl` is a valid access list; each `ace` points inside it.
        unsafe {
            for index in 0..u32::from((*acl).AceCount) {
                let mut ace = std::ptr::null_mut();
                if GetAce(acl, index, &mut ace) == 0 {
                    continue;
                }
                // Allowed and denied entries share this layout: header, mask, SID.
                let entry = &*ace.cast::<ACCESS_ALLOWED_ACE>();
                let sid: PSID = std::ptr::addr_of!(entry.SidStart).cast_mut().cast();
                let mine = EqualSid(sid, user.as_psid()) != 0;
                entries.push((entry.Header.AceType, entry.Mask, mine));
            }
        }
        entries
    }

    /// The access list of `path` as Windows reports it, and whether it is protected from
    /// inheritance.
    fn access_of(path: &Path, user: &UserSid) -> (Vec<(u8, u32, bool)>, bool) {
        let name = wide_path(path);
        let mut dacl: *mut ACL = std::ptr::null_mut();
        let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: `name` is NUL-terminated; `descriptor` is the system's, freed below, and
        // `dacl` points inside it.
        unsafe {
            let status = GetNamedSecurityInfoW(
                name.as_ptr(),
                SE_FILE_OBJECT,
                DACL_SECURITY_INFORMATION,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                &mut dacl,
                std::ptr::null_mut(),
                &mut descriptor,
            );
            assert_eq!(status, 0, "the access list of {path:?} could not be read");
            let (mut control, mut revision) = (0u16, 0u32);
            GetSecurityDescriptorControl(descriptor, &mut control, &mut revision);
            let entries = entries_of(dacl, user);
            LocalFree(descriptor);
            (entries, control & SE_DACL_PROTECTED != 0)
        }
    }

    const ALLOWED: u8 = 0;

    #[test]
    fn the_access_list_built_has_one_entry_full_control_for_this_user() {
        let user = UserSid::current().unwrap();
        let buffer = owner_only_acl(&user).unwrap();
        assert_eq!(
            entries_of(buffer.as_ptr().cast(), &user),
            vec![(ALLOWED, FILE_ALL_ACCESS, true)]
        );
    }

    #[test]
    fn a_key_file_is_left_to_this_user_alone() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id_rsa_azure_devops");
        std::fs::write(&key, "private").unwrap();
        let user = UserSid::current().unwrap();
        let (before, _) = access_of(&key, &user);
        assert!(
            before.iter().any(|entry| !entry.2),
            "a new file is open to more than its owner: {before:?}"
        );

        restrict_to_owner(&key).unwrap();

        let (after, protected) = access_of(&key, &user);
        if crate::agent::platform::under_wine() {
            // Wine keeps a file's access list only as its Unix mode bits (Debian's build stores
            // no security descriptor beside the file) and reports one made up from them, so it
            // cannot show the list this set; the list itself is checked in the test above.
            assert!(
                after.contains(&(ALLOWED, FILE_ALL_ACCESS, true)),
                "{after:?}"
            );
        } else {
            assert_eq!(after, vec![(ALLOWED, FILE_ALL_ACCESS, true)]);
            assert!(protected, "no entry inherited from the folder");
        }
        // The owner still reads and writes it.
        assert_eq!(std::fs::read_to_string(&key).unwrap(), "private");
        std::fs::write(&key, "rewritten").unwrap();
    }

    #[test]
    fn a_missing_file_is_an_error_that_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let err = restrict_to_owner(&dir.path().join("missing")).unwrap_err();
        assert!(err.contains("could not be limited"), "{err}");
    }
}
