//! The desktop around a person at the computer: open a web page in their browser, put text on
//! their clipboard. Both are best effort and say whether they worked.
//!
//! `ADO_CUTOVER_BROWSER` names a program to open web pages with instead of the platform's (the
//! URL is its one argument): for machines with an unusual browser setup, and for tests, which
//! point it at a script that plays the browser.

use std::io::Write;
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
    for opener in platform::url_openers() {
        let mut words = opener.split(' ');
        let program = words.next().unwrap_or_default();
        let started = Command::new(program)
            .args(words)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if started.is_ok_and(|status| status.success()) {
            return Ok(());
        }
    }
    Err("no program to open a web page with was found".into())
}

/// Puts `text` on the clipboard; `Err` says why not.
pub(super) fn copy(text: &str) -> Result<(), String> {
    for writer in platform::clipboard_writers() {
        let mut words = writer.split(' ');
        let program = words.next().unwrap_or_default();
        let Ok(mut child) = Command::new(program)
            .args(words)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        else {
            continue;
        };
        let written = child
            .stdin
            .take()
            .is_some_and(|mut stdin| stdin.write_all(text.as_bytes()).is_ok());
        if written && child.wait().is_ok_and(|status| status.success()) {
            return Ok(());
        }
    }
    Err("no clipboard program was found".into())
}
