//! SSH for Azure DevOps: the new key pair, the `~/.ssh/config` block that makes ssh offer it, and
//! the `ssh -T` check that Azure DevOps accepts it.

pub(super) mod config;
pub(super) mod keygen;
pub(super) mod primes;
pub(super) mod verify;

/// The host Azure DevOps serves git over SSH on.
pub(super) const HOST: &str = crate::agent::hosts::SSH_DEV_AZURE;

/// The SHA-256 fingerprint of the RSA host key of `ssh.dev.azure.com` (and
/// `vs-ssh.visualstudio.com`), as Microsoft publishes it.
pub(super) const HOST_KEY_SHA256: &str = "SHA256:ohD8VZEXGWo6Ez8GSEJQ9WpafgLFsOfLOtGGQCQo6Og";
