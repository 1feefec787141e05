//! Reports waiting to be delivered: one JSON file each in `<data>/spool`, written atomically,
//! named so that the oldest sorts first, each made to fit the server's limits
//! ([`crate::report::limits::fit`]). Bounded in count and age, so a machine that never reaches
//! the server does not fill up. A report the server refuses for good is set aside in
//! `<data>/spool/refused`, so it never holds up the ones after it.

use std::io;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::agent::fsutil;
use crate::report::Report;

/// At most this many reports wait; the oldest go first.
pub(crate) const MAX_REPORTS: usize = 100;
/// A report older than this is no longer worth sending.
pub(crate) const MAX_AGE_DAYS: i64 = 30;

pub(crate) struct Spool {
    dir: PathBuf,
}

impl Spool {
    pub(crate) fn new(data_dir: &Path) -> Spool {
        Spool {
            dir: data_dir.join("spool"),
        }
    }

    /// Queues a report, made to fit the server's limits; returns its file.
    pub(crate) fn add(&self, report: &Report) -> io::Result<PathBuf> {
        let mut report = report.clone();
        crate::report::limits::fit(&mut report);
        let report = &report;
        std::fs::create_dir_all(&self.dir)?;
        let name = format!(
            "{:020}-{}.json",
            report.finished_at.unix_timestamp_nanos() / 1_000_000,
            report.report_id
        );
        let path = self.dir.join(name);
        let json = serde_json::to_vec(report).map_err(io::Error::other)?;
        fsutil::write_atomic(&path, &json, 0o600)?;
        Ok(path)
    }

    /// The queued reports, oldest first.
    pub(crate) fn list(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
    }

    /// Where the key the server gave this device is kept (0600): later reports are signed with
    /// it ([`crate::report::signature`]).
    pub(crate) fn key_file(&self) -> PathBuf {
        self.dir.parent().map_or_else(
            || PathBuf::from("device-key"),
            |data| data.join("device-key"),
        )
    }

    /// Moves a queued report the server refused for good to `refused/`, next to a note of why;
    /// returns where it went. Only the newest [`MAX_REPORTS`] set aside are kept.
    pub(crate) fn set_aside(&self, file: &Path, why: &str) -> io::Result<PathBuf> {
        let refused = self.dir.join("refused");
        std::fs::create_dir_all(&refused)?;
        let name = file.file_name().unwrap_or_default();
        let target = refused.join(name);
        std::fs::rename(file, &target)?;
        fsutil::write_atomic(&target.with_extension("why.txt"), why.as_bytes(), 0o600)?;
        let mut kept: Vec<PathBuf> = std::fs::read_dir(&refused)?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        kept.sort();
        for old in kept.iter().take(kept.len().saturating_sub(MAX_REPORTS)) {
            let _ = std::fs::remove_file(old);
            let _ = std::fs::remove_file(old.with_extension("why.txt"));
        }
        Ok(target)
    }

    /// Drops what is too old or too many (oldest first); returns how many went.
    pub(crate) fn prune(&self, now: OffsetDateTime) -> usize {
        let files = self.list();
        let too_old = (now - time::Duration::days(MAX_AGE_DAYS)).unix_timestamp_nanos() / 1_000_000;
        let excess = files.len().saturating_sub(MAX_REPORTS);
        let mut dropped = 0;
        for (i, file) in files.iter().enumerate() {
            let finished: i128 = file
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.split('-').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            if (i < excess || finished < too_old) && std::fs::remove_file(file).is_ok() {
                dropped += 1;
            }
        }
        dropped
    }
}

/// A small report finished at `at` (Unix seconds), for tests.
#[cfg(test)]
pub(crate) fn sample_report(at: i64) -> Report {
    use crate::report::{Device, Mode, Outcome, User};
    let at = OffsetDateTime::from_unix_timestamp(at).unwrap();
    Report {
        schema_version: 1,
        report_id: uuid::Uuid::new_v4(),
        agent_version: "0".into(),
        mode: Mode::Run,
        started_at: at,
        finished_at: at,
        device: Device {
            hostname: "h".into(),
            os: "linux".into(),
            os_version: "1".into(),
            arch: "x86_64".into(),
            device_id: "d".into(),
        },
        user: User {
            name: "u".into(),
            upn: None,
            upn_source: None,
        },
        outcome: Outcome::Done,
        tasks: Vec::new(),
        organizations: Vec::new(),
        group: None,
        inventory: None,
        inventory_left_out: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_first_and_bounded_by_count_and_age() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path());
        let day = 24 * 3600;
        let now = OffsetDateTime::from_unix_timestamp(100 * day).unwrap();
        let old = spool.add(&sample_report(100 * day - 31 * day)).unwrap();
        let newer = spool.add(&sample_report(100 * day - day)).unwrap();
        let older = spool.add(&sample_report(100 * day - 2 * day)).unwrap();
        assert_eq!(spool.list(), [old.clone(), older.clone(), newer.clone()]);
        assert_eq!(spool.prune(now), 1, "the 31-day-old report goes");
        for i in 0..MAX_REPORTS {
            spool
                .add(&sample_report(100 * day - 3 * day + i as i64))
                .unwrap();
        }
        assert_eq!(spool.prune(now), 2);
        assert_eq!(spool.list().len(), MAX_REPORTS);
        assert!(spool.list().contains(&newer) && spool.list().contains(&older));
    }
}
