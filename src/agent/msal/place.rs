//! Where an MSAL token cache lives, and reading and writing it back the way it was kept: a
//! plain JSON file, a file protected with DPAPI (Windows), or an item in the OS credential store
//! (the Secret Service on Linux, the keychain on macOS; a marker file stands beside it). MSAL
//! for .NET (Git Credential Manager, Visual Studio, the Artifacts credential provider) keeps the
//! Secret Service item's JSON base64-encoded (`LinuxKeyringAccessor`: `Convert.ToBase64String`),
//! MSAL for Python's extensions keep it as it is: a rewrite keeps whichever form it found.
//!
//! MSAL and its extensions serialize writers with a lock file beside the cache
//! (`<cache>.lockfile`, made exclusively and removed when done); a rewrite takes the same lock,
//! so it never interleaves with Visual Studio or Git Credential Manager saving the cache.

use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::agent::fsutil;
use crate::agent::platform;
use crate::agent::secrets::{Item, Store};

/// How long a rewrite waits for another program's lock (briefly in unit tests).
const LOCK_WAIT: Duration = if cfg!(test) {
    Duration::from_millis(300)
} else {
    Duration::from_secs(5)
};
/// A lock file older than this was left by a program that stopped while holding it.
const STALE_LOCK: Duration = Duration::from_secs(60);

/// One cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Place {
    /// A file, DPAPI-protected when `protected`.
    File { path: PathBuf, protected: bool },
    /// An item in the OS credential store; `marker` is the file MSAL locks beside it.
    Secret { item: Item, marker: PathBuf },
}

impl Place {
    /// The file the lock is taken for.
    fn lock_path(&self) -> PathBuf {
        let file = match self {
            Place::File { path, .. } => path,
            Place::Secret { marker, .. } => marker,
        };
        let mut name = file.file_name().unwrap_or_default().to_os_string();
        name.push(".lockfile");
        file.with_file_name(name)
    }

    /// The cache's JSON; `None` when it is not there.
    pub(crate) fn read(&self, store: Option<&Store>) -> Result<Option<Vec<u8>>, String> {
        match self {
            Place::File { path, protected } => {
                let bytes = match fsutil::read_capped(path) {
                    Ok(bytes) => bytes,
                    Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
                    Err(err) => return Err(format!("it cannot be read ({err})")),
                };
                if *protected && !bytes.is_empty() {
                    return platform::unprotect(&bytes).map(Some);
                }
                Ok(Some(bytes))
            }
            Place::Secret { item, .. } => Ok(store
                .ok_or("the OS credential store is not in use")?
                .read(item)?
                .map(|secret| decode(&secret).0)),
        }
    }

    /// Replaces the cache's JSON, protected (and encoded, `base64`) as it was.
    fn write(&self, store: Option<&Store>, json: &[u8], base64: bool) -> Result<(), String> {
        match self {
            Place::File { path, protected } => {
                let bytes = if *protected {
                    platform::protect(json)?
                } else {
                    json.to_vec()
                };
                fsutil::write_atomic(path, &bytes, 0o600).map_err(|err| err.to_string())
            }
            Place::Secret { item, .. } => {
                let secret = if base64 {
                    BASE64.encode(json).into_bytes()
                } else {
                    json.to_vec()
                };
                store
                    .ok_or("the OS credential store is not in use")?
                    .write(item, &secret)
            }
        }
    }

    /// Under the cache's lock: reads it, lets `change` make the new JSON (`None`: nothing to
    /// change) and writes that back. Returns what `change` returned beside the JSON.
    pub(crate) fn rewrite<T>(
        &self,
        store: Option<&Store>,
        change: impl FnOnce(&[u8]) -> Result<Option<(Vec<u8>, T)>, String>,
    ) -> Result<Option<T>, String> {
        let _lock = Lock::take(&self.lock_path())?;
        let (json, base64) = match self {
            Place::File { .. } => match self.read(store)? {
                Some(json) => (json, false),
                None => return Ok(None),
            },
            Place::Secret { item, .. } => {
                let store = store.ok_or("the OS credential store is not in use")?;
                match store.read(item)? {
                    Some(secret) => decode(&secret),
                    None => return Ok(None),
                }
            }
        };
        let Some((new, out)) = change(&json)? else {
            return Ok(None);
        };
        self.write(store, &new, base64)?;
        Ok(Some(out))
    }
}

/// A store item's JSON, and whether it was base64-encoded (a JSON object never is valid
/// base64: it starts with `{`).
fn decode(secret: &[u8]) -> (Vec<u8>, bool) {
    let trimmed = secret.trim_ascii();
    if trimmed.first() != Some(&b'{')
        && let Ok(json) = BASE64.decode(trimmed)
    {
        return (json, true);
    }
    (secret.to_vec(), false)
}

/// MSAL's lock file, held while this value lives.
struct Lock {
    path: PathBuf,
}

impl Lock {
    fn take(path: &Path) -> Result<Lock, String> {
        let started = SystemTime::now();
        loop {
            match OpenOptions::new().write(true).create_new(true).open(path) {
                Ok(_) => {
                    return Ok(Lock {
                        path: path.to_path_buf(),
                    });
                }
                // No folder: no cache either; nothing to lock.
                Err(err) if err.kind() == io::ErrorKind::NotFound => {
                    return Ok(Lock {
                        path: PathBuf::new(),
                    });
                }
                Err(err) if err.kind() != io::ErrorKind::AlreadyExists => {
                    return Err(format!("its lock file cannot be made ({err})"));
                }
                Err(_) => {}
            }
            let age = std::fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|at| at.elapsed().ok());
            if age.is_some_and(|age| age > STALE_LOCK) {
                // Left by a program that stopped while writing: MSAL itself takes it over too.
                let _ = std::fs::remove_file(path);
                continue;
            }
            if started.elapsed().unwrap_or_default() > LOCK_WAIT {
                return Err(
                    "another program is writing it (its lock file is held); the next run tries again"
                        .into(),
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewrite_waits_for_nobody_when_the_lock_is_free_and_removes_its_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("msal.cache");
        std::fs::write(&path, b"{}").unwrap();
        let place = Place::File {
            path: path.clone(),
            protected: false,
        };
        let out = place
            .rewrite(None, |json| {
                assert_eq!(json, b"{}");
                Ok(Some((b"{\"Account\":{}}".to_vec(), 7)))
            })
            .unwrap();
        assert_eq!(out, Some(7));
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"Account\":{}}");
        assert!(!dir.path().join("msal.cache.lockfile").exists());
        // Nothing to change: the file stays as it is.
        assert_eq!(place.rewrite(None, |_| Ok(None::<(Vec<u8>, u8)>)), Ok(None));
    }

    #[test]
    fn store_secrets_are_read_in_either_form_and_keep_it() {
        let json = br#"{"Account":{}}"#;
        assert_eq!(decode(json), (json.to_vec(), false));
        let encoded = BASE64.encode(json);
        assert_eq!(decode(encoded.as_bytes()), (json.to_vec(), true));
        // Neither JSON nor base64: handed on as it is (the format check then refuses it).
        assert_eq!(decode(b"not a cache!"), (b"not a cache!".to_vec(), false));
    }

    #[test]
    fn a_held_lock_is_waited_for_and_then_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("msal.cache");
        std::fs::write(&path, b"{}").unwrap();
        std::fs::write(dir.path().join("msal.cache.lockfile"), b"").unwrap();
        let place = Place::File {
            path: path.clone(),
            protected: false,
        };
        let err = place
            .rewrite(None, |_| Ok(Some((b"x".to_vec(), ()))))
            .unwrap_err();
        assert!(err.contains("another program is writing it"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"{}");
        // The other program's lock is not ours to remove.
        assert!(dir.path().join("msal.cache.lockfile").exists());
    }
}
