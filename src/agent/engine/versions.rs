//! The versions of files this run wrote itself, so that several planned changes to one file
//! compose in one run.
//!
//! A planned change names the file's SHA-256 at plan time and is refused when the file no longer
//! has it: something else changed the file since the plan. But three organizations' lines in one
//! `~/.git-credentials`, or two blocks of one `~/.ssh/config`, are planned against the same
//! checksum, and the first change made moves the file on. So every write the engine makes is
//! recorded as `before -> after`, and a later change accepts any checksum reachable from its
//! planned one through this run's own writes, and nothing else.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A file's checksum, or `None` for a file that does not exist.
pub(crate) type Sha = Option<String>;

/// This run's own writes, per file.
#[derive(Debug, Default)]
pub(crate) struct Versions {
    writes: RefCell<HashMap<PathBuf, Vec<(Sha, Sha)>>>,
}

impl Versions {
    /// True when a file whose checksum is now `current` is still the one planned as `planned`:
    /// the same, or what this run's own writes made of it.
    pub(crate) fn accepts(&self, path: &Path, planned: &Sha, current: &Sha) -> bool {
        if planned == current {
            return true;
        }
        let writes = self.writes.borrow();
        let Some(steps) = writes.get(path) else {
            return false;
        };
        let mut reached = vec![planned.clone()];
        // Each pass follows one more write; a chain is never longer than the writes made.
        for _ in 0..steps.len() {
            let before = reached.len();
            for (from, to) in steps {
                if reached.contains(from) && !reached.contains(to) {
                    reached.push(to.clone());
                }
            }
            if reached.len() == before {
                break;
            }
        }
        reached.contains(current)
    }

    /// Records that this run turned `path` from `before` into `after`.
    pub(crate) fn record(&self, path: &Path, before: Sha, after: Sha) {
        if before != after {
            self.writes
                .borrow_mut()
                .entry(path.to_path_buf())
                .or_default()
                .push((before, after));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(s: &str) -> Sha {
        Some(s.to_string())
    }

    #[test]
    fn a_file_our_own_writes_moved_on_is_still_the_planned_one() {
        let versions = Versions::default();
        let file = Path::new("credentials");
        assert!(versions.accepts(file, &sha("a"), &sha("a")));
        assert!(!versions.accepts(file, &sha("a"), &sha("b")));
        versions.record(file, sha("a"), sha("b"));
        versions.record(file, sha("b"), sha("c"));
        assert!(versions.accepts(file, &sha("a"), &sha("b")));
        assert!(versions.accepts(file, &sha("a"), &sha("c")));
        // Another program's change is still refused, and so is another file.
        assert!(!versions.accepts(file, &sha("a"), &sha("x")));
        assert!(!versions.accepts(Path::new("other"), &sha("a"), &sha("c")));
        // A plan made against a version nobody wrote from reaches nothing.
        assert!(!versions.accepts(file, &sha("z"), &sha("c")));
    }

    #[test]
    fn a_file_this_run_created_is_accepted_by_a_plan_that_saw_none() {
        let versions = Versions::default();
        let file = Path::new("config");
        assert!(!versions.accepts(file, &None, &sha("new")));
        versions.record(file, None, sha("new"));
        assert!(versions.accepts(file, &None, &sha("new")));
    }
}
