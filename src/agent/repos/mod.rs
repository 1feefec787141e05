//! Git repositories on this machine: finding them and understanding their Azure DevOps remotes.

pub mod discover;
pub mod inspect;
pub mod url;
