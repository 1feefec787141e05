//! The per-user agent behind the `ado-cutover` binary.

pub mod env;
pub mod paths;
pub mod platform;
pub mod settings;
