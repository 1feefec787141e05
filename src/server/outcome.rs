//! The outcome the fleet sees per device: the report's own [`Outcome`], plus two the server
//! derives when a report says "done" or "nothing to do": `waiting`, when an organization has
//! not switched to its new tenant yet (nothing was changed for it), and `not-checked`, when
//! something could not be checked. Neither is ever counted as finished. Stored and sent as
//! kebab-case words.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::report::{Outcome, Report};

/// A device's outcome on the dashboard and in the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FleetOutcome {
    Done,
    NothingToDo,
    NotChecked,
    Waiting,
    ActionNeeded,
    Failed,
}

impl FleetOutcome {
    /// Every outcome, in the order the dashboard shows them.
    pub const ALL: [FleetOutcome; 6] = [
        FleetOutcome::Done,
        FleetOutcome::NothingToDo,
        FleetOutcome::NotChecked,
        FleetOutcome::Waiting,
        FleetOutcome::ActionNeeded,
        FleetOutcome::Failed,
    ];

    /// The stored and sent word: `action-needed`.
    pub fn as_str(self) -> &'static str {
        match self {
            FleetOutcome::Done => "done",
            FleetOutcome::NothingToDo => "nothing-to-do",
            FleetOutcome::NotChecked => "not-checked",
            FleetOutcome::Waiting => "waiting",
            FleetOutcome::ActionNeeded => "action-needed",
            FleetOutcome::Failed => "failed",
        }
    }

    /// For people: "Action needed".
    pub fn label(self) -> &'static str {
        match self {
            FleetOutcome::Done => "Done",
            FleetOutcome::NothingToDo => "Nothing to do",
            FleetOutcome::NotChecked => "Not everything checked",
            FleetOutcome::Waiting => "Waiting for the switch",
            FleetOutcome::ActionNeeded => "Action needed",
            FleetOutcome::Failed => "Failed",
        }
    }

    /// The outcome a report gives its device. Agents that predate the "not checked"
    /// distinction send the same fields, so this works for every agent version.
    pub fn of_report(report: &Report) -> FleetOutcome {
        match report.outcome {
            Outcome::Done | Outcome::NothingToDo if report.waiting() => FleetOutcome::Waiting,
            Outcome::Done | Outcome::NothingToDo if report.not_everything_checked() => {
                FleetOutcome::NotChecked
            }
            outcome => outcome.into(),
        }
    }
}

impl From<Outcome> for FleetOutcome {
    fn from(outcome: Outcome) -> FleetOutcome {
        match outcome {
            Outcome::Done => FleetOutcome::Done,
            Outcome::NothingToDo => FleetOutcome::NothingToDo,
            Outcome::ActionNeeded => FleetOutcome::ActionNeeded,
            Outcome::Failed => FleetOutcome::Failed,
        }
    }
}

impl fmt::Display for FleetOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FleetOutcome {
    type Err = String;

    fn from_str(text: &str) -> Result<FleetOutcome, String> {
        FleetOutcome::ALL
            .into_iter()
            .find(|o| o.as_str() == text)
            .ok_or_else(|| format!("`{text}` is not an outcome"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_match_serde() {
        for outcome in FleetOutcome::ALL {
            assert_eq!(outcome.as_str().parse(), Ok(outcome));
            assert_eq!(
                serde_json::to_value(outcome).unwrap(),
                serde_json::json!(outcome.as_str())
            );
        }
        assert!("stale".parse::<FleetOutcome>().is_err());
        // The report's own outcomes keep their words.
        for outcome in [
            Outcome::Done,
            Outcome::NothingToDo,
            Outcome::ActionNeeded,
            Outcome::Failed,
        ] {
            assert_eq!(
                serde_json::to_value(outcome).unwrap(),
                serde_json::to_value(FleetOutcome::from(outcome)).unwrap()
            );
        }
    }
}
