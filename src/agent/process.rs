//! Running a helper program (ssh, git) to its end or a deadline, its output collected.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a finished program said.
pub(crate) struct Finished {
    pub success: bool,
    /// Standard output, then standard error.
    pub output: String,
}

/// Runs `command` with no input until it ends or `timeout` passes (then it is stopped).
/// `Err` says why it did not run to its end. Output beyond a pipe's buffer is not expected:
/// callers ask for small answers (`ls-remote <url> HEAD`, `ssh -T`).
pub(crate) fn run_within(mut command: Command, timeout: Duration) -> Result<Finished, String> {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{program} could not be started: {e}"))?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no answer within {} s", timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(err) => return Err(err.to_string()),
        }
    }
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    Ok(Finished {
        success: output.status.success(),
        output: String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    })
}
