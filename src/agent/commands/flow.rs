//! The one flow `run` and the guided run share: plan shown -> confirmed -> applied -> report
//! saved and sent -> logged -> what was learnt remembered. Each command adds only how it asks.

use time::OffsetDateTime;

use super::Failure;
use super::session::Session;
use crate::agent::engine::{self, Planned};
use crate::agent::tasks::Evidence;
use crate::report::{Mode, Report};

/// What the person said to the plan.
pub(super) enum Answer {
    Yes,
    No,
}

/// How the flow ended.
pub(super) enum Ended {
    /// The person said no: nothing changed; the plan's report is saved.
    Declined,
    /// The plan was carried out.
    Applied { report: Box<Report>, saved: String },
}

/// Carries out `planned` once `ask` agrees (asked only when something would change; `ask`
/// sees the plan's report). An `Err` from `ask` (nobody to ask) ends the flow with nothing
/// changed, like a no, and is passed on.
pub(super) fn carry_out(
    session: &Session<'_>,
    started: OffsetDateTime,
    planned: &[Planned],
    evidence: &Evidence,
    shown_to_a_person: bool,
    ask: impl FnOnce(&Report) -> Result<Answer, Failure>,
) -> Result<Ended, Failure> {
    if planned.iter().any(Planned::has_changes) {
        let preview = session.build(Mode::Plan, started, engine::plan_report(planned));
        let answer = ask(&preview);
        if !matches!(answer, Ok(Answer::Yes)) {
            session.finish(Mode::Plan, started, preview.tasks);
            return answer.map(|_| Ended::Declined);
        }
    }
    let tasks = session.apply(started, planned);
    let (report, saved) = session.finish(Mode::Run, started, tasks);
    session.log(&report);
    session.remember(evidence, &report, shown_to_a_person);
    Ok(Ended::Applied {
        report: Box::new(report),
        saved,
    })
}
