//! The log file: what a run did, with times, in the platform's per-user log folder. Device
//! management reads it when a silent run needs explaining. It holds only report text, which
//! never carries a secret.

use std::io::Write;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::agent::fsutil;

/// Past this size the log is moved to `ado-cutover.log.1` and a new one started.
const ROTATE_AT: u64 = 1 << 20;

/// Appends lines to `ado-cutover.log`.
#[derive(Debug)]
pub(crate) struct Log {
    path: PathBuf,
}

impl Log {
    /// The log in `log_dir`, rotated if it grew too large.
    pub(crate) fn new(log_dir: &Path) -> Log {
        let path = log_dir.join("ado-cutover.log");
        if std::fs::metadata(&path).is_ok_and(|m| m.len() > ROTATE_AT) {
            let _ = std::fs::rename(&path, log_dir.join("ado-cutover.log.1"));
        }
        Log { path }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `text`, each line stamped with `at`.
    pub(crate) fn write(&self, at: OffsetDateTime, text: &str) -> std::io::Result<()> {
        let stamp = at.format(&Rfc3339).unwrap_or_default();
        let mut out = String::new();
        for line in text.lines() {
            out.push_str(&stamp);
            out.push(' ');
            out.push_str(line);
            out.push('\n');
        }
        fsutil::open_append_private(&self.path)?.write_all(out.as_bytes())
    }
}
