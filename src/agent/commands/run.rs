//! `run`: the plan, one question (unless `--yes` or `--silent`), the changes, the report.

use std::io::IsTerminal;

use time::OffsetDateTime;

use super::cli::Common;
use super::flow::{self, Answer, Ended};
use super::session::Session;
use super::{Failure, exit, failure, print_report, write_stdout};
use crate::agent::env::Env;
use crate::agent::output::prompt::{Prompt, Terminal};
use crate::agent::output::{console, printer};
use crate::agent::tasks::Interaction;

/// The `run` command.
pub(super) fn command(
    common: &Common,
    env: &Env,
    yes: bool,
    silent: bool,
    json: bool,
) -> Result<u8, Failure> {
    let mut session = Session::prepare(common, env)?;
    session.progress &= !silent;
    if silent {
        session.interaction = Interaction::Silent;
    }
    let _lock = session.lock()?;
    let started = OffsetDateTime::now_utc();
    let (planned, evidence) = session.plan(started);
    let ask = |preview: &_| {
        if yes || silent {
            return Ok(Answer::Yes);
        }
        write_stdout(&printer::plan_before_run(
            preview,
            session.out_style(),
            std::io::stdin().is_terminal(),
        ))?;
        match Terminal.confirm("Make these changes?") {
            Some(true) => Ok(Answer::Yes),
            Some(false) => Ok(Answer::No),
            None => Err(failure(
                exit::USAGE,
                "nothing was changed: `run` asks before it changes anything, and there is no terminal to ask on",
            )
            .hint("pass --yes to apply the plan without asking (or --silent for device management)")),
        }
    };
    let shown_to_a_person = !silent && !json;
    let report = match flow::carry_out(
        &session,
        started,
        &planned,
        &evidence,
        shown_to_a_person,
        ask,
    )? {
        Ended::Declined => {
            console::status("Nothing was changed.");
            return Ok(exit::ACTION_NEEDED);
        }
        Ended::Applied { report, saved } if silent && !json => {
            write_stdout(&(printer::one_line(&report, &saved) + "\n"))?;
            report
        }
        Ended::Applied { report, .. } => {
            print_report(&session, &report, json)?;
            report
        }
    };
    Ok(exit::for_report(&report))
}
