//! The agent's own files, under its data and log folders: the journal `undo` reads, the state
//! remembered between runs, the report history, the spool of reports waiting for the server
//! (and their delivery), the log, and the run lock.

pub mod history;
pub mod journal;
pub mod lock;
pub mod log;
pub mod spool;
pub mod state;
pub mod upload;
