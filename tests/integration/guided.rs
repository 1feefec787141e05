//! The guided run in a real pseudo-terminal (tmux), as a person who double-clicked the agent
//! sees it: the explanation, the plan, one question, the summary, and the window held open
//! until Enter only when it was started by a double-click.

#![cfg(unix)] // tmux is the pseudo-terminal; Windows' double-click check is a console API

use crate::support;

use std::time::Duration;

use support::Sandbox;
use support::terminal::Terminal;

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

#[test]
fn a_second_agent_exits_3_while_the_first_waits_for_its_answer() {
    let sandbox = Sandbox::seeded();
    let term = Terminal::start(&sandbox, &[]);
    // The guided run holds the run lock while it waits for the person's answer.
    term.wait_for("Make these changes now? [y/N]");
    let second = sandbox.cmd().args(["run", "--yes"]).output().unwrap();
    assert_eq!(
        second.status.code(),
        Some(3),
        "{}",
        support::text(&second.stderr)
    );
    assert!(support::text(&second.stderr).contains("another ado-cutover is already running"));
    assert!(
        sandbox.tenant_cache().exists(),
        "the second run changed nothing"
    );
    term.type_line("n");
    assert_eq!(term.wait_for_exit(), 10);
}
