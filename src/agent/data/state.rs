//! What the agent remembers between runs, beyond the journal: facts that the cleanup itself
//! erases (the tenant cache is the evidence that an organization used personal Microsoft
//! accounts) and which user steps a person has already been shown.
//!
//! Without it a second run would forget that the guidance applies, or repeat it forever.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::agent::fsutil;

/// The remembered facts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct State {
    /// Organizations seen backed by personal Microsoft accounts.
    #[serde(default)]
    pub msa_orgs: BTreeSet<String>,
    /// The Entra tenant each organization was seen on before it moved.
    #[serde(default)]
    pub old_tenants: BTreeMap<String, String>,
    /// Organizations seen on personal Microsoft accounts before they moved.
    #[serde(default)]
    pub msa_backed: BTreeSet<String>,
    /// User steps shown to the person, and when.
    #[serde(default)]
    pub shown_steps: BTreeMap<String, String>,
    /// The SSH key fingerprint registered with each organization.
    #[serde(default)]
    pub ssh_registered: BTreeMap<String, String>,
    /// SSH key fingerprints Azure DevOps was seen to accept, and when.
    #[serde(default)]
    pub ssh_verified: BTreeMap<String, String>,
    /// Organizations a personal access token was created for, and when.
    #[serde(default)]
    pub pat_created: BTreeMap<String, String>,
    /// The work account Git Credential Manager was bound to, remembered because the
    /// `credentials` task clears the binding (see `identity`).
    #[serde(default)]
    pub work_account: Option<String>,
}

fn file(data_dir: &Path) -> PathBuf {
    data_dir.join("state.json")
}

impl State {
    /// The saved state; empty when there is none or it cannot be read (it is only a memory).
    pub(crate) fn load(data_dir: &Path) -> State {
        std::fs::read(file(data_dir))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Saves the state atomically.
    pub(crate) fn save(&self, data_dir: &Path) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        fsutil::write_atomic(&file(data_dir), &json, 0o600)
    }

    /// Loads, changes and saves the state in one step (for facts learnt while applying).
    pub(crate) fn update(data_dir: &Path, change: impl FnOnce(&mut State)) -> io::Result<()> {
        let mut state = State::load(data_dir);
        change(&mut state);
        state.save(data_dir)
    }

    /// Records that step `id` was shown at `at`.
    pub(crate) fn mark_shown(&mut self, id: &str, at: OffsetDateTime) {
        let stamp = at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        self.shown_steps.entry(id.to_string()).or_insert(stamp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_tolerates_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(State::load(dir.path()), State::default());
        let mut state = State::default();
        state.msa_orgs.insert("contoso".into());
        state.mark_shown("rename-personal-account", OffsetDateTime::UNIX_EPOCH);
        state.mark_shown("rename-personal-account", OffsetDateTime::now_utc());
        state.save(dir.path()).unwrap();
        let loaded = State::load(dir.path());
        assert_eq!(loaded, state);
        assert_eq!(
            loaded.shown_steps["rename-personal-account"],
            "1970-01-01T00:00:00Z"
        );
        std::fs::write(file(dir.path()), b"{not json").unwrap();
        assert_eq!(State::load(dir.path()), State::default());
    }
}
