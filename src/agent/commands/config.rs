//! `config show` (every setting, its value and where it came from), `config write-managed`
//! (the installers' way to write the managed configuration) and `config remove-managed` (the
//! uninstallers' way to remove it again).

use super::cli::Common;
use super::session::Session;
use super::{Failure, exit, failure, write_stdout};
use crate::agent::env::Env;
use crate::agent::output::console;
use crate::agent::output::printer;
use crate::agent::paths::Paths;

/// `config show`.
pub(super) fn show(common: &Common, env: &Env, json: bool) -> Result<u8, Failure> {
    let session = Session::prepare(common, env)?;
    let text = if json {
        serde_json::to_string_pretty(&printer::settings_json(&session.settings))
            .map_err(|e| failure(exit::FAILED, e))?
            + "\n"
    } else {
        printer::render_settings(&session.settings, session.out_style())
    };
    write_stdout(&text)?;
    Ok(exit::OK)
}

/// `config write-managed`: the installers' way to write the managed configuration.
pub(super) fn write_managed(
    common: &Common,
    env: &Env,
    endpoint: Option<String>,
    token: Option<String>,
    token_stdin: bool,
    tenant: Option<String>,
) -> Result<u8, Failure> {
    let token = match (token, token_stdin) {
        (Some(token), _) => Some(token),
        (None, true) => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).map_err(|e| {
                failure(
                    exit::USAGE,
                    format!("cannot read the token from standard input: {e}"),
                )
            })?;
            Some(line.trim().to_string())
        }
        (None, false) => None,
    };
    let wanted = crate::agent::settings::managed::Wanted {
        endpoint,
        token,
        tenant,
        organizations: common.orgs.clone(),
    };
    let paths = Paths::resolve(env).map_err(|e| failure(exit::USAGE, &e).hint(e.hint()))?;
    let written = crate::agent::settings::managed::write(&paths, &wanted)
        .map_err(|e| failure(exit::USAGE, e))?;
    console::status(format!("wrote {}", paths.display(&written)));
    Ok(exit::OK)
}

/// `config remove-managed`: the uninstallers' way to remove the managed configuration.
pub(super) fn remove_managed(env: &Env) -> Result<u8, Failure> {
    let paths = Paths::resolve(env).map_err(|e| failure(exit::USAGE, &e).hint(e.hint()))?;
    let removed =
        crate::agent::settings::managed::remove(&paths).map_err(|e| failure(exit::FAILED, e))?;
    if removed.is_empty() {
        console::status(format!(
            "nothing to remove in {}",
            paths.display(&paths.managed_dir)
        ));
    }
    for path in removed {
        console::status(format!("removed {}", paths.display(&path)));
    }
    Ok(exit::OK)
}
