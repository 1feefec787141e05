//! The system tools the tests drive for real, checked once per test binary: when any is missing,
//! the first test that needs one fails with one message naming every missing tool and the line
//! that installs them all, instead of a scattered `Os { .. }` panic per test.

use std::path::Path;
use std::sync::OnceLock;

/// Each tool and the Debian package (in .ci/test-packages.txt) that brings it.
const TOOLS: &[(&str, &str)] = &[
    ("git", "git"),
    ("tmux", "tmux"),
    ("chromium", "chromium"),
    ("firefox-esr", "firefox-esr"),
    ("ssh", "openssh-client"),
    ("ssh-keygen", "openssh-client"),
    ("ssh-keyscan", "openssh-client"),
    ("sshd", "openssh-server"),
    ("curl", "curl"),
    ("openssl", "openssl"),
    ("dbus-daemon", "dbus"),
    ("dbus-send", "dbus"),
    ("gnome-keyring-daemon", "gnome-keyring"),
    ("secret-tool", "libsecret-tools"),
    ("pkg-config", "pkg-config"),
    ("gcc", "gcc"),
];

/// Places a tool may be that are not always on a user's `PATH` (`sshd`).
const EXTRA_DIRS: &[&str] = &["/usr/sbin", "/sbin"];

/// Fails, naming every missing tool at once, when any tool the suite needs is not installed.
pub(crate) fn require() {
    static MISSING: OnceLock<Vec<(&str, &str)>> = OnceLock::new();
    let missing = MISSING.get_or_init(|| {
        TOOLS
            .iter()
            .copied()
            .filter(|(tool, _)| !installed(tool))
            .collect()
    });
    if missing.is_empty() {
        return;
    }
    let tools: Vec<&str> = missing.iter().map(|(tool, _)| *tool).collect();
    let mut packages: Vec<&str> = missing.iter().map(|(_, package)| *package).collect();
    packages.dedup();
    panic!(
        "the tests need tools that are not installed: {}\nhint: sudo apt-get install -y {} \
         (or everything the tests need: sudo apt-get install -y $(grep -v '^#' .ci/test-packages.txt))",
        tools.join(", "),
        packages.join(" ")
    );
}

fn installed(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(EXTRA_DIRS.iter().map(|d| Path::new(d).to_path_buf()))
        .any(|dir| dir.join(tool).is_file())
}
