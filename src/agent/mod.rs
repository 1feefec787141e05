//! The per-user agent behind the `ado-cutover` binary.

mod ado;
mod browsers;
mod commands;
mod data;
mod desktop;
mod device;
mod engine;
mod env;
mod fsutil;
mod hosts;
mod http;
mod identity;
mod msal;
mod output;
mod parallel;
mod paths;
mod platform;
mod process;
mod repos;
mod secrets;
mod settings;
mod ssh;
mod tasks;

// The library surface, deliberately small: the binary's entry point and command line (for the
// man pages and completions), and what the integration tests drive directly besides the CLI:
// the sandbox layout, the test-only variables, and a few formats they write or check.
// Everything else is crate-private (`pub(crate)`), so the `unreachable_pub` lint keeps it so.
pub use ado::tenant::{BASE_URL_VAR as AZURE_DEVOPS_URL_VAR, Backing, Lookup};
pub use browsers::{Root as BrowserRoot, profiles as browser_profiles};
pub use commands::cli::Cli;
pub use commands::main;
pub use data::journal::sha256_hex;
pub use data::lock::RunLock;
pub use device::hash_id as device_id;
pub use env::Env;
pub use paths::{Paths, SANDBOX_VAR};
pub use platform::browser_dirs;
pub use secrets::SANDBOX_OPT_IN;
pub use tasks::tenant_cache::{cache_path as tenant_cache_path, encode as encode_tenant_cache};
