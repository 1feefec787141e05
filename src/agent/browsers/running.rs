//! Is a browser running on this profile? A running browser holds its cookie store and rewrites
//! it from memory when it exits, so the task never writes under one.
//!
//! Two signals, either is enough: a process of this user named like the browser whose data
//! folder is this one (its `--user-data-dir`/`-profile` argument, or else its home folder), and
//! on Unix the browser's own lock (`SingletonLock` in a Chromium root, `lock` in a Firefox
//! profile) naming a live process.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use sysinfo::{ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, System, UpdateKind};

use super::{Family, Profile};

/// One process, as far as the check needs it.
#[derive(Debug, Clone)]
pub(crate) struct Proc {
    pub pid: u32,
    /// Lower case, without `.exe`.
    pub name: String,
    pub args: Vec<String>,
    /// Its home folder (`HOME`, or `USERPROFILE` on Windows), when its environment is readable.
    pub home: Option<PathBuf>,
    /// Started by the same user as this agent.
    pub same_user: bool,
}

/// The processes running now.
#[derive(Debug, Clone, Default)]
pub(crate) struct Processes {
    pub list: Vec<Proc>,
}

impl Processes {
    /// A snapshot of this machine's processes.
    pub(crate) fn snapshot() -> Processes {
        let mut system = System::new();
        system.refresh_processes_specifics(
            ProcessesToUpdate::All,
            true,
            ProcessRefreshKind::nothing()
                .with_cmd(UpdateKind::Always)
                .with_environ(UpdateKind::Always)
                .with_exe(UpdateKind::Always)
                .with_user(UpdateKind::Always),
        );
        let me = sysinfo::get_current_pid()
            .ok()
            .and_then(|pid| system.process(pid))
            .and_then(|p| p.user_id().cloned());
        let list = system
            .processes()
            .iter()
            // A zombie has exited and holds nothing; it only waits for its parent to notice.
            .filter(|(_, p)| !matches!(p.status(), ProcessStatus::Zombie | ProcessStatus::Dead))
            .map(|(pid, p)| {
                let exe_name = p.exe().and_then(Path::file_name).map(OsStr::to_os_string);
                let name = exe_name.unwrap_or_else(|| p.name().to_os_string());
                Proc {
                    pid: pid.as_u32(),
                    name: normalize(&name.to_string_lossy()),
                    args: p
                        .cmd()
                        .iter()
                        .map(|a| a.to_string_lossy().into_owned())
                        .collect(),
                    home: p.environ().iter().find_map(|var| {
                        let var = var.to_string_lossy();
                        let (key, value) = var.split_once('=')?;
                        let wanted = if cfg!(windows) { "USERPROFILE" } else { "HOME" };
                        key.eq_ignore_ascii_case(wanted)
                            .then(|| PathBuf::from(value))
                    }),
                    same_user: match (&me, p.user_id()) {
                        (Some(me), Some(them)) => me == them,
                        _ => true,
                    },
                }
            })
            .collect();
        Processes { list }
    }

    fn alive(&self, pid: u32) -> bool {
        self.list.iter().any(|p| p.pid == pid)
    }

    /// Why `profile` is in use, or `None` when no browser holds it.
    pub(crate) fn holding(&self, profile: &Profile, home: &Path) -> Option<String> {
        for proc in self.list.iter().filter(|p| p.same_user) {
            if !profile.browser.processes.contains(&proc.name.as_str()) {
                continue;
            }
            let holds = match explicit_dir(profile.browser.family, &proc.args) {
                Some(dir) => same(&dir, &profile.root) || same(&dir, &profile.dir),
                // Without an explicit folder a browser uses the default one under its home.
                None => proc.home.as_deref().is_none_or(|h| same(h, home)),
            };
            if holds {
                return Some(format!(
                    "{} is running (process {})",
                    profile.browser.name, proc.pid
                ));
            }
        }
        let lock = match profile.browser.family {
            Family::Chromium => profile.root.join("SingletonLock"),
            Family::Firefox => profile.dir.join("lock"),
        };
        let pid = lock_pid(&lock)?;
        self.alive(pid).then(|| {
            format!(
                "{} is running (its lock names process {pid})",
                profile.browser.name
            )
        })
    }
}

fn normalize(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    lower.strip_suffix(".exe").unwrap_or(&lower).to_string()
}

/// The data folder a browser was started on, from its arguments.
fn explicit_dir(family: Family, args: &[String]) -> Option<PathBuf> {
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match family {
            Family::Chromium => {
                if let Some(dir) = arg.strip_prefix("--user-data-dir=") {
                    return Some(PathBuf::from(dir));
                }
            }
            Family::Firefox => {
                if let Some(dir) = arg.strip_prefix("--profile=") {
                    return Some(PathBuf::from(dir));
                }
                if arg == "-profile" || arg == "--profile" {
                    return iter.next().map(PathBuf::from);
                }
            }
        }
    }
    None
}

fn same(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    a == b || canon(a) == canon(b)
}

/// The process id a browser lock link names: `host-1234` (Chromium) or `127.0.1.1:+1234`
/// (Firefox). Windows browsers lock differently; there the process check is the signal.
fn lock_pid(lock: &Path) -> Option<u32> {
    let target = std::fs::read_link(lock).ok()?;
    let target = target.to_string_lossy();
    let digits = target.rsplit(['-', '+']).next()?;
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::browsers::{CHROME, FIREFOX};

    fn profile(dir: &Path, browser: super::super::Browser) -> Profile {
        Profile {
            browser,
            root: dir.to_path_buf(),
            dir: dir.join("Default"),
            name: "Default".into(),
            cookie_stores: vec![],
        }
    }

    fn proc(name: &str, args: &[&str], home: Option<&Path>) -> Proc {
        Proc {
            pid: 42,
            name: name.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            home: home.map(Path::to_path_buf),
            same_user: true,
        }
    }

    #[test]
    fn a_browser_on_its_default_folder_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let p = profile(&dir.path().join("chrome"), CHROME);
        let running = Processes {
            list: vec![proc("chrome", &[], Some(&home))],
        };
        assert!(
            running
                .holding(&p, &home)
                .unwrap()
                .contains("Google Chrome is running")
        );
        // Another home (another sandbox, another user's session): not this store.
        let other = Processes {
            list: vec![proc("chrome", &[], Some(Path::new("/elsewhere")))],
        };
        assert_eq!(other.holding(&p, &home), None);
    }

    #[test]
    fn an_explicit_data_folder_decides() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_path_buf();
        let p = profile(&dir.path().join("chrome"), CHROME);
        let elsewhere = Processes {
            list: vec![proc(
                "chrome",
                &["chrome", "--user-data-dir=/tmp/other"],
                Some(&home),
            )],
        };
        assert_eq!(elsewhere.holding(&p, &home), None);
        let arg = format!("--user-data-dir={}", p.root.display());
        let here = Processes {
            list: vec![proc("chrome", &["chrome", &arg], None)],
        };
        assert!(here.holding(&p, &home).is_some());
        let ff = profile(&dir.path().join("firefox"), FIREFOX);
        let dir_arg = ff.dir.display().to_string();
        let firefox = Processes {
            list: vec![proc("firefox", &["firefox", "-profile", &dir_arg], None)],
        };
        assert!(firefox.holding(&ff, &home).is_some());
        assert_eq!(
            firefox.holding(&p, &home),
            None,
            "Firefox does not hold Chrome"
        );
    }

    #[test]
    fn other_users_and_other_programs_do_not_count() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_path_buf();
        let p = profile(dir.path(), CHROME);
        let mut other_user = proc("chrome", &[], None);
        other_user.same_user = false;
        let running = Processes {
            list: vec![other_user, proc("chromedriver", &[], Some(&home))],
        };
        assert_eq!(running.holding(&p, &home), None);
    }

    #[cfg(unix)]
    #[test]
    fn a_live_lock_counts_and_a_stale_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let p = profile(dir.path(), CHROME);
        std::os::unix::fs::symlink("somehost-4242", dir.path().join("SingletonLock")).unwrap();
        let mut live = proc("unrelated", &[], None);
        live.pid = 4242;
        assert!(
            Processes { list: vec![live] }
                .holding(&p, dir.path())
                .is_some()
        );
        assert_eq!(Processes::default().holding(&p, dir.path()), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_browser_that_exited_but_was_not_reaped_holds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("chromium");
        std::fs::copy("/bin/true", &program).unwrap();
        let mut child = std::process::Command::new(&program).spawn().unwrap();
        let pid = child.id();
        // Not waited for: it stays in the process table as a zombie named `chromium`.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.contains(") Z "))
        {
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(Processes::snapshot().list.iter().all(|p| p.pid != pid));
        child.wait().unwrap();
    }

    #[test]
    fn names_are_normalized() {
        assert_eq!(normalize("MSEdge.EXE"), "msedge");
        assert_eq!(normalize("firefox-bin"), "firefox-bin");
    }
}
