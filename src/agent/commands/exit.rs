//! The agent's exit codes. Documented in README.md and stable: scripts and device management
//! depend on them.

use crate::report::{Outcome, Report};

/// Done, or nothing to do.
pub(crate) const OK: u8 = 0;
/// A task failed.
pub(crate) const FAILED: u8 = 1;
/// Usage or configuration error; nothing was changed.
pub(crate) const USAGE: u8 = 2;
/// Another run holds the lock.
pub(crate) const LOCKED: u8 = 3;
/// Done, but the user must still act (for `plan`: there is something to do).
pub(crate) const ACTION_NEEDED: u8 = 10;
/// Done with everything that could be checked, but something could not be (offline, a store
/// that cannot be reached): not finished yet; running again later completes it.
pub(crate) const NOT_EVERYTHING_CHECKED: u8 = 11;
/// An organization has not switched to its new tenant yet (or the agent could not ask):
/// nothing was changed for it. Not yet: the next run (the logon task) checks again.
pub(crate) const WAITING: u8 = 12;

/// The exit code for a report: its outcome, except that "done" or "nothing to do" with an
/// organization waiting for its switch, or with something not checked, is not a success.
pub(crate) fn for_report(report: &Report) -> u8 {
    match report.outcome {
        Outcome::Done | Outcome::NothingToDo if report.waiting() => WAITING,
        Outcome::Done | Outcome::NothingToDo if report.not_everything_checked() => {
            NOT_EVERYTHING_CHECKED
        }
        Outcome::Done | Outcome::NothingToDo => OK,
        Outcome::ActionNeeded => ACTION_NEEDED,
        Outcome::Failed => FAILED,
    }
}
