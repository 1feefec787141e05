//! The hidden `discover` command: the repository search alone, for benchmarks.

use std::path::PathBuf;

use super::cli::Common;
use super::session::Session;
use super::{Failure, exit, write_stdout};
use crate::agent::env::Env;

/// Counts the repositories under `roots`.
pub(super) fn command(common: &Common, env: &Env, roots: Vec<PathBuf>) -> Result<u8, Failure> {
    use crate::agent::repos::discover::{Skip, discover};
    let session = Session::prepare(common, env)?;
    let skip = Skip::defaults(&session.paths.home, &[]);
    let found = discover(&roots, &skip, &|_, _| {});
    write_stdout(&format!(
        "{} in {}\n",
        crate::agent::output::words::count(found.found.len(), "repository", "repositories"),
        crate::agent::output::words::count(found.folders_scanned, "folder", "folders")
    ))?;
    Ok(exit::OK)
}
