//! Typed views of the settings the tasks and the engine read, so no call site repeats a
//! default or parses a string. Values were checked when the settings were resolved
//! ([`super::validate`]); a key left unset takes the default its [`super::keys::Key`] declares.

use super::{Settings, keys};
use crate::agent::ssh::keygen::KeyType;

/// `ssh_key.create`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyCreation {
    /// When SSH is used with Azure DevOps.
    Auto,
    Always,
    Never,
}

/// `ssh_key.passphrase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Passphrase {
    /// The guided run offers one.
    Optional,
    /// No key without one; silent runs leave the key to the user.
    Required,
    None,
}

/// `ssh_key.registration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Registration {
    /// Sign in with Entra and register the key through the API.
    Api,
    /// The user adds the key on the SSH keys page.
    Guided,
}

/// The `ssh_key` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SshKeySettings {
    pub create: KeyCreation,
    pub kind: KeyType,
    pub passphrase: Passphrase,
    pub registration: Registration,
    /// 1 to 365.
    pub valid_days: u32,
}

/// The `pat` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PatSettings<'s> {
    pub create: bool,
    /// Space-separated scopes.
    pub scopes: &'s str,
    /// 1 to 365.
    pub valid_days: u32,
}

impl Settings {
    /// The `ssh_key` settings.
    pub(crate) fn ssh_key(&self) -> SshKeySettings {
        SshKeySettings {
            create: match self.text(&keys::SSH_KEY_CREATE) {
                Some("always") => KeyCreation::Always,
                Some("never") => KeyCreation::Never,
                _ => KeyCreation::Auto,
            },
            kind: match self.text(&keys::SSH_KEY_TYPE) {
                Some("ed25519") => KeyType::Ed25519,
                _ => KeyType::Rsa {
                    bits: self.number(&keys::SSH_KEY_BITS) as usize,
                },
            },
            passphrase: match self.text(&keys::SSH_KEY_PASSPHRASE) {
                Some("required") => Passphrase::Required,
                Some("none") => Passphrase::None,
                _ => Passphrase::Optional,
            },
            registration: match self.text(&keys::SSH_KEY_REGISTRATION) {
                Some("guided") => Registration::Guided,
                _ => Registration::Api,
            },
            valid_days: self.number(&keys::SSH_KEY_VALID_DAYS).clamp(1, 365),
        }
    }

    /// The `pat` settings.
    pub(crate) fn pat(&self) -> PatSettings<'_> {
        PatSettings {
            create: self.flag(&keys::PAT_CREATE),
            scopes: self.text(&keys::PAT_SCOPES).unwrap_or_default(),
            valid_days: self.number(&keys::PAT_VALID_DAYS).clamp(1, 365),
        }
    }

    /// A number setting, or its key's default. Both were checked (the default by a test), so
    /// the last fallback, 1, is never reached in practice.
    fn number(&self, key: &keys::Key) -> u32 {
        self.text(key)
            .and_then(|text| text.parse().ok())
            .or_else(|| key.default.and_then(|text| text.parse().ok()))
            .unwrap_or(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::env::Env;
    use crate::agent::paths::Paths;

    fn settings(toml: &str) -> Settings {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::sandboxed(dir.path());
        let file = dir.path().join("c.toml");
        std::fs::write(&file, toml).unwrap();
        let inputs = super::super::Inputs {
            config_file: Some(file),
            ..Default::default()
        };
        Settings::resolve(&paths, &Env::default(), &inputs).unwrap()
    }

    #[test]
    fn unset_keys_take_their_declared_defaults() {
        let s = settings("");
        assert_eq!(
            s.ssh_key(),
            SshKeySettings {
                create: KeyCreation::Auto,
                kind: KeyType::Rsa { bits: 4096 },
                passphrase: Passphrase::Optional,
                registration: Registration::Api,
                valid_days: 365,
            }
        );
        assert_eq!(
            s.pat(),
            PatSettings {
                create: false,
                scopes: "vso.code_write",
                valid_days: 30,
            }
        );
    }

    #[test]
    fn set_keys_are_read_as_typed_values() {
        let s = settings(
            "[ssh_key]\ncreate = \"never\"\ntype = \"ed25519\"\npassphrase = \"required\"\nregistration = \"guided\"\nvalid_days = 90\n[pat]\ncreate = true\nvalid_days = 7\n",
        );
        let ssh = s.ssh_key();
        assert_eq!(ssh.create, KeyCreation::Never);
        assert_eq!(ssh.kind, KeyType::Ed25519);
        assert_eq!(ssh.passphrase, Passphrase::Required);
        assert_eq!(ssh.registration, Registration::Guided);
        assert_eq!(ssh.valid_days, 90);
        let pat = s.pat();
        assert!(pat.create);
        assert_eq!(pat.valid_days, 7);
        let rsa = settings("[ssh_key]\ntype = \"rsa\"\nbits = 3072\n").ssh_key();
        assert_eq!(rsa.kind, KeyType::Rsa { bits: 3072 });
    }
}
