//! The process environment as an input value, read once at the binary's edge.
//!
//! Nothing deep inside the agent calls `std::env::var`: settings, paths and tasks get this value
//! instead, so tests can drive every variable without touching the test process.

use std::collections::BTreeMap;
use std::ffi::OsString;

/// A snapshot of environment variables.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: BTreeMap<OsString, OsString>,
}

/// Variables that name places outside the home folder. In a sandbox (`ADO_CUTOVER_SANDBOX`)
/// they are dropped when the environment is read, so nothing inside the agent needs to know
/// about sandboxes: everything then derives from the sandbox's home.
pub(super) const OUTSIDE_THE_HOME: &[&str] = &[
    "GIT_CONFIG_GLOBAL",
    "XDG_CONFIG_HOME",
    "GCM_PLAINTEXT_STORE_PATH",
    "GCM_DPAPI_STORE_PATH",
    "PASSWORD_STORE_DIR",
    "GCM_NAMESPACE",
];

impl Env {
    /// The current process's environment; in a sandbox without the variables that name places
    /// outside it ([`OUTSIDE_THE_HOME`]).
    pub fn from_process() -> Env {
        Env {
            vars: std::env::vars_os().collect(),
        }
        .for_sandbox()
    }

    /// This environment, without [`OUTSIDE_THE_HOME`] when `ADO_CUTOVER_SANDBOX` is set.
    pub fn for_sandbox(mut self) -> Env {
        if self.get_os(crate::agent::paths::SANDBOX_VAR).is_some() {
            self.vars
                .retain(|name, _| !OUTSIDE_THE_HOME.iter().any(|drop| name == *drop));
        }
        self
    }

    /// An environment holding exactly these variables (tests).
    pub fn from_pairs<K: Into<OsString>, V: Into<OsString>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Env {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// A variable's value; `None` when unset, empty or not Unicode.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_os(name)
            .and_then(|v| v.to_str())
            .filter(|v| !v.is_empty())
    }

    /// A variable's raw value; `None` when unset or empty.
    pub fn get_os(&self, name: &str) -> Option<&OsString> {
        let found = if cfg!(windows) {
            // Windows variable names are case-insensitive.
            self.vars
                .iter()
                .find(|(k, _)| k.to_string_lossy().eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        } else {
            self.vars.get(&OsString::from(name))
        };
        found.filter(|v| !v.is_empty())
    }

    /// True when the variable is set to a non-empty value other than `0` or `false`.
    pub fn flag(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| v != "0" && !v.eq_ignore_ascii_case("false"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sandbox_drops_the_variables_that_lead_outside_it() {
        let pairs = [("GIT_CONFIG_GLOBAL", "/elsewhere"), ("HOME", "/h")];
        let plain = Env::from_pairs(pairs).for_sandbox();
        assert_eq!(plain.get("GIT_CONFIG_GLOBAL"), Some("/elsewhere"));
        let sandboxed = Env::from_pairs(
            pairs
                .into_iter()
                .chain([(crate::agent::paths::SANDBOX_VAR, "/tmp/s")]),
        )
        .for_sandbox();
        assert_eq!(sandboxed.get("GIT_CONFIG_GLOBAL"), None);
        assert_eq!(sandboxed.get("HOME"), Some("/h"));
    }

    #[test]
    fn empty_values_count_as_unset() {
        let env = Env::from_pairs([("A", ""), ("B", "x")]);
        assert_eq!(env.get("A"), None);
        assert_eq!(env.get("B"), Some("x"));
        assert_eq!(env.get("C"), None);
    }

    #[test]
    fn flags() {
        let env = Env::from_pairs([("ON", "1"), ("OFF", "0"), ("NO", "False")]);
        assert!(env.flag("ON"));
        assert!(!env.flag("OFF"));
        assert!(!env.flag("NO"));
        assert!(!env.flag("MISSING"));
    }
}
