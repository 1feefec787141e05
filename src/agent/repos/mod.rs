//! Git repositories on this machine: finding them and understanding their Azure DevOps remotes.

pub(super) mod discover;
pub(super) mod gitconfig;
pub(super) mod inspect;
pub(super) mod url;
