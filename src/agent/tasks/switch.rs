//! Task `switch`: has each organization switched to its new tenant yet?
//!
//! The run asks Azure DevOps once, before any task looks (see [`crate::agent::ado::switch`]);
//! this task reports what it learnt, one `organization` item each: `ok` for an organization on
//! its new tenant, `skipped` for one that waits (nothing is changed for it in this run). When
//! every organization waits, this is the only task the run plans.

use super::{Action, Context, Evidence, Finding, Task, TaskError};
use crate::report::{Status, Switch as State};

/// The `switch` task.
pub(crate) struct Switch;

impl Task for Switch {
    fn id(&self) -> &'static str {
        "switch"
    }

    fn title(&self) -> &'static str {
        "Has the organization switched?"
    }

    fn why(&self) -> &'static str {
        "Until your organization is connected to the new tenant, your old sign-in is the right \
         one. ado-cutover cleans up only once Azure DevOps shows the switch."
    }

    fn detect(&self, cx: &Context<'_>, _: &mut Evidence) -> Result<Vec<Finding>, TaskError> {
        Ok(cx
            .switch
            .iter()
            .map(|org| Finding {
                kind: "organization",
                target: org.name.clone(),
                detail: org.detail.clone(),
                action: Action::Note(match org.state {
                    State::Switched => Status::Ok,
                    State::Waiting | State::NotChecked | State::Unknown => Status::Skipped,
                }),
            })
            .collect())
    }
}
