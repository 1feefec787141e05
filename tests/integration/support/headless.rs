//! Real browsers run headless to their end, so a test can look at what they stored: started,
//! waited for (bounded), and then waited for until no helper process names their data folder
//! (helpers outlive the main process for a moment, and until they are gone the profile is in
//! use, which the agent rightly leaves alone). Linux: it reads `/proc`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `cmd` to its end, then waits until no process's command line names `marker`.
pub(crate) fn run_to_end(cmd: &mut Command, marker: &Path) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the browser must be installed for this test (.ci/test-packages.txt)");
    let deadline = Instant::now() + Duration::from_secs(90);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the browser did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let marker = marker.display().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .any(|entry| {
            std::fs::read(entry.path().join("cmdline"))
                .is_ok_and(|cmd| String::from_utf8_lossy(&cmd).contains(&marker))
        })
    {
        assert!(
            Instant::now() < deadline,
            "the browser's helpers did not exit"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Debian's Chromium, headless, on the data folder `data_dir` with `home` as its home, visits
/// `url` (every host resolves to 127.0.0.1) and prints the page; `extra` flags are added.
pub(crate) fn chromium(home: &Path, data_dir: &Path, url: &str, extra: &[&str]) {
    let mut cmd = Command::new("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--password-store=basic",
        "--host-resolver-rules=MAP * 127.0.0.1",
    ])
    .args(extra)
    .arg(format!("--user-data-dir={}", data_dir.display()))
    .args(["--dump-dom", url])
    .env("HOME", home);
    run_to_end(&mut cmd, data_dir);
}
