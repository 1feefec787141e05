//! The per-user agent behind the `ado-cutover` binary.

pub mod ado;
pub mod app;
pub mod browsers;
pub mod cli;
pub mod device;
pub mod engine;
pub mod env;
pub mod exit;
pub mod fsutil;
pub mod gitconfig;
pub mod guided;
pub mod history;
pub mod hosts;
pub mod journal;
pub mod lock;
pub mod log;
pub mod parallel;
pub mod paths;
pub mod platform;
pub mod printer;
pub mod repos;
pub mod secrets;
pub mod settings;
pub mod state;
pub mod tasks;
pub mod undo;
