//! macOS: `~/Library` folders, `/Library/Application Support/ado-cutover`, the platform UUID.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::AppDirs;
use crate::agent::env::Env;
use crate::agent::paths::{APP_DIR, Bases};

/// `~/Library/Application Support` for data and config.
pub(crate) fn bases_under_home(home: &Path) -> Bases {
    let support = home.join("Library").join("Application Support");
    Bases {
        home: home.to_path_buf(),
        local_data: support.clone(),
        config_home: support.clone(),
        state_home: support,
    }
}

/// Data in `~/Library/Application Support/ado-cutover`, logs in `~/Library/Logs/ado-cutover`.
pub(crate) fn app_dirs(bases: &Bases) -> AppDirs {
    AppDirs {
        data: bases.local_data.join(APP_DIR),
        logs: bases.home.join("Library").join("Logs").join(APP_DIR),
    }
}

/// `/Library/Application Support/ado-cutover`, where MDM tools drop machine-wide files.
pub(crate) fn managed_dir(_env: &Env) -> PathBuf {
    PathBuf::from("/Library/Application Support").join(APP_DIR)
}

/// The IOPlatformUUID (only ever stored hashed).
pub(crate) fn machine_id() -> Option<String> {
    let out = Command::new("/usr/sbin/ioreg")
        .args(["-rd1", "-c", "IOPlatformExpertDevice"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|line| line.contains("\"IOPlatformUUID\""))
        .and_then(|line| line.rsplit('"').nth(1))
        .map(str::to_string)
}

/// Finder opens a Terminal window for a double-clicked program through a shell, which cannot be
/// told apart from a user's own shell; the `.command` launcher sets `ADO_CUTOVER_HOLD_WINDOW`.
/// The work account is not the OS account here: other sources tell it (see `identity`).
pub(crate) fn user_principal_name() -> Option<String> {
    None
}

pub(crate) fn started_from_double_click() -> bool {
    false
}

/// Browser data folders under `~/Library/Application Support`.
pub fn browser_dirs(paths: &crate::agent::paths::Paths) -> Vec<crate::agent::browsers::Root> {
    use crate::agent::browsers::{BRAVE, CHROME, CHROMIUM, EDGE, FIREFOX, Root, VIVALDI};
    let support = &paths.local_data;
    vec![
        Root {
            browser: CHROME,
            dir: support.join("Google").join("Chrome"),
        },
        Root {
            browser: EDGE,
            dir: support.join("Microsoft Edge"),
        },
        Root {
            browser: BRAVE,
            dir: support.join("BraveSoftware").join("Brave-Browser"),
        },
        Root {
            browser: CHROMIUM,
            dir: support.join("Chromium"),
        },
        Root {
            browser: VIVALDI,
            dir: support.join("Vivaldi"),
        },
        Root {
            browser: FIREFOX,
            dir: support.join("Firefox"),
        },
    ]
}

/// Unix permissions already make the key owner-only (mode 0600).
pub(crate) fn restrict_to_owner(_path: &Path) -> Result<(), String> {
    Ok(())
}

/// The program that opens a web page in the user's browser.
pub(super) fn url_openers() -> &'static [&'static str] {
    &["open"]
}

/// The program that puts standard input on the clipboard.
pub(super) fn clipboard_writers() -> &'static [&'static str] {
    &["pbcopy"]
}

/// The login keychain's items as `security dump-keychain` lists them: attributes only (without
/// `-d` no secret is read, and nothing is asked). `None` when it cannot run.
pub(crate) fn keychain_dump() -> Option<String> {
    let out = std::process::Command::new("security")
        .arg("dump-keychain")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}
