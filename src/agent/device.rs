//! Who and where: the device and user a report is about.
//!
//! The device id is stable per machine but never a hardware serial in clear: it is a SHA-256 of
//! the operating system's machine id with a fixed prefix. Where no machine id can be read, a
//! random id is kept in the agent's data folder instead.

use std::path::Path;

use crate::report::{Device, User};

use crate::agent::data::journal::sha256_hex;
use crate::agent::env::Env;
use crate::agent::fsutil;
use crate::agent::paths::Paths;
use crate::agent::platform;

/// The device this agent runs on.
pub(super) fn device(paths: &Paths) -> Device {
    Device {
        hostname: sysinfo::System::host_name().unwrap_or_else(|| "unknown".into()),
        os: std::env::consts::OS.to_string(),
        os_version: sysinfo::System::long_os_version()
            .or_else(sysinfo::System::os_version)
            .unwrap_or_else(|| "unknown".into()),
        arch: std::env::consts::ARCH.to_string(),
        device_id: device_id(paths),
    }
}

/// The operating-system user.
pub(super) fn user(env: &Env) -> User {
    let name = ["USERNAME", "USER", "LOGNAME"]
        .iter()
        .find_map(|var| env.get(var).filter(|v| !v.is_empty()))
        .map(str::to_string)
        .or_else(platform::account_name)
        .unwrap_or_else(|| "unknown".to_string());
    User {
        name,
        upn: None,
        upn_source: None,
    }
}

fn device_id(paths: &Paths) -> String {
    // In a sandbox the machine id comes from the sandbox, so tests see a fixed, fake id.
    let machine = match &paths.sandbox {
        Some(_) => std::fs::read_to_string(paths.managed_dir.join("machine-id"))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
        None => platform::machine_id(),
    };
    let seed = machine.unwrap_or_else(|| stored_random_id(&paths.data_dir));
    hash_id(&seed)
}

/// The device id for a machine id.
pub fn hash_id(machine_id: &str) -> String {
    sha256_hex(format!("ado-cutover device id v1\n{machine_id}").as_bytes())[..32].to_string()
}

fn stored_random_id(data_dir: &Path) -> String {
    let path = data_dir.join("device-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        let id = id.trim();
        if !id.is_empty() {
            return id.to_string();
        }
    }
    let id = uuid::Uuid::new_v4().to_string();
    // If it cannot be stored the id changes between runs, which only costs the dashboard a merge.
    let _ = fsutil::write_atomic(&path, id.as_bytes(), 0o600);
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_name_comes_from_the_system_when_the_environment_has_none() {
        let from_env = user(&Env::from_pairs([("USER", "alice")]));
        assert_eq!(from_env.name, "alice");
        let bare = user(&Env::default());
        assert_ne!(bare.name, "unknown", "the system knows who runs this");
        assert!(!bare.name.is_empty());
    }

    #[test]
    fn device_id_is_a_hash_not_the_machine_id() {
        let id = hash_id("0123456789abcdef0123456789abcdef");
        assert_eq!(id.len(), 32);
        assert!(!id.contains("0123456789abcdef"));
        assert_eq!(id, hash_id("0123456789abcdef0123456789abcdef"));
        assert_ne!(id, hash_id("another machine"));
    }

    #[test]
    fn without_a_machine_id_a_random_id_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::sandboxed(dir.path());
        let first = device_id(&paths);
        assert_eq!(first, device_id(&paths));
        std::fs::create_dir_all(&paths.managed_dir).unwrap();
        std::fs::write(paths.managed_dir.join("machine-id"), "fixed\n").unwrap();
        assert_eq!(device_id(&paths), hash_id("fixed"));
    }
}
