//! The per-user agent behind the `ado-cutover` binary.

pub mod device;
pub mod engine;
pub mod env;
pub mod fsutil;
pub mod history;
pub mod hosts;
pub mod journal;
pub mod lock;
pub mod paths;
pub mod platform;
pub mod settings;
pub mod tasks;
