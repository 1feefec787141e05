//! The guided run, for a person who double-clicked the agent: plain words, the plan, one
//! question, the changes, and what is left for them to do, with links.
//!
//! When the agent was started by a double-click the window stays open until Enter is pressed,
//! so the person can read the summary; never when run from a shell or with no terminal to read
//! from. Windows tells a double-click apart by its console; elsewhere the desktop launcher that
//! packaging installs sets `ADO_CUTOVER_HOLD_WINDOW=1`.

use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal};

use time::OffsetDateTime;

use super::cli::Common;
use super::exit;
use super::flow::{self, Answer, Ended};
use super::session::Session;
use super::{Failure, failure};
use crate::agent::engine::Planned;
use crate::agent::env::Env;
use crate::agent::output::console;
use crate::agent::output::printer::{Style, wrap};
use crate::agent::output::prompt::{Prompt, Terminal};
use crate::agent::platform;
use crate::agent::tasks::browser_sign_out::IN_USE_KIND;
use crate::agent::tasks::verify::CONCLUSION_KIND;
use crate::report::{Report, Status};

/// Lines are wrapped for a default console window.
const WIDTH: usize = 80;

/// Set by desktop launchers: keep the window open at the end.
pub(super) const HOLD_VAR: &str = "ADO_CUTOVER_HOLD_WINDOW";

/// True when the window should stay open until Enter.
pub(super) fn should_hold(env: &Env, stdin_is_terminal: bool, double_clicked: bool) -> bool {
    stdin_is_terminal && (double_clicked || env.flag(HOLD_VAR))
}

/// Runs the guided flow; returns the exit code.
pub(super) fn run(common: &Common, env: &Env) -> Result<u8, Failure> {
    let stdin_is_terminal = std::io::stdin().is_terminal();
    let hold = should_hold(
        env,
        stdin_is_terminal,
        platform::started_from_double_click(),
    );
    let code = match guided(common, env) {
        Ok(code) => code,
        Err(fail) => {
            fail.print();
            fail.code
        }
    };
    if hold {
        say("\nPress Enter to close this window.");
        let _ = std::io::stdin().lock().read_line(&mut String::new());
    }
    Ok(code)
}

/// The guided run's text, on standard output.
fn say(text: &str) {
    let _ = console::out(text);
}

fn guided(common: &Common, env: &Env) -> Result<u8, Failure> {
    let mut session = Session::prepare(common, env)?;
    session.interaction = crate::agent::tasks::Interaction::Guided;
    let style = session.out_style();
    say(&intro(&session, style));
    let _lock = session.lock()?;
    let started = OffsetDateTime::now_utc();
    say("Looking at this computer...\n\n");
    let (mut planned, mut evidence) = session.plan(started);
    // A browser that is open holds its cookies: ask the person to close it, then look again.
    while let Some(busy) = busy_browsers(&planned, style) {
        say(&busy);
        match Terminal
            .ask("Close them, then press Enter to look again (or type s and Enter to skip them): ")
        {
            Some(answer) if !answer.eq_ignore_ascii_case("s") => {
                (planned, evidence) = session.plan(OffsetDateTime::now_utc());
            }
            _ => break,
        }
    }
    let ask = |preview: &Report| {
        say(&listing(
            preview,
            style,
            &[Status::Planned],
            "What ado-cutover will change:",
        ));
        say(&listing(
            preview,
            style,
            &[Status::Failed],
            "What could not be checked:",
        ));
        match Terminal.confirm("Make these changes now?") {
            Some(true) => Ok(Answer::Yes),
            Some(false) => Ok(Answer::No),
            None => Err(failure(
                exit::USAGE,
                "nothing was changed: there is no terminal to ask for confirmation on",
            )
            .hint("run `ado-cutover run --yes` to apply the plan without asking")),
        }
    };
    let report = match flow::carry_out(&session, started, &planned, &evidence, true, ask)? {
        Ended::Declined => {
            say("\nNothing was changed. You can run ado-cutover again at any time.\n");
            return Ok(exit::ACTION_NEEDED);
        }
        Ended::Applied { report, .. } => report,
    };
    say(&summary(&report, style));
    Ok(exit::for_report(&report))
}

/// The browsers that must be closed first, as text; `None` when there are none.
fn busy_browsers(planned: &[Planned], style: Style) -> Option<String> {
    let busy: Vec<_> = planned
        .iter()
        .filter_map(|p| p.findings.as_ref().ok())
        .flatten()
        .filter(|f| f.kind == IN_USE_KIND)
        .collect();
    if busy.is_empty() {
        return None;
    }
    let mut out = format!(
        "{}\n",
        style.bold("These browsers are open, so their sign-in cannot be cleared yet:")
    );
    for finding in busy {
        let _ = writeln!(
            out,
            "  {} {}",
            style.marker(Status::NeedsUser),
            finding.target
        );
        out += &wrap(&finding.detail, "      ", "      ", WIDTH);
    }
    Some(out)
}

fn intro(session: &Session<'_>, style: Style) -> String {
    let mut out = format!(
        "{}\n\n\
         Your organization now signs in to Azure DevOps with Microsoft Entra ID (your work\n\
         account). Old sign-in data on this computer can make Git ask for the wrong account or\n\
         fail to sign in. ado-cutover finds that data, shows you what it would change, and\n\
         changes nothing until you say yes.\n\n",
        style.bold(&format!("ado-cutover {}", env!("CARGO_PKG_VERSION")))
    );
    for task in &session.tasks {
        out += &style.bold(&format!("  • {}", task.title()));
        out.push('\n');
        out += &wrap(task.why(), "    ", "    ", WIDTH);
    }
    out.push('\n');
    out
}

/// The items with one of `statuses`, under a heading; empty when there are none.
fn listing(report: &Report, style: Style, statuses: &[Status], heading: &str) -> String {
    let items: Vec<_> = report
        .tasks
        .iter()
        .flat_map(|t| &t.items)
        .filter(|i| statuses.contains(&i.status) && i.kind != CONCLUSION_KIND)
        .collect();
    if items.is_empty() {
        return String::new();
    }
    let mut out = format!("{}\n", style.bold(heading));
    for item in items {
        let _ = writeln!(out, "  {} {}", style.marker(item.status), item.target);
        // Wrapped like `plan` and `report`, so long details never break mid-word.
        out += &wrap(&item.detail, "      ", "      ", WIDTH);
    }
    out.push('\n');
    out
}

fn summary(report: &Report, style: Style) -> String {
    let mut out = String::from("\n");
    out += &listing(report, style, &[Status::Done], "Done:");
    out += &listing(
        report,
        style,
        &[Status::Failed],
        "Could not be done (running ado-cutover again retries):",
    );
    out += &listing(
        report,
        style,
        &[Status::Skipped],
        "Not checked or not done yet (running ado-cutover again later finishes these):",
    );
    // One step once: the checks of many repositories may ask for the same sign-in.
    let mut steps: Vec<&crate::report::Item> = Vec::new();
    for item in report.tasks.iter().flat_map(|t| &t.items) {
        if item.status == Status::NeedsUser
            && item.kind != CONCLUSION_KIND
            && !steps.iter().any(|s| s.detail == item.detail)
        {
            steps.push(item);
        }
    }
    if !steps.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            style.bold("Still to do (only you can do these):")
        );
        for (n, step) in steps.iter().enumerate() {
            out += &wrap(&step.detail, &format!("  {}. ", n + 1), "     ", WIDTH);
        }
        out.push('\n');
    }
    // Last: whether the person can work again, one line per organization and channel.
    let verdicts: Vec<_> = report
        .tasks
        .iter()
        .flat_map(|t| &t.items)
        .filter(|i| i.kind == CONCLUSION_KIND)
        .collect();
    if !verdicts.is_empty() {
        let _ = writeln!(out, "{}", style.bold("Working again?"));
        for verdict in verdicts {
            let _ = writeln!(out, "  {} {}", style.marker(verdict.status), verdict.target);
            for line in verdict.detail.split("; ") {
                out += &wrap(line, "      ", "        ", WIDTH);
            }
        }
        out.push('\n');
    }
    if out.trim().is_empty() {
        out += "Nothing needed changing on this computer. You are all set.\n";
    } else if steps.is_empty()
        && report.outcome != crate::report::Outcome::Failed
        && !report.not_everything_checked()
    {
        out += "All done. You are all set.\n";
    }
    out += "`ado-cutover report` shows the full report.\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_details_are_wrapped_between_words() {
        use crate::report::{Item, Mode, Outcome, Report, TaskReport};
        let detail = "deleted: a Git Credential Manager credential (plaintext store) saved for contoso, which held the old account's token for every repository of the organization";
        let report = Report {
            schema_version: crate::report::SCHEMA_VERSION,
            report_id: uuid::Uuid::nil(),
            agent_version: "0".into(),
            mode: Mode::Run,
            started_at: time::OffsetDateTime::UNIX_EPOCH,
            finished_at: time::OffsetDateTime::UNIX_EPOCH,
            device: crate::report::Device {
                hostname: "pc".into(),
                os: "linux".into(),
                os_version: "1".into(),
                arch: "x86_64".into(),
                device_id: "id".into(),
            },
            user: crate::report::User {
                name: "a".into(),
                upn: None,
                upn_source: None,
            },
            outcome: Outcome::Done,
            organizations: Vec::new(),
            group: None,
            inventory: None,
            inventory_left_out: 0,
            tasks: vec![TaskReport {
                id: "credentials".into(),
                status: Status::Done,
                summary: String::new(),
                items: vec![Item {
                    kind: "k".into(),
                    target: "~/.gcm/store".into(),
                    status: Status::Done,
                    detail: detail.into(),
                }],
            }],
        };
        let text = summary(&report, Style::plain());
        assert!(text.lines().all(|l| l.chars().count() <= WIDTH), "{text}");
        let words: Vec<&str> = text.split_whitespace().collect();
        for word in detail.split_whitespace() {
            assert!(words.contains(&word), "{word} was split:\n{text}");
        }
    }

    #[test]
    fn one_sign_in_step_once_and_the_verdict_last_one_line_per_channel() {
        use crate::report::{Item, Mode, Outcome, TaskReport};
        let item = |kind: &str, target: &str, status, detail: &str| Item {
            kind: kind.into(),
            target: target.into(),
            status,
            detail: detail.into(),
        };
        let sign_in = "git has no saved sign-in for contoso: sign in with your work account";
        let mut report = crate::agent::data::spool::sample_report(0);
        report.mode = Mode::Run;
        report.outcome = Outcome::ActionNeeded;
        report.tasks = vec![TaskReport {
            id: "verify".into(),
            status: Status::NeedsUser,
            summary: String::new(),
            items: vec![
                item("verify-identity", "contoso", Status::NeedsUser, sign_in),
                item(
                    "verify-git-https",
                    "~/src/a (origin)",
                    Status::NeedsUser,
                    sign_in,
                ),
                item(
                    "verify-git-https",
                    "~/src/b (origin)",
                    Status::NeedsUser,
                    sign_in,
                ),
                item(
                    CONCLUSION_KIND,
                    "contoso",
                    Status::NeedsUser,
                    "not working yet: Git over HTTPS: 0 of 2 repositories reachable; SSH: works",
                ),
            ],
        }];
        let text = summary(&report, Style::plain());
        assert_eq!(text.matches(sign_in).count(), 1, "{text}");
        let verdict = text.find("Working again?").expect("the verdict");
        assert!(verdict > text.find("Still to do").unwrap(), "{text}");
        assert!(text.contains("\n      SSH: works\n"), "{text}");
    }

    #[test]
    fn holds_only_for_a_double_click_with_a_terminal() {
        let none = Env::default();
        let launcher = Env::from_pairs([(HOLD_VAR, "1")]);
        assert!(!should_hold(&none, true, false), "started from a shell");
        assert!(should_hold(&none, true, true), "double-clicked on Windows");
        assert!(
            should_hold(&launcher, true, false),
            "started by the desktop launcher"
        );
        assert!(
            !should_hold(&launcher, false, true),
            "no terminal to read Enter from"
        );
    }
}
