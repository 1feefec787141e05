//! `report`: the last report; `report --send`: deliver the spooled reports now.

use time::OffsetDateTime;

use super::cli::Common;
use super::session::Session;
use super::{Failure, exit, failure, print_report};
use crate::agent::data::history::History;
use crate::agent::data::spool::Spool;
use crate::agent::data::upload::Endpoint;
use crate::agent::env::Env;
use crate::agent::output::console;

/// The `report` command.
pub(super) fn command(common: &Common, env: &Env, json: bool) -> Result<u8, Failure> {
    let session = Session::prepare(common, env)?;
    let history = History::new(&session.paths.data_dir);
    match history.last() {
        Ok(Some((report, _))) => {
            print_report(&session, &report, json)?;
            Ok(exit::OK)
        }
        Ok(None) => Err(failure(exit::USAGE, "there is no report yet")
            .hint("run `ado-cutover plan` to make one")),
        Err(err) => Err(
            failure(exit::FAILED, format!("cannot read the last report: {err}"))
                .hint("run `ado-cutover plan` to make a new one".to_string()),
        ),
    }
}

/// `report --send`: delivers the spooled reports now.
pub(super) fn send_reports(common: &Common, env: &Env) -> Result<u8, Failure> {
    let session = Session::prepare(common, env)?;
    let endpoint = match Endpoint::from_settings(&session.settings) {
        Ok(Some(endpoint)) => endpoint,
        Ok(None) => {
            return Err(failure(exit::USAGE, "no report server is configured")
                .hint("set report.endpoint and report.enrollment_token_file"));
        }
        Err(why) => return Err(failure(exit::USAGE, why)),
    };
    let spool = Spool::new(&session.paths.data_dir);
    spool.prune(OffsetDateTime::now_utc());
    let delivered = endpoint.deliver(&spool);
    for refused in &delivered.set_aside {
        console::warn(format!("a report was set aside, not sent: {refused}"));
    }
    let plural = |n: usize| if n == 1 { "report" } else { "reports" };
    match delivered.problem {
        None => {
            console::status(format!(
                "sent {} {}; none waiting",
                delivered.sent,
                plural(delivered.sent)
            ));
            Ok(exit::OK)
        }
        Some(problem) => Err(failure(
            exit::FAILED,
            format!(
                "sent {} {}, {} still waiting: {problem}",
                delivered.sent,
                plural(delivered.sent),
                delivered.left
            ),
        )),
    }
}
