//! Git repositories on this machine: finding them and understanding their Azure DevOps remotes.

pub mod url;
