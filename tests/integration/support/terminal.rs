//! A real pseudo-terminal for tests: a tmux server of its own running one program, with keys
//! typed into it and its screen read back.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::Sandbox;

/// A tmux server of its own, with one window running the agent.
pub(crate) struct Terminal {
    socket: PathBuf,
    exit_file: PathBuf,
    // Outside the sandbox, so the harness's own files never count as changes.
    _dir: tempfile::TempDir,
}

impl Terminal {
    /// Starts the agent with no arguments in a new pseudo-terminal.
    pub(crate) fn start(sandbox: &Sandbox, extra_env: &[(&str, &str)]) -> Terminal {
        Terminal::start_program(sandbox, env!("CARGO_BIN_EXE_ado-cutover"), extra_env)
    }

    /// Starts `program` (the agent or a launcher) in a new pseudo-terminal.
    pub(crate) fn start_program(
        sandbox: &Sandbox,
        program: &str,
        extra_env: &[(&str, &str)],
    ) -> Terminal {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("tmux.sock");
        let exit_file = dir.path().join("exit-code");
        // The offline defaults first: `env` lets a test's own value for a variable win.
        let mut env: Vec<(&str, String)> = super::OFFLINE
            .iter()
            .map(|(k, v)| (*k, v.to_string()))
            .collect();
        env.extend([
            (
                "ADO_CUTOVER_SANDBOX",
                sandbox.root.path().display().to_string(),
            ),
            ("HOME", sandbox.paths.home.display().to_string()),
            ("NO_COLOR", "1".to_string()),
        ]);
        env.extend(extra_env.iter().map(|(k, v)| (*k, v.to_string())));
        let assignments: Vec<String> = env
            .iter()
            .map(|(k, v)| format!("{k}={}", quote(v)))
            .collect();
        let script = format!(
            "env -u ADO_CUTOVER_HOLD_WINDOW {} {}; echo $? > {}; sleep 60",
            assignments.join(" "),
            quote(program),
            quote(&exit_file.display().to_string()),
        );
        let status = tmux(&socket)
            .args([
                "new-session",
                "-d",
                "-x",
                "160",
                "-y",
                "60",
                "sh",
                "-c",
                &script,
            ])
            .status()
            .expect("tmux must be installed for the guided-run tests");
        assert!(status.success());
        Terminal {
            socket,
            exit_file,
            _dir: dir,
        }
    }

    pub(crate) fn screen(&self) -> String {
        let out = tmux(&self.socket)
            .args(["capture-pane", "-p", "-J", "-S", "-200"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen shows `text`.
    pub(crate) fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "never showed {text:?}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn type_line(&self, line: &str) {
        if !line.is_empty() {
            tmux(&self.socket)
                .args(["send-keys", "-l", line])
                .status()
                .unwrap();
        }
        tmux(&self.socket)
            .args(["send-keys", "Enter"])
            .status()
            .unwrap();
    }

    /// The agent's exit code once it has exited; `None` while it still runs.
    pub(crate) fn exit_code(&self) -> Option<i32> {
        std::fs::read_to_string(&self.exit_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    pub(crate) fn wait_for_exit(&self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(code) = self.exit_code() {
                return code;
            }
            assert!(
                Instant::now() < deadline,
                "did not exit; screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = tmux(&self.socket).arg("kill-server").status();
    }
}

fn tmux(socket: &Path) -> Command {
    let mut cmd = Command::new("tmux");
    cmd.arg("-S").arg(socket).env("TERM", "xterm-256color");
    cmd
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}
