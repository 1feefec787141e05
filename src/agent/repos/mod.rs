//! Git repositories on this machine: finding them and understanding their Azure DevOps remotes.

pub mod discover;
pub mod gitconfig;
pub mod inspect;
pub mod url;
