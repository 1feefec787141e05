//! The report: what one `plan`, `run` or `undo` found and did, as JSON (schema version 1).
//!
//! This is the contract between the agent and the server. Fields are only ever added; a reader
//! ignores fields it does not know, so an older server accepts a newer agent's report. Nothing in
//! a report may be a secret: targets are paths, host names and redacted URLs (see [`redact`]).

pub mod limits;
pub mod redact;
pub mod signature;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = 1;

/// One report, produced for every plan, run and undo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub report_id: Uuid,
    pub agent_version: String,
    pub mode: Mode,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: OffsetDateTime,
    pub device: Device,
    pub user: User,
    pub outcome: Outcome,
    pub tasks: Vec<TaskReport>,
    /// Per organization in scope: whether it has switched to its new tenant, and whether the
    /// person was proven to work with it. Added in a later agent: absent from older reports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organizations: Vec<Organization>,
    /// The rollout group (a wave, a department, a site) the admin gave this device in the
    /// managed setting `report.group`. Added in a later agent: absent from older reports and
    /// where it is not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// What the old identity left that concerns the organizations in scope (see [`Found`]):
    /// sent with `report.send_plans`, while an organization waits for its switch (what a run
    /// would clean, or the person will have to replace) and after it (what is still open).
    /// Absent from older reports, from runs limited with `--only`/`--skip`, and where it is not
    /// turned on; an empty list says "nothing is open any more".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<Vec<Found>>,
    /// How many inventory entries were left out to keep the report within the server's limits
    /// ([`limits::fit`]). A list that is not whole closes nothing on the server: what it left
    /// out is not gone. Absent (0) when the list is whole, and from older reports.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub inventory_left_out: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One thing in a device's inventory: where (never a value), of which sort, for which
/// organization.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Found {
    pub category: Category,
    /// The organization it concerns, lower case. Something every organization shares (a
    /// credential store for `dev.azure.com`, `~/.ssh/config`) is listed once per organization.
    pub organization: String,
    /// Where: a path, a repository and its remote or branch, a store. Never a secret.
    pub target: String,
    /// The report item's kind it comes from (`credential-store`, `remote-url`, ...).
    pub kind: String,
}

/// The sorts of things the inventory counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// Uses SSH with the organization: an SSH remote, or `~/.ssh/config` naming its hosts.
    Ssh,
    /// An old token or saved password: git credential stores, the OS credential store, remote
    /// URLs, feed and shell files.
    OldToken,
    /// Commits not pushed, uncommitted changes, stashes, branches with no upstream.
    LocalWork,
    /// A remote on a legacy `*.visualstudio.com` host.
    LegacyRemote,
    /// The organization was used with a personal Microsoft account.
    PersonalAccount,
    /// A sign-in cache other programs share: Visual Studio, the Azure CLI, MSAL, Azure
    /// Artifacts.
    SharedSignIn,
    /// A file that pins the old tenant id.
    PinnedTenant,
    /// A word a later agent sends that this version does not know.
    #[serde(other)]
    Unknown,
}

impl Category {
    /// Every category this version knows, in the order the dashboard shows them.
    pub const ALL: [Category; 7] = [
        Category::Ssh,
        Category::OldToken,
        Category::LocalWork,
        Category::LegacyRemote,
        Category::PersonalAccount,
        Category::SharedSignIn,
        Category::PinnedTenant,
    ];

    /// The word on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Ssh => "ssh",
            Category::OldToken => "old-token",
            Category::LocalWork => "local-work",
            Category::LegacyRemote => "legacy-remote",
            Category::PersonalAccount => "personal-account",
            Category::SharedSignIn => "shared-sign-in",
            Category::PinnedTenant => "pinned-tenant",
            Category::Unknown => "unknown",
        }
    }

    /// The category a word names, if this version knows it.
    pub fn parse(word: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == word)
    }
}

/// One organization's state on this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organization {
    /// The organization's name, lower case.
    pub name: String,
    pub switch: Switch,
    /// The `verify` task's result for it: `ok` when every check passed, else the most serious
    /// check (`needs-user`, `failed`, `skipped`). Absent when it did not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<Status>,
}

/// Whether an organization has switched to its new tenant, as the agent saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Switch {
    /// On its new tenant (or the admin said to act anyway): cleaned up in this run.
    Switched,
    /// Still on another tenant (or personal accounts): nothing was changed for it.
    Waiting,
    /// The agent could not ask (offline): nothing was changed for it.
    NotChecked,
    /// A word a later agent sends that this version does not know.
    #[serde(other)]
    Unknown,
}

impl Switch {
    /// The word on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Switch::Switched => "switched",
            Switch::Waiting => "waiting",
            Switch::NotChecked => "not-checked",
            Switch::Unknown => "unknown",
        }
    }
}

/// What the agent was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Plan,
    Run,
    Undo,
}

/// The machine the report comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub hostname: String,
    pub os: String,
    pub os_version: String,
    pub arch: String,
    /// Stable per machine, derived by hashing the OS's machine id: never a hardware serial.
    pub device_id: String,
}

/// The person the report is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// The operating system's user name.
    pub name: String,
    /// The Microsoft Entra user principal name, where the machine knows it.
    pub upn: Option<String>,
    /// Where `upn` came from: `windows-account`, `gcm-binding`, or `git-user-email` (a guess).
    /// Added in a later agent: absent from older reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn_source: Option<String>,
}

/// The overall result, as the dashboard shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Everything that was needed was done.
    Done,
    /// Something is still to do: planned changes (in a plan) or steps only the user can take.
    ActionNeeded,
    /// At least one task failed.
    Failed,
    /// The machine was already clean.
    NothingToDo,
}

/// One task's part of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskReport {
    /// A stable task id such as `gcm-tenant-cache`.
    pub id: String,
    pub status: Status,
    /// One line in plain words.
    pub summary: String,
    pub items: Vec<Item>,
}

/// One thing a task looked at, changed or wants the user to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// What sort of thing this is, e.g. `tenant-cache` or `user-step`.
    pub kind: String,
    /// Which one: a path, a host, a redacted URL or a step id. Never a secret.
    pub target: String,
    pub status: Status,
    /// Why, in plain words.
    pub detail: String,
}

/// The status of an item, and of a task as the worst of its items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// A fact worth showing; nothing to do about it.
    Info,
    /// Already as it should be.
    Ok,
    /// Changed by this run.
    Done,
    /// Not done, or not checked: the detail says why (offline, a store that cannot be reached,
    /// a file this version does not understand, a step that waits for another). Never "ok".
    Skipped,
    /// Would be changed by `run` (plans only).
    Planned,
    /// Only the user can do this; the detail says how.
    NeedsUser,
    /// Could not be done; the detail says why.
    Failed,
}

impl Status {
    /// The status of a task made of these items: the most serious one, `ok` when there are none.
    pub fn of_items<'a>(items: impl IntoIterator<Item = &'a Item>) -> Status {
        items
            .into_iter()
            .map(|item| item.status)
            .max()
            .map_or(Status::Ok, |worst| worst.max(Status::Ok))
    }
}

impl Report {
    /// True when an organization in scope has not switched yet (nothing was changed for it).
    pub fn waiting(&self) -> bool {
        self.organizations
            .iter()
            .any(|org| matches!(org.switch, Switch::Waiting | Switch::NotChecked))
    }

    /// True when something could not be checked or done (an item or task `skipped`), so the
    /// outcome covers only what could be.
    pub fn not_everything_checked(&self) -> bool {
        self.tasks.iter().any(|t| {
            t.status == Status::Skipped || t.items.iter().any(|i| i.status == Status::Skipped)
        })
    }
}

impl Outcome {
    /// The overall outcome of a set of tasks.
    pub fn of_tasks(tasks: &[TaskReport]) -> Outcome {
        let has = |status: Status| tasks.iter().any(|task| task.status == status);
        if has(Status::Failed) {
            Outcome::Failed
        } else if has(Status::NeedsUser) || has(Status::Planned) {
            Outcome::ActionNeeded
        } else if has(Status::Done) {
            Outcome::Done
        } else {
            Outcome::NothingToDo
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(status: Status) -> Item {
        Item {
            kind: "k".into(),
            target: "t".into(),
            status,
            detail: String::new(),
        }
    }

    fn task(status: Status) -> TaskReport {
        TaskReport {
            id: "t".into(),
            status,
            summary: String::new(),
            items: vec![],
        }
    }

    #[test]
    fn task_status_is_the_most_serious_item() {
        assert_eq!(Status::of_items(&[]), Status::Ok);
        assert_eq!(Status::of_items(&[item(Status::Info)]), Status::Ok);
        assert_eq!(
            Status::of_items(&[
                item(Status::Done),
                item(Status::NeedsUser),
                item(Status::Ok)
            ]),
            Status::NeedsUser
        );
        assert_eq!(
            Status::of_items(&[item(Status::Failed), item(Status::NeedsUser)]),
            Status::Failed
        );
    }

    #[test]
    fn outcome_orders_failure_then_action_then_done() {
        assert_eq!(Outcome::of_tasks(&[]), Outcome::NothingToDo);
        assert_eq!(Outcome::of_tasks(&[task(Status::Ok)]), Outcome::NothingToDo);
        assert_eq!(Outcome::of_tasks(&[task(Status::Done)]), Outcome::Done);
        assert_eq!(
            Outcome::of_tasks(&[task(Status::Done), task(Status::NeedsUser)]),
            Outcome::ActionNeeded
        );
        assert_eq!(
            Outcome::of_tasks(&[task(Status::Planned)]),
            Outcome::ActionNeeded
        );
        assert_eq!(
            Outcome::of_tasks(&[task(Status::NeedsUser), task(Status::Failed)]),
            Outcome::Failed
        );
    }

    #[test]
    fn wire_names_are_kebab_case() {
        let json =
            serde_json::to_string(&(Mode::Plan, Outcome::ActionNeeded, Status::NeedsUser)).unwrap();
        assert_eq!(json, r#"["plan","action-needed","needs-user"]"#);
    }
}
