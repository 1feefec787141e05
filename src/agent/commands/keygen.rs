//! The hidden `keygen` command.

use std::path::PathBuf;

use super::{Failure, exit, failure, write_stdout};

/// The hidden `keygen` command: the `ssh-key` task's key generation alone, for benchmarks.
pub(super) fn command(path: PathBuf, kind: &str, bits: usize) -> Result<u8, Failure> {
    use crate::agent::ssh::keygen::{self, KeyType, Spec};
    let kind = match kind {
        "rsa" if [3072, 4096].contains(&bits) => KeyType::Rsa { bits },
        "ed25519" => KeyType::Ed25519,
        _ => {
            return Err(failure(
                exit::USAGE,
                format!("cannot make a `{kind}` key of {bits} bits"),
            )
            .hint("use --type rsa with --bits 3072 or 4096, or --type ed25519".to_string()));
        }
    };
    let spec = Spec {
        path,
        kind,
        comment: format!("benchmark {}", keygen::MARKER),
    };
    let key = keygen::generate(&spec, None).map_err(|e| failure(exit::FAILED, e))?;
    keygen::write(&spec, &key).map_err(|e| {
        failure(exit::FAILED, format!("{e}"))
            .hint("name a path where no file exists yet".to_string())
    })?;
    write_stdout(&format!("{}\n", key.fingerprint()))?;
    Ok(exit::OK)
}
