//! The agent's exit codes. Documented in README.md and stable: scripts and device management
//! depend on them.

use crate::report::Outcome;

/// Done, or nothing to do.
pub const OK: u8 = 0;
/// A task failed.
pub const FAILED: u8 = 1;
/// Usage or configuration error; nothing was changed.
pub const USAGE: u8 = 2;
/// Another run holds the lock.
pub const LOCKED: u8 = 3;
/// Done, but the user must still act (for `plan`: there is something to do).
pub const ACTION_NEEDED: u8 = 10;

/// The exit code for an outcome.
pub fn for_outcome(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Done | Outcome::NothingToDo => OK,
        Outcome::ActionNeeded => ACTION_NEEDED,
        Outcome::Failed => FAILED,
    }
}
