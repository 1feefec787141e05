//! ado-cutover: finishes an Azure DevOps organization's move to Microsoft Entra ID on a
//! workstation, safely, and reports who is done.
//!
//! Crate map:
//! - [`report`]: the versioned wire schema shared by the agent and the server. The only module
//!   both sides use.
//! - [`agent`]: the per-user agent behind the `ado-cutover` binary (settings, paths, the task
//!   engine, the tasks, the journal and the output).
//! - [`server`]: `ado-cutover-server` (feature `server`): the report API, the store (SQLite or
//!   PostgreSQL) and the dashboard. It never uses [`agent`], and the agent never uses it.

pub mod agent;
#[cfg(test)]
mod fuzz;
pub mod report;
#[cfg(feature = "server")]
pub mod server;
