//! `plan`: what `run` would change, changing nothing (the report is saved and, when
//! `report.plans` is set, sent).

use time::OffsetDateTime;

use super::cli::Common;
use super::session::Session;
use super::{Failure, exit, print_report};
use crate::agent::engine;
use crate::agent::env::Env;
use crate::report::Mode;

/// The `plan` command.
pub(super) fn command(common: &Common, env: &Env, json: bool) -> Result<u8, Failure> {
    let mut session = Session::prepare(common, env)?;
    let _lock = session.lock_to_read()?;
    let started = OffsetDateTime::now_utc();
    let (planned, _) = session.plan(started);
    let (report, _) = session.finish(Mode::Plan, started, engine::plan_report(&planned));
    print_report(&session, &report, json)?;
    Ok(exit::for_report(&report))
}
