//! Runs one command: the glue between the command line, the engine and the output.
//!
//! Data goes to stdout, status and errors to stderr. Errors read like uv's: what went wrong, then
//! `hint:` with the fix. Nothing here panics on bad input.

use std::fmt::Display;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::report::{Mode, Outcome, Report, SCHEMA_VERSION, TaskReport};

use super::cli::{Cli, Command, Common, ConfigCommand};
use super::engine::{self, Planned};
use super::env::Env;
use super::exit;
use super::history::History;
use super::identity;
use super::journal::Journal;
use super::lock::{LockError, RunLock};
use super::log::Log;
use super::paths::Paths;
use super::printer::{self, Style};
use super::prompt::{Nobody, Prompt, Terminal};
use super::settings::{Inputs, Settings, keys};
use super::spool::Spool;
use super::state::State;
use super::tasks::{Context, Evidence, Interaction, NoProgress, Task};
use super::upload::Endpoint;
use super::{device, guided, undo};

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
        eprintln!(
            "error: ado-cutover stopped because of an internal error{place}\nhint: every change made so far is in the journal; run `ado-cutover plan` to see what is left, and please report this"
        );
    }));
}

/// A command that stopped early, with its exit code.
pub struct Failure {
    pub code: u8,
    pub message: String,
}

pub fn failure(code: u8, message: impl Display) -> Failure {
    Failure {
        code,
        message: message.to_string(),
    }
}

/// Runs a parsed command line; returns the exit code.
pub fn run(cli: Cli, env: &Env) -> u8 {
    let result = match cli.command {
        None => guided::run(&cli.common, env),
        Some(Command::Plan { json }) => plan(&cli.common, env, json),
        Some(Command::Run { yes, silent, json }) => apply(&cli.common, env, yes, silent, json),
        Some(Command::Undo { json }) => undo(&cli.common, env, json),
        Some(Command::Report { send: true, .. }) => send_reports(&cli.common, env),
        Some(Command::Report { json, .. }) => report(&cli.common, env, json),
        Some(Command::Config {
            command: ConfigCommand::Show { json },
        }) => config_show(&cli.common, env, json),
        Some(Command::Config {
            command:
                ConfigCommand::WriteManaged {
                    endpoint,
                    token,
                    token_stdin,
                    tenant,
                },
        }) => write_managed(&cli.common, env, endpoint, token, token_stdin, tenant),
        Some(Command::Discover { roots }) => discover(&cli.common, env, roots),
        Some(Command::Keygen { path, r#type, bits }) => keygen(env, path, &r#type, bits),
    };
    result.unwrap_or_else(|fail| {
        eprintln!("error: {}", fail.message);
        fail.code
    })
}

/// Everything a command needs, resolved once.
pub struct Session<'e> {
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
}

impl<'e> Session<'e> {
    /// Resolves paths, settings and the task selection; prints warnings.
    pub fn prepare(common: &Common, env: &'e Env) -> Result<Session<'e>, Failure> {
        let paths = Paths::resolve(env).map_err(|e| failure(exit::USAGE, e))?;
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
        let settings =
            Settings::resolve(&paths, env, &inputs).map_err(|e| failure(exit::USAGE, e))?;
        let (tasks, task_warnings) =
            engine::select(&common.only, &common.skip).map_err(|e| failure(exit::USAGE, e))?;
        for warning in settings.warnings.iter().chain(&task_warnings) {
            eprintln!("warning: {warning}");
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
        })
    }

    /// Takes the run lock, or fails at once with exit code 3.
    pub fn lock(&self) -> Result<RunLock, Failure> {
        RunLock::acquire(&self.paths.data_dir).map_err(|err| match err {
            LockError::Held { .. } => failure(exit::LOCKED, err),
            LockError::Io { .. } => failure(exit::FAILED, err),
        })
    }

    pub fn context(&self, now: OffsetDateTime) -> Context<'_> {
        let progress: &dyn super::tasks::Progress = if self.progress {
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
    }

    /// Detects every selected task, starting from what earlier runs remembered.
    pub fn plan(&self, now: OffsetDateTime) -> (Vec<Planned>, Evidence) {
        let state = State::load(&self.paths.data_dir);
        let evidence = Evidence {
            msa_orgs: state.msa_orgs,
            shown_steps: state.shown_steps.into_keys().collect(),
            ..Evidence::default()
        };
        engine::plan(&self.context(now), &self.tasks, evidence)
    }

    /// Remembers what this run learnt, and, when a person saw the summary, which user steps
    /// they were shown.
    pub fn remember(&self, evidence: &Evidence, report: &Report, shown_to_a_person: bool) {
        let mut state = State::load(&self.paths.data_dir);
        state.msa_orgs.extend(evidence.msa_orgs.iter().cloned());
        if shown_to_a_person {
            for item in report.tasks.iter().flat_map(|t| &t.items) {
                if item.kind == "user-step" && item.status == crate::report::Status::NeedsUser {
                    state.mark_shown(&item.target, report.finished_at);
                }
            }
        }
        if let Err(err) = state.save(&self.paths.data_dir) {
            eprintln!("warning: could not save the agent's state: {err}");
        }
    }

    /// Applies a plan.
    pub fn apply(&self, now: OffsetDateTime, planned: &[Planned]) -> Vec<TaskReport> {
        let journal = Journal::new(&self.paths.data_dir);
        engine::apply(&self.context(now), planned, &journal, Uuid::new_v4())
    }

    /// Builds the report without saving it.
    pub fn build(&self, mode: Mode, started_at: OffsetDateTime, tasks: Vec<TaskReport>) -> Report {
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
            tasks,
        }
    }

    /// Builds the report and saves it; returns it with where it was saved.
    pub fn finish(
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
            let _ = crate::agent::state::State::update(&self.paths.data_dir, |state| {
                state.work_account = Some(found.upn.clone());
            });
        }
        let saved = match History::new(&self.paths.data_dir).save(&report) {
            Ok(path) => self.paths.display(&path),
            Err(err) => {
                eprintln!(
                    "warning: the report could not be saved: {err}\nhint: check that {} is writable",
                    self.paths.display(&self.paths.data_dir)
                );
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
            eprintln!("warning: the report could not be queued for the server: {err}");
            note(format!(
                "report {}: could not be queued: {err}",
                report.report_id
            ));
        }
        spool.prune(OffsetDateTime::now_utc());
        match Endpoint::from_settings(&self.settings) {
            Ok(Some(endpoint)) => {
                let delivered = endpoint.deliver(&spool);
                match &delivered.problem {
                    Some(problem) => {
                        eprintln!("warning: the report was not sent: {problem}");
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
                eprintln!("warning: the report was not sent: {why}");
                note(format!("report delivery: not attempted: {why}"));
            }
        }
    }

    /// Appends the report to the log file.
    pub fn log(&self, report: &Report) -> PathBuf {
        let log = Log::new(&self.paths.log_dir);
        if let Err(err) = log.write(
            report.finished_at,
            &printer::render_report(report, Style::plain()),
        ) {
            eprintln!(
                "warning: could not write the log {}: {err}",
                log.path().display()
            );
        }
        log.path().to_path_buf()
    }

    pub fn out_style(&self) -> Style {
        Style::new(self.env, std::io::stdout().is_terminal())
    }
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
    let mut out = std::io::stdout().lock();
    // A closed pipe (e.g. `| head`) is not an error worth a message.
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(failure(exit::FAILED, err)),
        _ => Ok(()),
    }
}

fn plan(common: &Common, env: &Env, json: bool) -> Result<u8, Failure> {
    let session = Session::prepare(common, env)?;
    let _lock = session.lock()?;
    let started = OffsetDateTime::now_utc();
    let (planned, _) = session.plan(started);
    let (report, _) = session.finish(Mode::Plan, started, engine::plan_report(&planned));
    print_report(&session, &report, json)?;
    Ok(exit::for_report(&report))
}

fn apply(common: &Common, env: &Env, yes: bool, silent: bool, json: bool) -> Result<u8, Failure> {
    let mut session = Session::prepare(common, env)?;
    session.progress &= !silent;
    if silent {
        session.interaction = Interaction::Silent;
    }
    let _lock = session.lock()?;
    let started = OffsetDateTime::now_utc();
    let (planned, evidence) = session.plan(started);
    if planned.iter().any(Planned::has_changes) && !yes && !silent {
        let plan_text = printer::plan_before_run(
            &session.build(Mode::Plan, started, engine::plan_report(&planned)),
            session.out_style(),
            std::io::stdin().is_terminal(),
        );
        write_stdout(&plan_text)?;
        match Terminal.confirm("Make these changes?") {
            Some(true) => {}
            Some(false) => {
                eprintln!("Nothing was changed.");
                return Ok(exit::ACTION_NEEDED);
            }
            None => {
                return Err(failure(
                    exit::USAGE,
                    "nothing was changed: `run` asks before it changes anything, and there is no terminal to ask on\nhint: pass --yes to apply the plan without asking (or --silent for device management)",
                ));
            }
        }
    }
    let tasks = session.apply(started, &planned);
    let (report, saved) = session.finish(Mode::Run, started, tasks);
    session.log(&report);
    session.remember(&evidence, &report, !silent && !json);
    if silent && !json {
        write_stdout(&(printer::one_line(&report, &saved) + "\n"))?;
    } else {
        print_report(&session, &report, json)?;
    }
    Ok(exit::for_report(&report))
}

fn undo(common: &Common, env: &Env, json: bool) -> Result<u8, Failure> {
    let session = Session::prepare(common, env)?;
    let _lock = session.lock()?;
    let started = OffsetDateTime::now_utc();
    let journal = Journal::new(&session.paths.data_dir);
    let tasks = undo::undo(&session.paths, &journal, started).map_err(|err| {
        failure(
            exit::FAILED,
            format!(
                "cannot read the journal in {}: {err}\nhint: check that the folder is readable by this user",
                session.paths.display(&session.paths.data_dir)
            ),
        )
    })?;
    let (report, _) = session.finish(Mode::Undo, started, tasks);
    session.log(&report);
    if !json && report.tasks.is_empty() {
        write_stdout("Nothing reversible was changed; there is nothing to undo.\n")?;
    } else {
        print_report(&session, &report, json)?;
    }
    Ok(exit::for_report(&report))
}

fn report(common: &Common, env: &Env, json: bool) -> Result<u8, Failure> {
    let session = Session::prepare(common, env)?;
    let history = History::new(&session.paths.data_dir);
    match history.last() {
        Ok(Some((report, _))) => {
            print_report(&session, &report, json)?;
            Ok(exit::OK)
        }
        Ok(None) => Err(failure(
            exit::USAGE,
            "there is no report yet\nhint: run `ado-cutover plan` to make one",
        )),
        Err(err) => Err(failure(
            exit::FAILED,
            format!(
                "cannot read the last report: {err}\nhint: run `ado-cutover plan` to make a new one"
            ),
        )),
    }
}

/// `config write-managed`: the installers' way to write the managed configuration.
fn write_managed(
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
    let wanted = super::managed::Wanted {
        endpoint,
        token,
        tenant,
        organizations: common.orgs.clone(),
    };
    let paths = Paths::resolve(env).map_err(|e| failure(exit::USAGE, e))?;
    let written = super::managed::write(&paths, &wanted).map_err(|e| failure(exit::USAGE, e))?;
    eprintln!("wrote {}", paths.display(&written));
    Ok(exit::OK)
}

/// `report --send`: delivers the spooled reports now.
fn send_reports(common: &Common, env: &Env) -> Result<u8, Failure> {
    let session = Session::prepare(common, env)?;
    let endpoint = match Endpoint::from_settings(&session.settings) {
        Ok(Some(endpoint)) => endpoint,
        Ok(None) => {
            return Err(failure(
                exit::USAGE,
                "no report server is configured\nhint: set report.endpoint and report.enrollment_token_file",
            ));
        }
        Err(why) => return Err(failure(exit::USAGE, why)),
    };
    let spool = Spool::new(&session.paths.data_dir);
    spool.prune(OffsetDateTime::now_utc());
    let delivered = endpoint.deliver(&spool);
    let plural = |n: usize| if n == 1 { "report" } else { "reports" };
    match delivered.problem {
        None => {
            eprintln!(
                "sent {} {}; none waiting",
                delivered.sent,
                plural(delivered.sent)
            );
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

fn config_show(common: &Common, env: &Env, json: bool) -> Result<u8, Failure> {
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

fn discover(common: &Common, env: &Env, roots: Vec<PathBuf>) -> Result<u8, Failure> {
    use super::repos::discover::{Skip, discover};
    let session = Session::prepare(common, env)?;
    let skip = Skip::defaults(&session.paths.home, &[]);
    let found = discover(&roots, &skip, &|_, _| {});
    write_stdout(&format!(
        "{} in {}\n",
        super::words::count(found.found.len(), "repository", "repositories"),
        super::words::count(found.folders_scanned, "folder", "folders")
    ))?;
    Ok(exit::OK)
}

/// The hidden `keygen` command: the `ssh-key` task's key generation alone, for benchmarks.
fn keygen(env: &Env, path: PathBuf, kind: &str, bits: usize) -> Result<u8, Failure> {
    use super::ssh::keygen::{self, KeyType, Spec};
    let kind = match kind {
        "rsa" if [3072, 4096].contains(&bits) => KeyType::Rsa { bits },
        "ed25519" => KeyType::Ed25519,
        _ => {
            return Err(failure(
                exit::USAGE,
                format!(
                    "cannot make a `{kind}` key of {bits} bits\nhint: use --type rsa with --bits 3072 or 4096, or --type ed25519"
                ),
            ));
        }
    };
    let spec = Spec {
        path,
        kind,
        comment: format!("benchmark {}", keygen::MARKER),
    };
    let key = keygen::generate(&spec, None).map_err(|e| failure(exit::FAILED, e))?;
    keygen::write(&spec, &key, env).map_err(|e| {
        failure(
            exit::FAILED,
            format!("{e}\nhint: name a path where no file exists yet"),
        )
    })?;
    write_stdout(&format!("{}\n", key.fingerprint()))?;
    Ok(exit::OK)
}
