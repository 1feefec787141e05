//! Browser profiles on this machine: which browsers, where their profiles live, which cookie
//! store each profile has, and whether a running browser holds it.
//!
//! The Chromium family (Google Chrome, Microsoft Edge, Brave, Chromium, Vivaldi) and Firefox, on
//! every OS; the folders come from the platform module, every profile of each browser counts.

pub(super) mod cookies;
pub(super) mod running;
pub(super) mod site_data;

use std::path::{Path, PathBuf};

use crate::agent::paths::Paths;
use crate::agent::platform;

/// How a browser stores cookies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `cookies` table with `host_key`, in `<profile>/Network/Cookies` (or `<profile>/Cookies`).
    Chromium,
    /// `moz_cookies` table with `host`, in `<profile>/cookies.sqlite`.
    Firefox,
}

/// A browser ado-cutover knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Browser {
    /// Stable id, e.g. `chrome`.
    pub id: &'static str,
    /// Its name for people.
    pub name: &'static str,
    pub family: Family,
    /// Process names (lower case, without `.exe`) of a running instance.
    pub processes: &'static [&'static str],
}

pub(super) const CHROME: Browser = Browser {
    id: "chrome",
    name: "Google Chrome",
    family: Family::Chromium,
    processes: &[
        "chrome",
        "google chrome",
        "google-chrome",
        "google-chrome-stable",
    ],
};
pub(super) const EDGE: Browser = Browser {
    id: "edge",
    name: "Microsoft Edge",
    family: Family::Chromium,
    processes: &[
        "msedge",
        "microsoft edge",
        "microsoft-edge",
        "microsoft-edge-stable",
    ],
};
pub(super) const BRAVE: Browser = Browser {
    id: "brave",
    name: "Brave",
    family: Family::Chromium,
    processes: &["brave", "brave browser", "brave-browser"],
};
pub(super) const CHROMIUM: Browser = Browser {
    id: "chromium",
    name: "Chromium",
    family: Family::Chromium,
    processes: &["chromium", "chromium-browser"],
};
pub(super) const VIVALDI: Browser = Browser {
    id: "vivaldi",
    name: "Vivaldi",
    family: Family::Chromium,
    processes: &["vivaldi", "vivaldi-bin"],
};
pub(super) const FIREFOX: Browser = Browser {
    id: "firefox",
    name: "Firefox",
    family: Family::Firefox,
    processes: &["firefox", "firefox-bin", "firefox-esr"],
};

/// One browser's data folder: the Chromium "User Data" folder or the Firefox profiles folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    pub browser: Browser,
    pub dir: PathBuf,
}

/// One profile and its cookie stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub browser: Browser,
    /// The root it belongs to (what a running browser holds).
    pub root: PathBuf,
    /// The profile folder.
    pub dir: PathBuf,
    /// The profile's name: its folder name.
    pub name: String,
    /// Cookie databases that exist (Chromium may have a current and a legacy one).
    pub cookie_stores: Vec<PathBuf>,
}

impl Profile {
    /// "Google Chrome (Default)".
    pub fn label(&self) -> String {
        format!("{} ({})", self.browser.name, self.name)
    }
}

/// Every browser data folder that exists for this user.
pub(super) fn roots(paths: &Paths) -> Vec<Root> {
    platform::browser_dirs(paths)
        .into_iter()
        .filter(|root| root.dir.is_dir())
        .collect()
}

/// Every profile with at least one cookie store, in every root.
pub fn profiles(paths: &Paths) -> Vec<Profile> {
    let mut found = Vec::new();
    for root in roots(paths) {
        let candidates = match root.browser.family {
            // Chromium: "Default", "Profile 1", ... directly in User Data.
            Family::Chromium => subdirs(&root.dir),
            // Firefox: `<root>/<profile>` on Linux, `<root>/Profiles/<profile>` elsewhere.
            Family::Firefox => {
                let mut dirs = subdirs(&root.dir);
                dirs.extend(subdirs(&root.dir.join("Profiles")));
                dirs
            }
        };
        for dir in candidates {
            let stores: Vec<PathBuf> = match root.browser.family {
                Family::Chromium => vec![dir.join("Network").join("Cookies"), dir.join("Cookies")],
                Family::Firefox => vec![dir.join("cookies.sqlite")],
            }
            .into_iter()
            .filter(|store| is_regular_file(store))
            .collect();
            if stores.is_empty() {
                continue;
            }
            found.push(Profile {
                browser: root.browser,
                root: root.dir.clone(),
                name: dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                dir,
                cookie_stores: stores,
            });
        }
    }
    found
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok())
        // Not following links: a profile is a real folder.
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .map(|entry| entry.path())
        .collect();
    dirs.sort();
    dirs
}

fn is_regular_file(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file())
}
