//! The agent's own files, under its data and log folders: the journal `undo` reads, the state
//! remembered between runs, the report history, the spool of reports waiting for the server
//! (and their delivery), the log, and the run lock.

pub(super) mod history;
pub(super) mod journal;
pub(super) mod lock;
pub(super) mod log;
pub(super) mod spool;
pub(super) mod state;
pub(super) mod upload;
