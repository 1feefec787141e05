//! A new SSH key pair, made with the ssh-key crate and written next to the user's other keys
//! without ever replacing one.
//!
//! The private key is written to a temporary file in `~/.ssh` and linked into place only if the
//! name is still free (`persist_noclobber`), so a key that appears in the meantime is never
//! overwritten. It is private to the user: mode 0600 on Unix, an owner-only ACL on Windows.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use ssh_key::private::{KeypairData, RsaKeypair};
use ssh_key::rand_core::OsRng;
use ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey};

use crate::agent::{fsutil, platform};

/// Written into every key comment, so a later run recognises the keys it made.
pub(crate) const MARKER: &str = "ado-cutover";

/// The kind of key to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyType {
    Rsa { bits: usize },
    Ed25519,
}

impl KeyType {
    /// The usual file name stem: `id_rsa`, `id_ed25519`.
    pub(crate) fn stem(self) -> &'static str {
        match self {
            KeyType::Rsa { .. } => "id_rsa",
            KeyType::Ed25519 => "id_ed25519",
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyType::Rsa { bits } => write!(f, "{bits}-bit RSA"),
            KeyType::Ed25519 => f.write_str("Ed25519"),
        }
    }
}

/// What to make and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Spec {
    /// The private key's path; the public key goes next to it with `.pub` added.
    pub path: PathBuf,
    pub kind: KeyType,
    /// `user@device ado-cutover YYYY-MM-DD`.
    pub comment: String,
}

/// The `.pub` file next to a private key.
pub(crate) fn public_path(private: &Path) -> PathBuf {
    let mut name = private.as_os_str().to_os_string();
    name.push(".pub");
    PathBuf::from(name)
}

/// The first of `~/.ssh/id_rsa_azure_devops`, `…_2`, `…_3`, … where neither the key nor its
/// `.pub` exists.
pub(crate) fn free_name(ssh_dir: &Path, kind: KeyType) -> PathBuf {
    let base = format!("{}_azure_devops", kind.stem());
    (1..)
        .map(|n| {
            let name = if n == 1 {
                base.clone()
            } else {
                format!("{base}_{n}")
            };
            ssh_dir.join(name)
        })
        .find(|path| {
            fs::symlink_metadata(path).is_err() && fs::symlink_metadata(public_path(path)).is_err()
        })
        .expect("an unbounded range always has a free name")
}

/// The names ado-cutover would have used, in order (to find a key an earlier run made).
pub(crate) fn our_names(ssh_dir: &Path, kind: KeyType) -> Vec<PathBuf> {
    let base = format!("{}_azure_devops", kind.stem());
    (1..=20)
        .map(|n| match n {
            1 => ssh_dir.join(&base),
            n => ssh_dir.join(format!("{base}_{n}")),
        })
        .collect()
}

/// A key pair in memory.
pub(crate) struct Generated {
    key: PrivateKey,
}

impl Generated {
    /// The public key as one `authorized_keys` line (no newline).
    pub(crate) fn public_line(&self) -> String {
        self.key
            .public_key()
            .to_openssh()
            .unwrap_or_else(|_| String::new())
    }

    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub(crate) fn fingerprint(&self) -> String {
        fingerprint(self.key.public_key())
    }
}

/// `SHA256:…` of a public key.
pub(crate) fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Makes a key pair; with a passphrase the private key is encrypted the way `ssh-keygen` does
/// (bcrypt-pbkdf and AES-256-CTR).
pub(crate) fn generate(spec: &Spec, passphrase: Option<&str>) -> Result<Generated, String> {
    let mut rng = OsRng;
    let data = match spec.kind {
        KeyType::Rsa { bits } => super::primes::rsa_key(bits)
            .and_then(|key| RsaKeypair::try_from(key).map_err(|e| e.to_string()))
            .map(KeypairData::from)
            .map_err(|e| format!("could not make the RSA key: {e}"))?,
        KeyType::Ed25519 => KeypairData::from(ed25519()?),
    };
    let mut key = PrivateKey::new(data, spec.comment.clone())
        .map_err(|e| format!("could not make the key: {e}"))?;
    if let Some(passphrase) = passphrase.filter(|p| !p.is_empty()) {
        key = key
            .encrypt(&mut rng, passphrase)
            .map_err(|e| format!("could not protect the key with the passphrase: {e}"))?;
    }
    Ok(Generated { key })
}

/// An Ed25519 key pair from ring. ring hands out a PKCS#8 v2 document whose layout is fixed
/// (RFC 8410): the 32-byte seed sits at bytes 16..48. ring checks the pair when it reads the
/// document back, and the public key is taken from ring, not from the document.
fn ed25519() -> Result<ssh_key::private::Ed25519Keypair, String> {
    use ring::signature::{Ed25519KeyPair, KeyPair};
    const FAILED: &str = "could not make the Ed25519 key";
    let rng = ring::rand::SystemRandom::new();
    let document = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| FAILED)?;
    let pair = Ed25519KeyPair::from_pkcs8(document.as_ref()).map_err(|_| FAILED)?;
    let seed: [u8; 32] = document
        .as_ref()
        .get(16..48)
        .and_then(|s| s.try_into().ok())
        .ok_or("could not read the Ed25519 key")?;
    let public: [u8; 32] = pair
        .public_key()
        .as_ref()
        .try_into()
        .map_err(|_| "could not read the Ed25519 public key")?;
    Ed25519KeyPair::from_seed_and_public_key(&seed, &public).map_err(|_| FAILED)?;
    Ok(ssh_key::private::Ed25519Keypair {
        public: ssh_key::public::Ed25519PublicKey(public),
        private: ssh_key::private::Ed25519PrivateKey::from_bytes(&seed),
    })
}

/// Writes the key pair to `spec.path` and its `.pub`, never replacing an existing file.
/// Creates `~/.ssh` (mode 0700) when it is missing. Returns a warning when the key could not be
/// made owner-only on Windows (it stays in the user's profile, which is private by default).
pub(crate) fn write(spec: &Spec, key: &Generated) -> io::Result<Option<String>> {
    let dir = spec
        .path
        .parent()
        .ok_or_else(|| io::Error::other("the key path has no folder"))?;
    if !dir.exists() {
        fs::create_dir_all(dir)?;
        fsutil::set_mode(dir, 0o700)?;
    }
    let private = key
        .key
        .to_openssh(LineEnding::LF)
        .map_err(|e| io::Error::other(format!("could not encode the key: {e}")))?;
    let public = public_path(&spec.path);
    if fs::symlink_metadata(&public).is_ok() {
        return Err(exists(&public));
    }
    fsutil::create_new(&spec.path, private.as_bytes(), 0o600).map_err(|e| named(e, &spec.path))?;
    let warning = platform::restrict_to_owner(&spec.path).err();
    if let Err(err) = fsutil::create_new(
        &public,
        format!("{}\n", key.public_line()).as_bytes(),
        0o644,
    )
    .map_err(|e| named(e, &public))
    {
        // The pair belongs together: a private key without its public half is removed again
        // (it was created a moment ago by this run, and nothing else knows it).
        let _ = fs::remove_file(&spec.path);
        return Err(err);
    }
    Ok(warning.map(|why| format!("the key could not be made readable by you alone: {why}")))
}

/// A key file that appeared meanwhile is named as such.
fn named(err: io::Error, path: &Path) -> io::Error {
    if err.kind() == io::ErrorKind::AlreadyExists {
        exists(path)
    } else {
        err
    }
}

fn exists(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "{} already exists; ado-cutover never replaces a key",
            path.display()
        ),
    )
}

/// The public key inside the private key file at `private` (readable without the passphrase),
/// with its comment when the key is not encrypted.
pub(crate) fn public_of_private(private: &Path) -> Option<PublicKey> {
    let text = fsutil::read_capped_text(private).ok()?;
    let key = PrivateKey::from_openssh(text.trim()).ok()?;
    Some(key.public_key().clone())
}

/// Writes `public` as the `.pub` of `private`, never over an existing file.
pub(crate) fn write_public(private: &Path, public: &PublicKey) -> io::Result<()> {
    let path = public_path(private);
    let line = public
        .to_openssh()
        .map_err(|e| io::Error::other(format!("could not encode the key: {e}")))?;
    fsutil::create_new(&path, format!("{line}\n").as_bytes(), 0o644).map_err(|e| named(e, &path))
}

/// The public key in `path.pub`, when it can be read.
pub(crate) fn read_public(private: &Path) -> Option<PublicKey> {
    let text = fsutil::read_capped_text(&public_path(private)).ok()?;
    PublicKey::from_openssh(text.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dir: &Path, kind: KeyType) -> Spec {
        Spec {
            path: free_name(dir, kind),
            kind,
            comment: format!("jo@laptop {MARKER} 2026-11-22"),
        }
    }

    #[test]
    fn names_never_clash_with_existing_files() {
        let dir = tempfile::tempdir().unwrap();
        let kind = KeyType::Rsa { bits: 3072 };
        assert_eq!(
            free_name(dir.path(), kind),
            dir.path().join("id_rsa_azure_devops")
        );
        // Only the public half left behind still takes the name.
        fs::write(dir.path().join("id_rsa_azure_devops.pub"), "x").unwrap();
        assert_eq!(
            free_name(dir.path(), kind),
            dir.path().join("id_rsa_azure_devops_2")
        );
    }

    #[test]
    fn writes_a_private_pair_and_never_replaces_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let ssh = dir.path().join(".ssh");
        let spec = spec(&ssh, KeyType::Ed25519);
        let key = generate(&spec, None).unwrap();
        write(&spec, &key).unwrap();
        let public = read_public(&spec.path).unwrap();
        assert_eq!(fingerprint(&public), key.fingerprint());
        assert!(public.comment().contains(MARKER));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&spec.path), 0o600);
            assert_eq!(mode(&ssh), 0o700);
        }
        let before = fs::read(&spec.path).unwrap();
        let other = generate(&spec, None).unwrap();
        let err = write(&spec, &other).unwrap_err();
        assert!(err.to_string().contains("never replaces"), "{err}");
        assert_eq!(
            fs::read(&spec.path).unwrap(),
            before,
            "the first key is intact"
        );
    }
}
