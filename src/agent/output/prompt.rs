//! The one way the engine reaches the person during a run: lines to read, questions, hidden
//! input. Tasks never prompt; the engine asks through the [`Prompt`] in the context, so a silent
//! run (device management, tests) simply has nobody to ask.

use std::io::{BufRead, IsTerminal};

use super::console;

/// Someone (or nobody) who can read and answer during a run.
pub(crate) trait Prompt: Sync {
    /// Shows a line to the person (standard error, so standard output stays data).
    fn say(&self, text: &str);
    /// Asks and returns the answer, trimmed; `None` when there is nobody to ask.
    fn ask(&self, question: &str) -> Option<String>;
    /// Asks for hidden input (a passphrase); `None` when there is nobody to ask.
    fn secret(&self, question: &str) -> Option<String>;
    /// True when a person's screen shows what is said (a secret can be shown there once).
    fn has_screen(&self) -> bool;

    /// Asks one yes/no question; `None` when there is nobody to ask.
    fn confirm(&self, question: &str) -> Option<bool> {
        let answer = self.ask(&format!("{question} [y/N] "))?;
        Some(answer.eq_ignore_ascii_case("y") || answer.eq_ignore_ascii_case("yes"))
    }
}

/// Nobody to ask: `run --silent`, device management, tests.
pub(crate) struct Nobody;

impl Prompt for Nobody {
    fn say(&self, _: &str) {}
    fn ask(&self, _: &str) -> Option<String> {
        None
    }
    fn secret(&self, _: &str) -> Option<String> {
        None
    }
    fn has_screen(&self) -> bool {
        false
    }
}

/// The person at this terminal: questions on standard error, answers from standard input.
pub(crate) struct Terminal;

impl Prompt for Terminal {
    fn say(&self, text: &str) {
        console::status(text);
    }

    fn ask(&self, question: &str) -> Option<String> {
        if !std::io::stdin().is_terminal() {
            return None;
        }
        console::ask(question);
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer).ok()?;
        Some(answer.trim().to_string())
    }

    fn secret(&self, question: &str) -> Option<String> {
        rpassword::prompt_password(question).ok()
    }

    fn has_screen(&self) -> bool {
        std::io::stderr().is_terminal()
    }
}
