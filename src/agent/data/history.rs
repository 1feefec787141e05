//! The reports of past plans, runs and undos, kept in the agent's data folder for `report`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::report::Report;

use crate::agent::fsutil;

/// How many reports are kept; older ones are removed.
const KEEP: usize = 50;

/// The saved reports.
#[derive(Debug, Clone)]
pub(crate) struct History {
    dir: PathBuf,
}

impl History {
    pub(crate) fn new(data_dir: &Path) -> History {
        History {
            dir: data_dir.join("reports"),
        }
    }

    /// Saves `report` atomically and returns where.
    pub(crate) fn save(&self, report: &Report) -> io::Result<PathBuf> {
        let stamp = report
            .started_at
            .format(time::macros::format_description!(
                "[year][month][day]T[hour][minute][second][subsecond digits:6]Z"
            ))
            .map_err(io::Error::other)?;
        let mode = serde_json::to_value(report.mode).map_err(io::Error::other)?;
        let name = format!(
            "{stamp}-{}-{}.json",
            mode.as_str().unwrap_or("report"),
            report.report_id
        );
        let path = self.dir.join(name);
        let json = serde_json::to_vec_pretty(report).map_err(io::Error::other)?;
        fsutil::write_atomic(&path, &json, 0o600)?;
        self.prune()?;
        Ok(path)
    }

    fn names(&self) -> io::Result<Vec<String>> {
        let mut names: Vec<String> = match fs::read_dir(&self.dir) {
            Ok(dir) => dir
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
                .collect(),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(err) => return Err(err),
        };
        // The names start with a UTC timestamp, so they sort by time.
        names.sort();
        Ok(names)
    }

    fn prune(&self) -> io::Result<()> {
        let names = self.names()?;
        for name in names.iter().take(names.len().saturating_sub(KEEP)) {
            fs::remove_file(self.dir.join(name))?;
        }
        Ok(())
    }

    /// The newest report and its path, if any.
    pub(crate) fn last(&self) -> io::Result<Option<(Report, PathBuf)>> {
        let Some(name) = self.names()?.pop() else {
            return Ok(None);
        };
        let path = self.dir.join(name);
        let report = serde_json::from_slice(&fs::read(&path)?).map_err(|err| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {err}", path.display()),
            )
        })?;
        Ok(Some((report, path)))
    }
}
