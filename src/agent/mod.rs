//! The per-user agent behind the `ado-cutover` binary.

pub mod ado;
pub mod browsers;
pub mod commands;
pub mod data;
pub mod desktop;
pub mod device;
pub mod engine;
pub mod env;
pub mod fsutil;
pub mod hosts;
pub mod http;
pub mod identity;
pub mod output;
pub mod parallel;
pub mod paths;
pub mod platform;
pub mod repos;
pub mod secrets;
pub mod settings;
pub mod ssh;
pub mod tasks;
