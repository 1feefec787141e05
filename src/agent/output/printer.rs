//! Human output: reports and settings as plain text, coloured only on a terminal and never
//! when `NO_COLOR` is set. Every human output has a `--json` twin; the JSON is the report itself.

use std::fmt::Write as _;

use crate::report::{Mode, Outcome, Report, Status, Switch};

use crate::agent::env::Env;
use crate::agent::settings::{Settings, validate::Value};
use crate::agent::tasks::registry;

/// Whether to colour.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    color: bool,
}

impl Style {
    /// Colour when writing to a terminal, unless `NO_COLOR` is set (https://no-color.org).
    pub(crate) fn new(env: &Env, is_terminal: bool) -> Style {
        Style {
            color: is_terminal
                && env.get_os("NO_COLOR").is_none()
                && env.get("TERM") != Some("dumb"),
        }
    }

    /// Plain text.
    pub(crate) fn plain() -> Style {
        Style { color: false }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub(crate) fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }

    pub(crate) fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }

    /// The marker shown before an item.
    pub(crate) fn marker(&self, status: Status) -> String {
        match status {
            Status::Info | Status::Ok => self.dim("·"),
            Status::Done => self.paint("32", "✓"),
            Status::Skipped => self.dim("-"),
            Status::Planned => self.paint("36", "→"),
            Status::NeedsUser => self.paint("33;1", "!"),
            Status::Failed => self.paint("31;1", "✗"),
        }
    }
}

/// Progress on standard error, redrawn in place; only used when standard error is a terminal.
pub(crate) struct TerminalProgress;

impl crate::agent::tasks::Progress for TerminalProgress {
    fn show(&self, text: &str) {
        use std::io::Write;
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{text}\x1b[K");
        let _ = err.flush();
    }

    fn clear(&self) {
        use std::io::Write;
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[K");
        let _ = err.flush();
    }
}

/// A task's title for people, or its id when this version does not know it.
pub(crate) fn task_title(id: &str) -> String {
    registry()
        .iter()
        .find(|t| t.id() == id)
        .map_or_else(|| id.to_string(), |t| t.title().to_string())
}

/// The report as text.
pub(crate) fn render_report(report: &Report, style: Style) -> String {
    let mut out = String::new();
    let heading = match report.mode {
        Mode::Plan => "Plan (nothing has been changed)",
        Mode::Run => "Run",
        Mode::Undo => "Undo",
    };
    let _ = writeln!(out, "{}", style.bold(heading));
    if report.tasks.is_empty() {
        let _ = writeln!(out, "\n  Nothing to look at.");
    }
    for task in &report.tasks {
        let _ = writeln!(
            out,
            "\n{} {}",
            style.bold(&format!("{} ({}):", task_title(&task.id), task.id)),
            task.summary
        );
        for item in &task.items {
            let _ = writeln!(out, "  {} {}", style.marker(item.status), item.target);
            if !item.detail.is_empty() {
                out += &wrap(&item.detail, "      ", "      ", 100);
            }
        }
    }
    let _ = writeln!(out, "\n{}", outcome_line(report));
    out
}

/// The plan `run` shows before it asks: its last line says how to go on, which depends on
/// whether there is a terminal to ask on.
pub(crate) fn plan_before_run(report: &Report, style: Style, can_ask: bool) -> String {
    let text = render_report(report, style);
    if can_ask {
        return text;
    }
    text.replace(
        RUN_HINT,
        "There is no terminal here to ask on: run `ado-cutover run --yes` to make these changes.",
    )
}

const RUN_HINT: &str = "Run `ado-cutover run` to make these changes.";

fn outcome_line(report: &Report) -> String {
    let line = outcome_only(report);
    match report.outcome {
        Outcome::Done | Outcome::NothingToDo if report.waiting() => format!(
            "Not yet: {} not switched to the new tenant, so nothing was changed for it; ado-cutover checks again on its next run (or run it with --now).",
            waiting_orgs(report)
        ),
        Outcome::Done | Outcome::NothingToDo if report.not_everything_checked() => format!(
            "{} Not everything could be checked (marked -): running ado-cutover again later finishes it.",
            line.trim_end_matches('.').to_string() + " with what could be checked."
        ),
        _ => line,
    }
}

fn outcome_only(report: &Report) -> String {
    let planned = report
        .tasks
        .iter()
        .flat_map(|t| &t.items)
        .any(|i| i.status == Status::Planned);
    match (report.mode, report.outcome) {
        (Mode::Plan, Outcome::ActionNeeded) if planned => RUN_HINT.to_string(),
        (Mode::Plan, Outcome::ActionNeeded) => {
            "Nothing to change on this computer; the steps marked ! are yours to do.".to_string()
        }
        (_, Outcome::NothingToDo) => "Nothing to do.".to_string(),
        (_, Outcome::Done) => "Done.".to_string(),
        (_, Outcome::ActionNeeded) => "Done; the steps marked ! are yours to do.".to_string(),
        (_, Outcome::Failed) => {
            "Some steps failed (marked ✗); everything else was done. Running again retries them."
                .to_string()
        }
    }
}

/// "contoso has" / "contoso and fabrikam have": the organizations that wait.
fn waiting_orgs(report: &Report) -> String {
    let names: Vec<&str> = report
        .organizations
        .iter()
        .filter(|o| matches!(o.switch, Switch::Waiting | Switch::NotChecked))
        .map(|o| o.name.as_str())
        .collect();
    match names.as_slice() {
        [one] => format!("{one} has"),
        many => format!("{} have", many.join(", ")),
    }
}

/// One line for device management logs (Intune shows only the last line of output).
pub(crate) fn one_line(report: &Report, saved: &str) -> String {
    let count = |status| {
        report
            .tasks
            .iter()
            .flat_map(|t| &t.items)
            .filter(|i| i.status == status)
            .count()
    };
    let outcome = serde_json::to_value(report.outcome)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let mut orgs = String::new();
    for org in &report.organizations {
        let state = match (org.switch, org.verified) {
            (Switch::Waiting, _) => "waiting for the switch",
            (Switch::NotChecked | Switch::Unknown, _) => "switch not checked",
            (_, Some(Status::Ok)) => "verified working",
            (_, Some(Status::Skipped)) => "not fully verified",
            (_, Some(_)) => "not working yet",
            (_, None) => "switched",
        };
        orgs += &format!("; {} {state}", org.name);
    }
    format!(
        "ado-cutover {outcome}: {} changed, {} for the user, {} failed, {} not checked{orgs}; report {saved}",
        count(Status::Done),
        count(Status::NeedsUser),
        count(Status::Failed),
        count(Status::Skipped)
    )
}

/// The resolved configuration, each value with its source.
pub(crate) fn render_settings(settings: &Settings, style: Style) -> String {
    let mut out = String::new();
    let width = settings
        .values
        .iter()
        .map(|r| r.key.name.len())
        .max()
        .unwrap_or(0);
    for resolved in &settings.values {
        let value = match (&resolved.value, resolved.key.default) {
            (Some(value), _) => show_value(value),
            (None, Some(default)) => default.to_string(),
            (None, None) => "(not set)".to_string(),
        };
        let _ = writeln!(
            out,
            "{:width$} = {value}\n{:width$}   {}",
            resolved.key.name,
            "",
            style.dim(&format!("from {}; {}", resolved.source, resolved.key.help)),
        );
    }
    let _ = writeln!(out, "\n{}", style.bold("Files"));
    for file in &settings.files {
        let state = if file.found { "read" } else { "not present" };
        let _ = writeln!(out, "  {:8} {} ({state})", file.role, file.path.display());
    }
    out
}

/// A value as TOML would write it.
pub(crate) fn show_value(value: &Value) -> String {
    let quote = |s: &str| format!("{s:?}");
    match value {
        Value::Text(s) => quote(s),
        Value::Path(p) => quote(&p.display().to_string()),
        Value::Bool(b) => b.to_string(),
        Value::List(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|s| quote(s))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The configuration as JSON: every key with its value, source and whether it is locked.
pub(crate) fn settings_json(settings: &Settings) -> serde_json::Value {
    let values: Vec<serde_json::Value> = settings
        .values
        .iter()
        .map(|r| {
            let value = match &r.value {
                None => serde_json::Value::Null,
                Some(Value::Text(s)) => s.clone().into(),
                Some(Value::Path(p)) => p.display().to_string().into(),
                Some(Value::List(items)) => items.clone().into(),
                Some(Value::Bool(b)) => (*b).into(),
            };
            serde_json::json!({
                "key": r.key.name,
                "env": r.key.env,
                "value": value,
                "source": r.source.to_string(),
                "locked": r.source.is_locked(),
            })
        })
        .collect();
    let files: Vec<serde_json::Value> = settings
        .files
        .iter()
        .map(|f| serde_json::json!({"role": f.role, "path": f.path.display().to_string(), "found": f.found}))
        .collect();
    serde_json::json!({ "settings": values, "files": files, "warnings": settings.warnings })
}

/// Wraps `text` at word boundaries to `width` columns: the first line starts with `first`, the
/// others with `rest`. Words longer than a line (URLs) stay whole.
pub(crate) fn wrap(text: &str, first: &str, rest: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::from(first);
    let mut line_len = first.chars().count();
    let mut empty = true;
    for word in text.split_whitespace() {
        let len = word.chars().count();
        if !empty && line_len + 1 + len > width {
            out.push_str(line.trim_end());
            out.push('\n');
            line = String::from(rest);
            line_len = rest.chars().count();
            empty = true;
        }
        if !empty {
            line.push(' ');
            line_len += 1;
        }
        line.push_str(word);
        line_len += len;
        empty = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_keeps_words_whole_and_indents() {
        assert_eq!(wrap("a b c", "- ", "  ", 80), "- a b c\n");
        assert_eq!(
            wrap("one two three four", "* ", "  ", 9),
            "* one two\n  three\n  four\n"
        );
        let url = "https://example.com/a/very/long/path";
        assert_eq!(wrap(url, "", "", 10), format!("{url}\n"));
    }
}
