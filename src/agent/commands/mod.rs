//! Runs one command: the glue between the command line, the engine and the output.
//!
//! Data goes to stdout, status and errors to stderr. Errors read like uv's: what went wrong, then
//! `hint:` with the fix. Nothing here panics on bad input.

pub(super) mod cli;
mod config;
mod discover;
pub(super) mod exit;
mod flow;
mod guided;
mod keygen;
mod plan;
mod report;
mod run;
mod session;
mod undo;

use std::fmt::Display;
use std::process::ExitCode;

use clap::Parser;

use crate::agent::env::Env;
use crate::agent::output::{console, printer};
use crate::agent::settings::ConfigError;
use crate::report::Report;
use cli::{Cli, Command, ConfigCommand};
use session::Session;

/// The agent binary's entry point.
pub fn main() -> ExitCode {
    install_panic_hook();
    let env = Env::from_process();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(exit::USAGE));
        }
    };
    ExitCode::from(run(cli, &env))
}

/// A panic is a bug. Say so plainly, without a stack trace, and stop.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        console::error(
            format!("ado-cutover stopped because of an internal error{place}"),
            Some(
                "every change made so far is in the journal; run `ado-cutover plan` to see what is left, and please report this",
            ),
        );
    }));
}

/// A command that stopped early: its exit code, what happened, and (uv style) the fix.
pub(super) struct Failure {
    pub code: u8,
    pub message: String,
    pub hint: Option<String>,
}

/// A failure with exit code `code`. A message that carries its own `hint:` line (errors from
/// the settings and paths, which print the same way) keeps it.
pub(super) fn failure(code: u8, message: impl Display) -> Failure {
    Failure {
        code,
        message: message.to_string(),
        hint: None,
    }
}

impl From<ConfigError> for Failure {
    /// Bad settings or flags: exit code 2, with the error's own hint.
    fn from(err: ConfigError) -> Failure {
        failure(exit::USAGE, err.message).hint(err.hint)
    }
}

impl Failure {
    /// The same failure with the fix to suggest.
    pub(super) fn hint(mut self, hint: impl Display) -> Failure {
        self.hint = Some(hint.to_string());
        self
    }

    /// Prints it on standard error: `error: ...`, then `hint: ...`.
    fn print(&self) {
        console::error(&self.message, self.hint.as_deref());
    }
}

/// Runs a parsed command line; returns the exit code.
pub(super) fn run(cli: Cli, env: &Env) -> u8 {
    let result = match cli.command {
        None => guided::run(&cli.common, env),
        Some(Command::Plan { json }) => plan::command(&cli.common, env, json),
        Some(Command::Run { yes, silent, json }) => {
            run::command(&cli.common, env, yes, silent, json)
        }
        Some(Command::Verify { silent, json }) => {
            let common = cli::Common {
                only: vec![crate::agent::tasks::verify::VERIFY_ID.to_string()],
                skip: Vec::new(),
                ..cli.common
            };
            run::command(&common, env, true, silent, json)
        }
        Some(Command::Undo { json }) => undo::command(&cli.common, env, json),
        Some(Command::Report { send: true, .. }) => report::send_reports(&cli.common, env),
        Some(Command::Report { json, .. }) => report::command(&cli.common, env, json),
        Some(Command::Config {
            command: ConfigCommand::Show { json },
        }) => config::show(&cli.common, env, json),
        Some(Command::Config {
            command:
                ConfigCommand::WriteManaged {
                    endpoint,
                    token,
                    token_stdin,
                    tenant,
                },
        }) => config::write_managed(&cli.common, env, endpoint, token, token_stdin, tenant),
        Some(Command::Config {
            command: ConfigCommand::RemoveManaged,
        }) => config::remove_managed(env),
        Some(Command::Discover { roots }) => discover::command(&cli.common, env, roots),
        Some(Command::Keygen { path, r#type, bits }) => keygen::command(path, &r#type, bits),
    };
    result.unwrap_or_else(|fail| {
        fail.print();
        fail.code
    })
}

/// Prints the report as JSON or text on stdout.
fn print_report(session: &Session<'_>, report: &Report, json: bool) -> Result<(), Failure> {
    let text = if json {
        serde_json::to_string_pretty(report).map_err(|e| failure(exit::FAILED, e))? + "\n"
    } else {
        printer::render_report(report, session.out_style())
    };
    write_stdout(&text)
}

fn write_stdout(text: &str) -> Result<(), Failure> {
    console::out(text).map_err(|err| failure(exit::FAILED, err))
}
