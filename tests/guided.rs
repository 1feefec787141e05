//! The guided run in a real pseudo-terminal (tmux), as a person who double-clicked the agent
//! sees it: the explanation, the plan, one question, the summary, and the window held open
//! until Enter only when it was started by a double-click.

#![cfg(unix)] // tmux is the pseudo-terminal; Windows' double-click check is a console API

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::Sandbox;

/// A tmux server of its own, with one window running the agent.
struct Terminal {
    socket: PathBuf,
    exit_file: PathBuf,
    // Outside the sandbox, so the harness's own files never count as changes.
    _dir: tempfile::TempDir,
}

impl Terminal {
    /// Starts the agent with no arguments in a new pseudo-terminal.
    fn start(sandbox: &Sandbox, extra_env: &[(&str, &str)]) -> Terminal {
        Terminal::start_program(sandbox, env!("CARGO_BIN_EXE_ado-cutover"), extra_env)
    }

    /// Starts `program` (the agent or a launcher) in a new pseudo-terminal.
    fn start_program(sandbox: &Sandbox, program: &str, extra_env: &[(&str, &str)]) -> Terminal {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("tmux.sock");
        let exit_file = dir.path().join("exit-code");
        let mut env = vec![
            (
                "ADO_CUTOVER_SANDBOX",
                sandbox.root.path().display().to_string(),
            ),
            ("HOME", sandbox.paths.home.display().to_string()),
            ("NO_COLOR", "1".to_string()),
        ];
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

    fn screen(&self) -> String {
        let out = tmux(&self.socket)
            .args(["capture-pane", "-p", "-J", "-S", "-200"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen shows `text`.
    fn wait_for(&self, text: &str) -> String {
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

    fn type_line(&self, line: &str) {
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
    fn exit_code(&self) -> Option<i32> {
        std::fs::read_to_string(&self.exit_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    fn wait_for_exit(&self) -> i32 {
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

#[test]
fn double_click_explains_asks_once_applies_and_holds_the_window_until_enter() {
    let sandbox = Sandbox::seeded();
    let term = Terminal::start(&sandbox, &[("ADO_CUTOVER_HOLD_WINDOW", "1")]);
    let screen = term.wait_for("Make these changes now? [y/N]");
    assert!(
        screen.contains("Old sign-in data on this computer"),
        "{screen}"
    );
    assert!(screen.contains("What ado-cutover will change:"), "{screen}");
    assert!(screen.contains("tenant.cache"), "{screen}");
    assert!(
        sandbox.tenant_cache().exists(),
        "nothing changes before the answer"
    );

    term.type_line("y");
    let screen = term.wait_for("Press Enter to close this window.");
    assert!(screen.contains("Done:"), "{screen}");
    assert!(
        screen.contains("Still to do (only you can do these):"),
        "{screen}"
    );
    assert!(
        screen.contains("https://support.microsoft.com/help/11545/"),
        "{screen}"
    );
    assert_eq!(
        screen.matches("[y/N]").count(),
        1,
        "one question only:\n{screen}"
    );
    assert!(!sandbox.tenant_cache().exists());
    assert!(sandbox.sibling().exists());

    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(term.exit_code(), None, "the window must wait for Enter");
    term.type_line("");
    assert_eq!(term.wait_for_exit(), 10);
}

#[test]
fn started_from_a_shell_it_does_not_hold_the_window() {
    let sandbox = Sandbox::seeded();
    let term = Terminal::start(&sandbox, &[]);
    term.wait_for("Make these changes now? [y/N]");
    term.type_line("yes");
    assert_eq!(term.wait_for_exit(), 10);
    let screen = term.screen();
    assert!(!screen.contains("Press Enter to close"), "{screen}");
    assert!(!sandbox.tenant_cache().exists());
}

#[test]
fn declining_changes_nothing() {
    let sandbox = Sandbox::seeded();
    let before = sandbox.snapshot();
    let term = Terminal::start(&sandbox, &[]);
    term.wait_for("Make these changes now? [y/N]");
    term.type_line("n");
    assert_eq!(term.wait_for_exit(), 10);
    assert!(term.screen().contains("Nothing was changed."));
    assert_eq!(sandbox.snapshot(), before);
}

#[test]
fn a_clean_machine_says_so() {
    let sandbox = Sandbox::new();
    let term = Terminal::start(&sandbox, &[("ADO_CUTOVER_HOLD_WINDOW", "1")]);
    let screen = term.wait_for("Press Enter to close this window.");
    assert!(
        screen.contains("Nothing needed changing on this computer."),
        "{screen}"
    );
    assert!(!screen.contains("[y/N]"), "nothing to ask about:\n{screen}");
    term.type_line("");
    assert_eq!(term.wait_for_exit(), 0);
}

#[test]
fn with_stdin_closed_it_neither_asks_nor_holds() {
    let sandbox = Sandbox::seeded();
    let out = sandbox
        .cmd()
        .env("ADO_CUTOVER_HOLD_WINDOW", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = support::text(&out.stderr);
    assert!(err.contains("hint: run `ado-cutover run --yes`"), "{err}");
    assert!(!support::text(&out.stdout).contains("Press Enter"));
    assert!(sandbox.tenant_cache().exists());
}

#[test]
fn the_macos_double_click_launcher_holds_the_window() {
    let sandbox = Sandbox::new();
    let dir = tempfile::tempdir().unwrap();
    let launcher = dir.path().join("ado-cutover.command");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/packaging/macos/ado-cutover.command"
        ),
        &launcher,
    )
    .unwrap();
    std::fs::copy(
        env!("CARGO_BIN_EXE_ado-cutover"),
        dir.path().join("ado-cutover"),
    )
    .unwrap();
    let term = Terminal::start_program(&sandbox, &launcher.display().to_string(), &[]);
    term.wait_for("Press Enter to close this window.");
    term.type_line("");
    assert_eq!(term.wait_for_exit(), 0);
}

#[test]
fn the_linux_desktop_entry_runs_in_a_terminal_and_holds_the_window() {
    let entry = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/packaging/linux/ado-cutover.desktop"
    ))
    .unwrap();
    assert!(entry.lines().any(|l| l == "Terminal=true"), "{entry}");
    let exec = entry
        .lines()
        .find_map(|l| l.strip_prefix("Exec="))
        .expect("an Exec line");
    let words: Vec<&str> = exec.split_whitespace().collect();
    assert_eq!(words, ["env", "ADO_CUTOVER_HOLD_WINDOW=1", "ado-cutover"]);
}
