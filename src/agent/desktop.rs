//! The desktop around a person at the computer: open a web page in their browser, put text on
//! their clipboard. Both are best effort and say whether they worked; how is the platform's
//! (Windows' shell and clipboard APIs, `open`/`pbcopy` on macOS, `xdg-open`/`wl-copy`/`xclip`
//! on Linux).
//!
//! `ADO_CUTOVER_BROWSER` names a program to open web pages with instead of the platform's (the
//! URL is its one argument): for machines with an unusual browser setup, and for tests, which
//! point it at a script that plays the browser.

use std::process::{Command, Stdio};

use crate::agent::env::Env;
use crate::agent::platform;

/// The environment variable naming the program that opens web pages.
pub(super) const BROWSER_VAR: &str = "ADO_CUTOVER_BROWSER";

/// Opens `url` in the browser; `Err` says why not.
pub(super) fn open_url(env: &Env, url: &str) -> Result<(), String> {
    if let Some(program) = env.get(BROWSER_VAR) {
        return Command::new(program)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(drop)
            .map_err(|e| format!("{BROWSER_VAR} ({program}) could not be started: {e}"));
    }
    if cfg!(all(unix, not(target_os = "macos")))
        && env.get("DISPLAY").is_none()
        && env.get("WAYLAND_DISPLAY").is_none()
    {
        return Err("there is no graphical session to open a browser in".into());
    }
    platform::open_url(url)
}

/// Puts `text` on the clipboard; `Err` says why not.
pub(super) fn copy(text: &str) -> Result<(), String> {
    platform::copy(text)
}
