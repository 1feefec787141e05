//! Platform-specific facts, one small module per OS behind `cfg`.
//!
//! Each module answers the same questions: where the per-user folders are under a home folder,
//! where the agent keeps its data and logs, where IT puts the managed configuration, what the
//! machine's id is, and whether the agent was started by a double-click.

use std::path::PathBuf;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::*;

#[cfg(target_os = "macos")]
mod macos;
#[cfg(target_os = "macos")]
pub use macos::*;

#[cfg(all(unix, not(target_os = "macos")))]
mod linux;
#[cfg(all(unix, not(target_os = "macos")))]
pub use linux::*;

/// The agent's own data and log folders.
#[derive(Debug, Clone)]
pub struct AppDirs {
    pub data: PathBuf,
    pub logs: PathBuf,
}
