//! Platform-specific facts, one small module per OS behind `cfg`.
//!
//! Each module answers the same questions: where the per-user folders are under a home folder,
//! where the agent keeps its data and logs, where IT puts the managed configuration, what the
//! machine's id is, and whether the agent was started by a double-click.

use std::path::PathBuf;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::*;

#[cfg(target_os = "macos")]
mod macos;
#[cfg(target_os = "macos")]
pub use macos::*;

#[cfg(all(unix, not(target_os = "macos")))]
mod linux;
#[cfg(all(unix, not(target_os = "macos")))]
pub use linux::*;

/// The account's name from the user database (`id -un`), for when `USER` is not set (a service
/// or cron started without it). The same on every Unix; Windows asks its account API.
#[cfg(unix)]
pub(super) fn account_name() -> Option<String> {
    let out = std::process::Command::new("id").arg("-un").output().ok()?;
    let name = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !name.is_empty()).then_some(name)
}

/// Opens `url` in the browser with the first of the platform's openers (`xdg-open`, `open`)
/// that works.
#[cfg(unix)]
pub(crate) fn open_url(url: &str) -> Result<(), String> {
    run_first(url_openers(), Some(url), None)
        .map_err(|()| "no program to open a web page with was found".to_string())
}

/// Puts `text` on the clipboard with the first of the platform's clipboard programs
/// (`wl-copy`, `xclip`, `pbcopy`) that works.
#[cfg(unix)]
pub(crate) fn copy(text: &str) -> Result<(), String> {
    run_first(clipboard_writers(), None, Some(text))
        .map_err(|()| "no clipboard program was found".to_string())
}

/// Runs the first of `programs` (each a program and its fixed arguments, split on blanks) that
/// starts and succeeds, with `arg` appended and `input` on its standard input.
#[cfg(unix)]
fn run_first(programs: &[&str], arg: Option<&str>, input: Option<&str>) -> Result<(), ()> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    for line in programs {
        let mut words = line.split(' ');
        let program = words.next().unwrap_or_default();
        let Ok(mut child) = Command::new(program)
            .args(words)
            .args(arg)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        else {
            continue;
        };
        let fed = match (input, child.stdin.take()) {
            (Some(text), Some(mut stdin)) => stdin.write_all(text.as_bytes()).is_ok(),
            _ => true,
        };
        if child.wait().is_ok_and(|status| status.success()) && fed {
            return Ok(());
        }
    }
    Err(())
}

/// The Windows data protection API (DPAPI) protects MSAL's caches on Windows only; elsewhere a
/// protected cache cannot be read.
#[cfg(not(windows))]
pub(crate) fn unprotect(_data: &[u8]) -> Result<Vec<u8>, String> {
    Err("Windows data protection exists only on Windows".into())
}

/// See [`unprotect`].
#[cfg(not(windows))]
pub(crate) fn protect(_data: &[u8]) -> Result<Vec<u8>, String> {
    Err("Windows data protection exists only on Windows".into())
}

/// Visual Studio's stored Azure DevOps tokens in the registry (Windows only; see
/// `windows::visual_studio_tokens`).
#[cfg(not(windows))]
pub(crate) fn visual_studio_tokens() -> Vec<(String, String)> {
    Vec::new()
}

/// True when the registry key exists (never, off Windows).
#[cfg(not(windows))]
pub(crate) fn user_key_exists(_path: &str) -> bool {
    false
}

/// Moves a registry key (Windows only).
#[cfg(not(windows))]
pub(crate) fn move_user_key(_from: &str, _to: &str) -> Result<bool, String> {
    Err("the registry exists only on Windows".into())
}

/// The agent's own data and log folders.
#[derive(Debug, Clone)]
pub(super) struct AppDirs {
    pub data: PathBuf,
    pub logs: PathBuf,
}
