//! The agent's two streams, written in one place: data (reports, plans, the guided run's
//! text) on standard output, status lines, warnings and errors on standard error. Everything
//! else in the agent prints through these, so the print lints can forbid `println!` elsewhere.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fmt::Display;
use std::io::Write;

/// Writes `text` to standard output as it is, and flushes it. A closed pipe (`| head`) is
/// not an error.
pub(crate) fn out(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(err),
        _ => Ok(()),
    }
}

/// A status line on standard error.
pub(crate) fn status(text: impl Display) {
    eprintln!("{text}");
}

/// Text on standard error without a line end (a question).
pub(crate) fn ask(text: impl Display) {
    eprint!("{text}");
    let _ = std::io::stderr().flush();
}

/// `warning: ...` on standard error.
pub(crate) fn warn(text: impl Display) {
    eprintln!("warning: {text}");
}

/// `error: ...` and, uv style, `hint: ...` on standard error.
pub(crate) fn error(message: impl Display, hint: Option<&str>) {
    eprintln!("error: {message}");
    if let Some(hint) = hint {
        eprintln!("hint: {hint}");
    }
}
