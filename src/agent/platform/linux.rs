//! Linux and other Unix systems: XDG folders, `/etc/ado-cutover`, `/etc/machine-id`.

use std::path::{Path, PathBuf};

use super::AppDirs;
use crate::agent::env::Env;
use crate::agent::paths::{APP_DIR, Bases};

/// The XDG defaults under a home folder.
pub(crate) fn bases_under_home(home: &Path) -> Bases {
    Bases {
        home: home.to_path_buf(),
        local_data: home.join(".local").join("share"),
        config_home: home.join(".config"),
        state_home: home.join(".local").join("state"),
    }
}

/// Data in `$XDG_DATA_HOME/ado-cutover`, logs in `$XDG_STATE_HOME/ado-cutover/logs`.
pub(crate) fn app_dirs(bases: &Bases) -> AppDirs {
    AppDirs {
        data: bases.local_data.join(APP_DIR),
        logs: bases.state_home.join(APP_DIR).join("logs"),
    }
}

/// `/etc/ado-cutover`.
pub(crate) fn managed_dir(_env: &Env) -> PathBuf {
    PathBuf::from("/etc").join(APP_DIR)
}

/// systemd's (or D-Bus's) machine id.
pub(crate) fn machine_id() -> Option<String> {
    ["/etc/machine-id", "/var/lib/dbus/machine-id"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|id| id.trim().to_string())
        .find(|id| !id.is_empty())
}

/// File managers start programs without a console of their own; the desktop launcher that
/// packaging installs sets `ADO_CUTOVER_HOLD_WINDOW` instead.
/// The work account is not the OS account here: other sources tell it (see `identity`).
pub(crate) fn user_principal_name() -> Option<String> {
    None
}

pub(crate) fn started_from_double_click() -> bool {
    false
}

/// Browser data folders: `~/.config/<browser>` for the Chromium family, `~/.mozilla/firefox`
/// for Firefox, and the snap and Flatpak variants.
pub fn browser_dirs(paths: &crate::agent::paths::Paths) -> Vec<crate::agent::browsers::Root> {
    use crate::agent::browsers::{BRAVE, CHROME, CHROMIUM, EDGE, FIREFOX, Root, VIVALDI};
    let config = &paths.config_home;
    let home = &paths.home;
    vec![
        Root {
            browser: CHROME,
            dir: config.join("google-chrome"),
        },
        Root {
            browser: EDGE,
            dir: config.join("microsoft-edge"),
        },
        Root {
            browser: BRAVE,
            dir: config.join("BraveSoftware").join("Brave-Browser"),
        },
        Root {
            browser: CHROMIUM,
            dir: config.join("chromium"),
        },
        Root {
            browser: CHROMIUM,
            dir: home.join("snap/chromium/common/chromium"),
        },
        Root {
            browser: VIVALDI,
            dir: config.join("vivaldi"),
        },
        Root {
            browser: FIREFOX,
            dir: home.join(".mozilla").join("firefox"),
        },
        Root {
            browser: FIREFOX,
            dir: home.join("snap/firefox/common/.mozilla/firefox"),
        },
        Root {
            browser: FIREFOX,
            dir: home.join(".var/app/org.mozilla.firefox/.mozilla/firefox"),
        },
    ]
}

/// Unix permissions already make the key owner-only (mode 0600).
pub(crate) fn restrict_to_owner(_path: &Path) -> Result<(), String> {
    Ok(())
}

/// The programs that open a web page in the user's browser, tried in order.
pub(super) fn url_openers() -> &'static [&'static str] {
    &["xdg-open", "gio open", "sensible-browser"]
}

/// The programs that put standard input on the clipboard, tried in order (Wayland, then X).
pub(super) fn clipboard_writers() -> &'static [&'static str] {
    &[
        "wl-copy",
        "xclip -selection clipboard",
        "xsel --clipboard --input",
    ]
}
