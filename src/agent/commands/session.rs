//! Everything a command needs, resolved once: paths, settings, the task selection, who can
//! answer, and the person's identity; and the steps every command shares (plan, apply, build
//! and save the report, send it, log it, remember what was learnt).

use std::io::IsTerminal;
use std::path::PathBuf;

use time::OffsetDateTime;
use uuid::Uuid;

use super::cli::Common;
use super::exit;
use super::{Failure, failure};
use crate::agent::ado::switch::{self, Before, OrgSwitch};
use crate::agent::data::history::History;
use crate::agent::data::journal::Journal;
use crate::agent::data::lock::{LockError, RunLock};
use crate::agent::data::log::Log;
use crate::agent::data::spool::Spool;
use crate::agent::data::state::State;
use crate::agent::data::upload::Endpoint;
use crate::agent::device;
use crate::agent::engine::{self, Planned};
use crate::agent::env::Env;
use crate::agent::identity;
use crate::agent::output::console;
use crate::agent::output::printer::{self, Style};
use crate::agent::output::prompt::{Nobody, Prompt, Terminal};
use crate::agent::paths::Paths;
use crate::agent::settings::{Inputs, Settings, keys};
use crate::agent::tasks::inventory;
use crate::agent::tasks::switch::Switch;
use crate::agent::tasks::verify::{CONCLUSION_KIND, VERIFY_ID};
use crate::agent::tasks::{Context, Evidence, Interaction, NoProgress, Task, registry};
use crate::report::{Found, Mode, Organization, Outcome, Report, SCHEMA_VERSION, TaskReport};

/// Everything a command needs, resolved once.
pub(super) struct Session<'e> {
    pub env: &'e Env,
    pub paths: Paths,
    pub settings: Settings,
    pub tasks: Vec<&'static dyn Task>,
    /// Show progress of long steps on standard error (a terminal, and not a silent run).
    pub progress: bool,
    /// Who can answer: `run --silent` nobody, the guided run a person with questions.
    pub interaction: Interaction,
    /// The person's work identity, learnt before any task changes anything.
    pub identity: Option<identity::Identity>,
    /// `--now`: act on every organization without checking that it switched.
    pub act_now: bool,
    /// Whether each configured organization switched, asked once when the run first plans.
    pub switch: Option<Vec<OrgSwitch>>,
    /// Every task is selected (no `--only`, no `--skip`): only then is an inventory whole.
    pub all_tasks: bool,
    /// What the report's inventory is made from, once planned (with `report.send_plans`).
    pub inventory: Option<InventoryBasis>,
}

/// What a report's inventory is made from: the waiting organizations' part, taken while
/// planning, and what planning the others learnt, for their part from the report's items.
pub(super) struct InventoryBasis {
    waiting: Vec<Found>,
    switched: Vec<String>,
    evidence: Evidence,
}

/// The tasks whose findings the inventory of a waiting organization is made from (and
/// `gcm-tenant-cache`, which learns which organizations were used with personal accounts).
const INVENTORY_TASKS: &[&str] = &[
    "gcm-tenant-cache",
    "pinned-tenants",
    "credentials",
    "remotes",
];

impl<'e> Session<'e> {
    /// Resolves paths, settings and the task selection; prints warnings.
    pub(super) fn prepare(common: &Common, env: &'e Env) -> Result<Session<'e>, Failure> {
        let paths = Paths::resolve(env).map_err(|e| failure(exit::USAGE, &e).hint(e.hint()))?;
        let mut switches = Vec::new();
        if common.fix_legacy_hosts {
            switches.push((&keys::FIX_LEGACY_HOSTS, "--fix-legacy-hosts"));
        }
        if common.remove_url_credentials {
            switches.push((&keys::REMOVE_URL_CREDENTIALS, "--remove-url-credentials"));
        }
        let inputs = Inputs {
            config_file: common.config.clone(),
            orgs: common.orgs.clone(),
            switches,
        };
        let settings = Settings::resolve(&paths, env, &inputs)?;
        let (tasks, task_warnings) = engine::select(&common.only, &common.skip)?;
        for warning in settings.warnings.iter().chain(&task_warnings) {
            console::warn(warning);
        }
        let identity = identity::learn(&paths, env, &settings);
        Ok(Session {
            env,
            identity,
            paths,
            settings,
            tasks,
            progress: std::io::stderr().is_terminal(),
            interaction: Interaction::Attended,
            act_now: common.now,
            switch: None,
            all_tasks: common.only.is_empty() && common.skip.is_empty(),
            inventory: None,
        })
    }

    /// Takes the run lock, or fails at once with exit code 3.
    pub(super) fn lock(&self) -> Result<RunLock, Failure> {
        RunLock::acquire(&self.paths.data_dir).map_err(lock_failure)
    }

    /// The run lock for `plan`, which only reads: on a read-only file system it cannot be
    /// taken, and is not needed (no run can change anything there either: it would need the
    /// lock), so the plan reads without it and says so.
    pub(super) fn lock_to_read(&self) -> Result<Option<RunLock>, Failure> {
        match RunLock::acquire(&self.paths.data_dir) {
            Ok(lock) => Ok(Some(lock)),
            Err(LockError::Io { path, source })
                if source.kind() == std::io::ErrorKind::ReadOnlyFilesystem =>
            {
                console::warn(format!(
                    "planning without the run lock: {} is on a read-only file system, so nothing \
                     can be changed there (the plan's report cannot be saved either)",
                    path.display()
                ));
                Ok(None)
            }
            Err(err) => Err(lock_failure(err)),
        }
    }

    pub(super) fn context(&self, now: OffsetDateTime) -> Context<'_> {
        let progress: &dyn crate::agent::tasks::Progress = if self.progress {
            &printer::TerminalProgress
        } else {
            &NoProgress
        };
        let prompt: &dyn Prompt = match self.interaction {
            Interaction::Silent => &Nobody,
            Interaction::Attended | Interaction::Guided => &Terminal,
        };
        Context::new(&self.paths, &self.settings, self.env, now, progress)
            .with_interaction(self.interaction, prompt)
            .with_switch(self.switch.as_deref().unwrap_or_default())
    }

    /// Asks, once per run, which configured organizations switched to their new tenant. The
    /// ones that wait are taken out of the settings the tasks see, so no task touches them;
    /// when every one waits, only the `switch` task is planned and nothing changes.
    fn check_switch(&mut self) {
        if self.switch.is_some() {
            return;
        }
        let states = switch::check(&self.settings, self.env, self.act_now);
        let switched = switch::switched(&states);
        if states.is_empty() {
            // Nothing to wait for: the task would only say so.
            self.tasks.retain(|t| t.id() != Switch.id());
        } else if switched.len() < states.len() {
            if switched.is_empty() {
                self.tasks = vec![&Switch];
            } else {
                self.settings = self.settings.only_organizations(&switched);
                if !self.tasks.iter().any(|t| t.id() == Switch.id()) {
                    self.tasks.insert(0, &Switch);
                }
            }
        }
        self.switch = Some(states);
    }

    /// Detects every selected task, starting from what earlier runs remembered.
    pub(super) fn plan(&mut self, now: OffsetDateTime) -> (Vec<Planned>, Evidence) {
        self.check_switch();
        let state = State::load(&self.paths.data_dir);
        let mut evidence = Evidence {
            msa_orgs: state.msa_orgs,
            old_tenants: state.old_tenants,
            msa_backed: state.msa_backed,
            shown_steps: state.shown_steps.into_keys().collect(),
            ..Evidence::default()
        };
        // What backs a waiting organization now is what it moves away from.
        for org in self.switch.iter().flatten() {
            match &org.before {
                Some(Before::Tenant(tenant)) => {
                    evidence
                        .old_tenants
                        .insert(org.name.clone(), tenant.clone());
                }
                // A fact about the organization, not that this person used it so: not
                // `msa_orgs`, whose steps say "you used it with a personal account".
                Some(Before::PersonalAccounts) => {
                    evidence.msa_backed.insert(org.name.clone());
                }
                None => {}
            }
        }
        let start = evidence.clone();
        let (planned, evidence) = engine::plan(&self.context(now), &self.tasks, evidence);
        self.inventory = self.inventory_basis(now, start, &evidence);
        (planned, evidence)
    }

    /// With `report.send_plans`, for a run of every task with organizations configured: the
    /// waiting organizations' inventory (their tasks detected as a plan would once they switch,
    /// changing nothing) and what is needed for the switched ones'.
    fn inventory_basis(
        &self,
        now: OffsetDateTime,
        start: Evidence,
        evidence: &Evidence,
    ) -> Option<InventoryBasis> {
        let states = self.switch.as_deref().unwrap_or_default();
        if !self.settings.flag(&keys::REPORT_PLANS) || !self.all_tasks || states.is_empty() {
            return None;
        }
        let (switched, waiting): (Vec<&OrgSwitch>, Vec<&OrgSwitch>) = states
            .iter()
            .partition(|org| org.state == crate::report::Switch::Switched);
        let names = |orgs: Vec<&OrgSwitch>| orgs.into_iter().map(|o| o.name.clone()).collect();
        let waiting: Vec<String> = names(waiting);
        let waiting = if waiting.is_empty() {
            Vec::new()
        } else {
            let settings = self.settings.only_organizations(&waiting);
            let tasks: Vec<&'static dyn Task> = registry()
                .into_iter()
                .filter(|t| INVENTORY_TASKS.contains(&t.id()))
                .collect();
            let cx = Context::new(&self.paths, &settings, self.env, now, &NoProgress)
                .with_switch(states);
            let (planned, found) = engine::plan(&cx, &tasks, start);
            let scope = inventory::Scope {
                orgs: &waiting,
                switched: false,
                ssh_dir: &self.paths.ssh_dir,
            };
            inventory::take(&scope, &found, &engine::plan_report(&planned))
        };
        Some(InventoryBasis {
            waiting,
            switched: names(switched),
            evidence: evidence.clone(),
        })
    }

    /// The report's inventory: the waiting organizations' part and the switched ones' from
    /// `tasks` (a plan's, or a run's after its changes).
    fn inventory(&self, mode: Mode, tasks: &[TaskReport]) -> Option<Vec<Found>> {
        let basis = self.inventory.as_ref().filter(|_| mode != Mode::Undo)?;
        let scope = inventory::Scope {
            orgs: &basis.switched,
            switched: mode == Mode::Run,
            ssh_dir: &self.paths.ssh_dir,
        };
        let mut found = basis.waiting.clone();
        found.extend(inventory::take(&scope, &basis.evidence, tasks));
        found.sort();
        found.dedup();
        Some(found)
    }

    /// Remembers what this run learnt, and, when a person saw the summary, which user steps
    /// they were shown.
    pub(super) fn remember(&self, evidence: &Evidence, report: &Report, shown_to_a_person: bool) {
        let mut state = State::load(&self.paths.data_dir);
        state.msa_orgs.extend(evidence.msa_orgs.iter().cloned());
        state.msa_backed.extend(evidence.msa_backed.iter().cloned());
        state.old_tenants.extend(
            evidence
                .old_tenants
                .iter()
                .map(|(org, tenant)| (org.clone(), tenant.clone())),
        );
        if shown_to_a_person {
            for item in report.tasks.iter().flat_map(|t| &t.items) {
                if item.kind == "user-step" && item.status == crate::report::Status::NeedsUser {
                    state.mark_shown(&item.target, report.finished_at);
                }
            }
        }
        if let Err(err) = state.save(&self.paths.data_dir) {
            console::warn(format!("could not save the agent's state: {err}"));
        }
    }

    /// Applies a plan.
    pub(super) fn apply(&self, now: OffsetDateTime, planned: &[Planned]) -> Vec<TaskReport> {
        let journal = Journal::new(&self.paths.data_dir);
        engine::apply(&self.context(now), planned, &journal, Uuid::new_v4())
    }

    /// Builds the report without saving it.
    pub(super) fn build(
        &self,
        mode: Mode,
        started_at: OffsetDateTime,
        tasks: Vec<TaskReport>,
    ) -> Report {
        Report {
            schema_version: SCHEMA_VERSION,
            report_id: Uuid::new_v4(),
            agent_version: env!("CARGO_PKG_VERSION").to_string(),
            mode,
            started_at,
            finished_at: OffsetDateTime::now_utc(),
            device: device::device(&self.paths),
            user: {
                let mut user = device::user(self.env);
                if let Some(found) = &self.identity {
                    user.upn = Some(found.upn.clone());
                    user.upn_source = Some(found.source.to_string());
                }
                user
            },
            outcome: Outcome::of_tasks(&tasks),
            organizations: organizations(self.switch.as_deref().unwrap_or_default(), &tasks),
            group: self.settings.report_group().map(str::to_string),
            inventory: self.inventory(mode, &tasks),
            // Counted when the report is made to fit the server's limits (`limits::fit`).
            inventory_left_out: 0,
            tasks,
        }
    }

    /// Builds the report and saves it; returns it with where it was saved.
    pub(super) fn finish(
        &self,
        mode: Mode,
        started_at: OffsetDateTime,
        tasks: Vec<TaskReport>,
    ) -> (Report, String) {
        let report = self.build(mode, started_at, tasks);
        if let Some(found) = self
            .identity
            .as_ref()
            .filter(|i| i.source == identity::GCM_BINDING)
        {
            // The binding may be gone after this run: remember whom it named.
            let _ = crate::agent::data::state::State::update(&self.paths.data_dir, |state| {
                state.work_account = Some(found.upn.clone());
            });
        }
        let saved = match History::new(&self.paths.data_dir).save(&report) {
            Ok(path) => self.paths.display(&path),
            Err(err) => {
                console::warn(format!(
                    "the report could not be saved: {err}\nhint: check that {} is writable",
                    self.paths.display(&self.paths.data_dir)
                ));
                "(not saved)".to_string()
            }
        };
        self.send(&report);
        (report, saved)
    }

    /// Queues the report for the server and delivers what is queued. Never fails the run: a
    /// problem is a warning, and the report waits in the spool for the next run or
    /// `ado-cutover report --send`.
    fn send(&self, report: &Report) {
        if self.settings.report_endpoint().is_none()
            || (report.mode == Mode::Plan && !self.settings.flag(&keys::REPORT_PLANS))
        {
            return;
        }
        let spool = Spool::new(&self.paths.data_dir);
        // What happened to the report goes into the log too: device management reads it when a
        // device is missing from the dashboard.
        let log = Log::new(&self.paths.log_dir);
        let note = |line: String| {
            let _ = log.write(OffsetDateTime::now_utc(), &line);
        };
        if let Err(err) = spool.add(report) {
            console::warn(format!(
                "the report could not be queued for the server: {err}"
            ));
            note(format!(
                "report {}: could not be queued: {err}",
                report.report_id
            ));
        }
        spool.prune(OffsetDateTime::now_utc());
        match Endpoint::from_settings(&self.settings) {
            Ok(Some(endpoint)) => {
                let delivered = endpoint.deliver(&spool);
                for refused in &delivered.set_aside {
                    console::warn(format!("a report was set aside, not sent: {refused}"));
                    note(format!("report set aside: {refused}"));
                }
                match &delivered.problem {
                    Some(problem) => {
                        console::warn(format!("the report was not sent: {problem}"));
                        note(format!(
                            "report delivery: {} sent, {} queued; stopped: {}",
                            delivered.sent,
                            delivered.left,
                            problem.lines().next().unwrap_or_default()
                        ));
                    }
                    None => note(format!(
                        "report delivery: {} sent, {} queued",
                        delivered.sent, delivered.left
                    )),
                }
            }
            Ok(None) => {}
            Err(why) => {
                console::warn(format!("the report was not sent: {why}"));
                note(format!("report delivery: not attempted: {why}"));
            }
        }
    }

    /// Appends the report to the log file.
    pub(super) fn log(&self, report: &Report) -> PathBuf {
        let log = Log::new(&self.paths.log_dir);
        if let Err(err) = log.write(
            report.finished_at,
            &printer::render_report(report, Style::plain()),
        ) {
            console::warn(format!(
                "could not write the log {}: {err}",
                log.path().display()
            ));
        }
        log.path().to_path_buf()
    }

    pub(super) fn out_style(&self) -> Style {
        Style::new(self.env, std::io::stdout().is_terminal())
    }
}

/// The report's organizations: each configured one with whether it switched, and each one the
/// `verify` task concluded on with its result.
fn organizations(states: &[OrgSwitch], tasks: &[TaskReport]) -> Vec<Organization> {
    let mut orgs: Vec<Organization> = states
        .iter()
        .map(|state| Organization {
            name: state.name.clone(),
            switch: state.state,
            verified: None,
        })
        .collect();
    let conclusions = tasks
        .iter()
        .filter(|task| task.id == VERIFY_ID)
        .flat_map(|task| &task.items)
        .filter(|item| item.kind == CONCLUSION_KIND);
    for conclusion in conclusions {
        let name = conclusion.target.to_ascii_lowercase();
        match orgs.iter_mut().find(|org| org.name == name) {
            Some(org) => org.verified = Some(conclusion.status),
            None => orgs.push(Organization {
                name,
                switch: crate::report::Switch::Switched,
                verified: Some(conclusion.status),
            }),
        }
    }
    orgs
}

/// Why the run lock could not be taken: exit code 3 when another run holds it.
fn lock_failure(err: LockError) -> Failure {
    match err {
        LockError::Held { .. } => failure(exit::LOCKED, &err).hint(err.hint()),
        LockError::Io { .. } => failure(exit::FAILED, &err).hint(err.hint()),
    }
}
