//! Task `browser-sign-out` end to end: real SQLite cookie stores with the schemas current
//! Chromium (version 24) and Firefox (version 16) write, in a sandboxed home laid out as this OS
//! lays it out, with Azure DevOps, look-alike, Microsoft sign-in and foreign cookies.

use crate::support;

use std::path::{Path, PathBuf};

use ado_cutover::agent::BrowserRoot as Root;
use ado_cutover::agent::browser_dirs;
use rusqlite::Connection;
use serde_json::Value;
use support::{Sandbox, text};

const CHROMIUM_SCHEMA: &str = "
CREATE TABLE meta(key LONGVARCHAR NOT NULL UNIQUE PRIMARY KEY, value LONGVARCHAR);
INSERT INTO meta VALUES('mmap_status','-1'),('version','24'),('last_compatible_version','24');
CREATE TABLE cookies(creation_utc INTEGER NOT NULL,host_key TEXT NOT NULL,top_frame_site_key TEXT NOT NULL,name TEXT NOT NULL,value TEXT NOT NULL,encrypted_value BLOB NOT NULL,path TEXT NOT NULL,expires_utc INTEGER NOT NULL,is_secure INTEGER NOT NULL,is_httponly INTEGER NOT NULL,last_access_utc INTEGER NOT NULL,has_expires INTEGER NOT NULL,is_persistent INTEGER NOT NULL,priority INTEGER NOT NULL,samesite INTEGER NOT NULL,source_scheme INTEGER NOT NULL,source_port INTEGER NOT NULL,last_update_utc INTEGER NOT NULL,source_type INTEGER NOT NULL,has_cross_site_ancestor INTEGER NOT NULL);
CREATE UNIQUE INDEX cookies_unique_index ON cookies(host_key, top_frame_site_key, has_cross_site_ancestor, name, path, source_scheme, source_port);
";

const FIREFOX_SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA user_version = 16;
CREATE TABLE moz_cookies (id INTEGER PRIMARY KEY, originAttributes TEXT NOT NULL DEFAULT '', name TEXT, value TEXT, host TEXT, path TEXT, expiry INTEGER, lastAccessed INTEGER, creationTime INTEGER, isSecure INTEGER, isHttpOnly INTEGER, inBrowserElement INTEGER DEFAULT 0, sameSite INTEGER DEFAULT 0, schemeMap INTEGER DEFAULT 0, isPartitionedAttributeSet INTEGER DEFAULT 0, CONSTRAINT moz_uniqueid UNIQUE (name, host, path, originAttributes));
";

/// Cookie domains that are Azure DevOps.
const OURS: &[&str] = &[
    ".dev.azure.com",
    "dev.azure.com",
    "vssps.dev.azure.com",
    "aex.dev.azure.com",
    "app.vssps.visualstudio.com",
    "contoso.visualstudio.com",
    ".visualstudio.com",
];
/// Cookie domains that must survive.
const THEIRS: &[&str] = &[
    ".dev.azure.com.evil.example",
    "notdev.azure.com",
    "portal.azure.com",
    "github.com",
    ".google.com",
];
const SIGN_IN: &[&str] = &["login.microsoftonline.com", ".login.live.com"];

/// A secret-looking cookie value, unique per cookie, that must never appear in any output.
fn value_of(domain: &str) -> String {
    format!("SECRETVALUE{}", domain.replace('.', "x"))
}

/// Where each browser keeps its data on this OS, under the home folder: written out here, not
/// taken from the agent, so a wrong place in the agent fails these tests (and the agent's own
/// list must say the same).
fn root(sandbox: &Sandbox, id: &str) -> PathBuf {
    let parts: &[&str] = match (id, std::env::consts::OS) {
        ("chrome", "windows") => &["AppData", "Local", "Google", "Chrome", "User Data"],
        ("edge", "windows") => &["AppData", "Local", "Microsoft", "Edge", "User Data"],
        ("firefox", "windows") => &["AppData", "Roaming", "Mozilla", "Firefox"],
        ("chrome", "macos") => &["Library", "Application Support", "Google", "Chrome"],
        ("edge", "macos") => &["Library", "Application Support", "Microsoft Edge"],
        ("firefox", "macos") => &["Library", "Application Support", "Firefox"],
        ("chromium", "windows") => &["AppData", "Local", "Chromium", "User Data"],
        ("chromium", "macos") => &["Library", "Application Support", "Chromium"],
        ("chromium", _) => &[".config", "chromium"],
        ("chrome", _) => &[".config", "google-chrome"],
        ("edge", _) => &[".config", "microsoft-edge"],
        ("firefox", _) => &[".mozilla", "firefox"],
        _ => panic!("no place for {id}"),
    };
    let dir = parts
        .iter()
        .fold(sandbox.paths.home.clone(), |dir, part| dir.join(part));
    let agent: Vec<PathBuf> = browser_dirs(&sandbox.paths)
        .into_iter()
        .filter(|r: &Root| r.browser.id == id)
        .map(|r| r.dir)
        .collect();
    assert!(
        agent.contains(&dir),
        "{id}: {} not in {agent:?}",
        dir.display()
    );
    dir
}

fn all_domains() -> impl Iterator<Item = &'static str> {
    OURS.iter().chain(THEIRS).chain(SIGN_IN).copied()
}

fn chromium_store(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(CHROMIUM_SCHEMA).unwrap();
    for domain in all_domains() {
        conn.execute(
            "INSERT INTO cookies VALUES (1,?1,'','session',?2,x'763130','/',9,1,1,1,1,1,1,0,2,443,1,0,0)",
            [domain, &value_of(domain)],
        )
        .unwrap();
    }
}

fn firefox_store(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(FIREFOX_SCHEMA).unwrap();
    for domain in all_domains() {
        conn.execute(
            "INSERT INTO moz_cookies (name, value, host, path, expiry) VALUES ('session', ?2, ?1, '/', 9)",
            [domain, &value_of(domain)],
        )
        .unwrap();
    }
}

/// A sandbox with Chrome (two profiles, one with only the legacy cookie file), Edge and Firefox.
fn browsers() -> (Sandbox, Vec<PathBuf>) {
    let sandbox = Sandbox::new();
    let chrome = root(&sandbox, "chrome");
    let edge = root(&sandbox, "edge");
    let firefox = root(&sandbox, "firefox");
    let firefox_profiles = if cfg!(all(unix, not(target_os = "macos"))) {
        firefox.clone()
    } else {
        firefox.join("Profiles")
    };
    let stores = vec![
        chrome.join("Default").join("Network").join("Cookies"),
        chrome.join("Profile 1").join("Cookies"),
        edge.join("Default").join("Network").join("Cookies"),
        firefox_profiles
            .join("a1b2c3.default-release")
            .join("cookies.sqlite"),
    ];
    for store in &stores[..3] {
        chromium_store(store);
    }
    firefox_store(&stores[3]);
    (sandbox, stores)
}

fn domains_left(store: &Path) -> Vec<String> {
    let conn = Connection::open(store).unwrap();
    let sql = if store.ends_with("cookies.sqlite") {
        "SELECT host FROM moz_cookies ORDER BY host"
    } else {
        "SELECT host_key FROM cookies ORDER BY host_key"
    };
    let mut statement = conn.prepare(sql).unwrap();
    statement
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn sorted(domains: &[&[&str]]) -> Vec<String> {
    let mut all: Vec<String> = domains
        .iter()
        .flat_map(|d| d.iter().map(|s| s.to_string()))
        .collect();
    all.sort();
    all
}

fn task(report: &Value) -> &Value {
    report["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "browser-sign-out")
        .expect("browser-sign-out in the report")
}

#[test]
fn plan_lists_every_profile_and_changes_nothing_then_run_deletes_only_azure_devops_cookies() {
    let (sandbox, stores) = browsers();
    let before = sandbox.snapshot();
    let plan = sandbox
        .cmd()
        .args(["plan", "--json", "--only", "browser-sign-out"])
        .output()
        .unwrap();
    assert_eq!(plan.status.code(), Some(10), "{}", text(&plan.stderr));
    assert_eq!(sandbox.snapshot(), before, "plan wrote something");
    let report: Value = serde_json::from_slice(&plan.stdout).unwrap();
    let items = task(&report)["items"].as_array().unwrap();
    let targets: Vec<&str> = items
        .iter()
        .map(|i| i["target"].as_str().unwrap())
        .collect();
    assert_eq!(
        targets,
        [
            "Google Chrome (Default)",
            "Google Chrome (Profile 1)",
            "Microsoft Edge (Default)",
            "Firefox (a1b2c3.default-release)"
        ]
    );
    for item in items {
        assert_eq!(item["status"], "planned", "{item}");
        let detail = item["detail"].as_str().unwrap();
        assert!(
            detail.starts_with("will be deleted: 7 cookies of "),
            "{detail}"
        );
        assert!(!detail.contains("evil"), "{detail}");
    }

    let run = sandbox
        .cmd()
        .args(["run", "--yes", "--json", "--only", "browser-sign-out"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stdout));
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(task(&report)["summary"], "4 changes made");
    for store in &stores {
        assert_eq!(
            domains_left(store),
            sorted(&[THEIRS, SIGN_IN]),
            "{}",
            store.display()
        );
    }

    let again = sandbox
        .cmd()
        .args(["run", "--yes", "--json", "--only", "browser-sign-out"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0));
    let report: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(report["outcome"], "nothing-to-do");
    assert!(
        task(&report)["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["detail"] == "no Azure DevOps cookies")
    );

    let undo = sandbox.cmd().arg("undo").output().unwrap();
    assert!(
        text(&undo.stdout).contains("Azure DevOps cookies were deleted and cannot be restored")
    );
}

#[test]
fn microsoft_sign_in_cookies_go_only_when_the_admin_asks() {
    let (sandbox, stores) = browsers();
    sandbox.write_managed_config("[browser_sign_out]\nmicrosoft_sign_in = true\n");
    let run = sandbox
        .cmd()
        .args(["run", "--yes", "--only", "browser-sign-out"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    for store in &stores {
        assert_eq!(domains_left(store), sorted(&[THEIRS]));
    }
}

#[test]
fn cookie_values_never_reach_output_reports_or_logs() {
    let (sandbox, _) = browsers();
    let mut outputs = Vec::new();
    for args in [&["plan", "--json"][..], &["run", "--yes"], &["report"]] {
        let out = sandbox.cmd().args(args).output().unwrap();
        outputs.push(text(&out.stdout) + &text(&out.stderr));
    }
    outputs.extend(
        sandbox
            .agent_files()
            .into_iter()
            .map(|(_, content)| content),
    );
    for output in outputs {
        assert!(
            !output.contains("SECRETVALUE"),
            "a cookie value leaked:\n{output}"
        );
    }
}

#[test]
fn something_that_is_not_a_cookie_store_is_left_alone() {
    let sandbox = Sandbox::new();
    let store = root(&sandbox, "chromium").join("Default").join("Cookies");
    sandbox.write(&store, b"this is not SQLite");
    let before = sandbox.snapshot();
    let out = sandbox
        .cmd()
        .args(["run", "--yes", "--json", "--only", "browser-sign-out"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let item = &task(&report)["items"][0];
    assert_eq!(item["status"], "skipped", "{item}");
    assert_eq!(sandbox.snapshot(), before);
}

#[test]
fn a_running_browser_is_never_written_under_and_the_user_is_asked_to_close_it() {
    let (sandbox, stores) = browsers();
    let chrome = support::FakeBrowser::start(&sandbox, "chrome");
    let run = sandbox
        .cmd()
        .args(["run", "--silent", "--json", "--only", "browser-sign-out"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(10), "{}", text(&run.stderr));
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    for item in task(&report)["items"].as_array().unwrap() {
        let target = item["target"].as_str().unwrap();
        if target.starts_with("Google Chrome") {
            assert_eq!(item["status"], "needs-user", "{item}");
            assert_eq!(item["kind"], "browser-in-use");
            assert!(
                item["detail"]
                    .as_str()
                    .unwrap()
                    .contains("close Google Chrome completely")
            );
        } else {
            assert_eq!(item["status"], "done", "{item}");
        }
    }
    assert_eq!(
        domains_left(&stores[0]),
        sorted(&[OURS, THEIRS, SIGN_IN]),
        "Chrome untouched"
    );
    assert_eq!(
        domains_left(&stores[2]),
        sorted(&[THEIRS, SIGN_IN]),
        "Edge cleaned"
    );

    drop(chrome);
    let run = sandbox
        .cmd()
        .args(["run", "--yes", "--only", "browser-sign-out"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stdout));
    assert_eq!(domains_left(&stores[0]), sorted(&[THEIRS, SIGN_IN]));
}

#[cfg(unix)] // a real terminal (tmux)
#[test]
fn the_guided_run_asks_to_close_an_open_browser_and_looks_again() {
    use support::terminal::Terminal;
    let (sandbox, stores) = browsers();
    let chrome = support::FakeBrowser::start(&sandbox, "chrome");
    let term = Terminal::start(&sandbox, &[]);
    let screen = term.wait_for("Close them, then press Enter to look again");
    assert!(screen.contains("Google Chrome (Default)"), "{screen}");
    assert!(screen.contains("Google Chrome is running"), "{screen}");
    drop(chrome);
    term.type_line("");
    let screen = term.wait_for("Make these changes now? [y/N]");
    let after_retry = &screen[screen.rfind("Close them").unwrap()..];
    assert!(after_retry.contains("Google Chrome (Default)"), "{screen}");
    term.type_line("y");
    assert_eq!(term.wait_for_exit(), 0);
    for store in &stores {
        assert_eq!(
            domains_left(store),
            sorted(&[THEIRS, SIGN_IN]),
            "{}",
            store.display()
        );
    }
}

#[cfg(unix)] // a real terminal (tmux)
#[test]
fn skipping_an_open_browser_leaves_it_as_a_step_for_the_user() {
    use support::terminal::Terminal;
    let (sandbox, stores) = browsers();
    let _chrome = support::FakeBrowser::start(&sandbox, "chrome");
    let term = Terminal::start(&sandbox, &[]);
    term.wait_for("Close them, then press Enter to look again");
    term.type_line("s");
    term.wait_for("Make these changes now? [y/N]");
    term.type_line("y");
    assert_eq!(term.wait_for_exit(), 10);
    let screen = term.screen();
    assert!(screen.contains("Still to do"), "{screen}");
    assert_eq!(domains_left(&stores[0]), sorted(&[OURS, THEIRS, SIGN_IN]));
    assert_eq!(domains_left(&stores[2]), sorted(&[THEIRS, SIGN_IN]));
}

/// A real browser makes the store: Debian's Chromium, headless, with the sandbox's Chromium
/// folder as its data folder, visits Azure DevOps and another site (both served by a server on
/// 127.0.0.1), and keeps their cookies. The task then removes Azure DevOps' only.
#[cfg(target_os = "linux")] // Debian's Chromium
#[test]
fn a_store_written_by_real_chromium_is_cleaned() {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    let sandbox = Sandbox::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        // A thread per connection: Chromium opens spare connections that send nothing.
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut host = String::new();
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    if let Some(value) = line.to_ascii_lowercase().strip_prefix("host:") {
                        host = value.trim().split(':').next().unwrap_or("").to_string();
                    }
                    line.clear();
                }
                // Azure DevOps sets its cookie and sends the browser on to another site (not one on the
                // HSTS preload list, which Chromium would force to https), which sets one too:
                // one browser run (a second run right after could hand over to the first one while
                // it shuts down).
                let body = "<html><body>signed in</body></html>";
                let status = if host == "dev.azure.com" {
                    format!("302 Found\r\nLocation: http://example.com:{port}/")
                } else {
                    "200 OK".to_string()
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nSet-Cookie: session={}; Max-Age=86400; Path=/\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    value_of(&host),
                    body.len()
                );
            });
        }
    });
    let data_dir = root(&sandbox, "chromium");
    support::headless::chromium(
        &sandbox.paths.home,
        &data_dir,
        &format!("http://dev.azure.com:{port}/"),
        &[],
    );
    // Chromium keeps it in `Default/Cookies` on Linux (`Default/Network/Cookies` on Windows).
    let profiles = ado_cutover::agent::browser_profiles(&sandbox.paths);
    assert_eq!(profiles.len(), 1, "{profiles:?}");
    let store = profiles[0].cookie_stores[0].clone();
    assert_eq!(
        domains_left(&store),
        ["dev.azure.com", "example.com"],
        "what Chromium stored"
    );

    let run = sandbox
        .cmd()
        .args(["run", "--yes", "--json", "--only", "browser-sign-out"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stdout));
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    let item = &task(&report)["items"][0];
    assert_eq!(item["target"], "Chromium (Default)");
    assert_eq!(item["status"], "done", "{item}");
    assert_eq!(domains_left(&store), ["example.com"]);
}

/// Firefox keeps cookies in a write-ahead log until it checkpoints; after a crash they may be
/// only there. The plan (which reads without the log, to write nothing) says so, and the run
/// deletes them through SQLite, which reads the log.
#[test]
fn cookies_only_in_the_write_ahead_log_are_found_by_the_run() {
    let sandbox = Sandbox::new();
    let work = tempfile::tempdir().unwrap();
    let original = work.path().join("cookies.sqlite");
    let conn = Connection::open(&original).unwrap();
    conn.execute_batch(FIREFOX_SCHEMA).unwrap();
    conn.execute_batch("PRAGMA wal_autocheckpoint = 0; PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    for domain in [".dev.azure.com", "github.com"] {
        conn.execute(
            "INSERT INTO moz_cookies (name, value, host, path, expiry) VALUES ('s', ?2, ?1, '/', 9)",
            [domain, &value_of(domain)],
        )
        .unwrap();
    }
    // A copy taken while the log is unmerged is what a crashed browser leaves behind.
    let profile = root(&sandbox, "firefox")
        .join(if cfg!(all(unix, not(target_os = "macos"))) {
            ""
        } else {
            "Profiles"
        })
        .join("x.default-release");
    std::fs::create_dir_all(&profile).unwrap();
    let store = profile.join("cookies.sqlite");
    std::fs::copy(&original, &store).unwrap();
    std::fs::copy(
        work.path().join("cookies.sqlite-wal"),
        profile.join("cookies.sqlite-wal"),
    )
    .unwrap();
    drop(conn);

    let before = sandbox.snapshot();
    let plan = sandbox
        .cmd()
        .args(["plan", "--json", "--only", "browser-sign-out"])
        .output()
        .unwrap();
    assert_eq!(sandbox.snapshot(), before, "plan wrote something");
    let report: Value = serde_json::from_slice(&plan.stdout).unwrap();
    let item = &task(&report)["items"][0];
    assert_eq!(item["status"], "planned", "{item}");
    assert!(
        item["detail"].as_str().unwrap().contains("write-ahead log"),
        "{item}"
    );

    let run = sandbox
        .cmd()
        .args(["run", "--yes", "--json", "--only", "browser-sign-out"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    let item = &task(&report)["items"][0];
    assert_eq!(item["status"], "done", "{item}");
    assert!(
        item["detail"]
            .as_str()
            .unwrap()
            .starts_with("deleted 1 cookie (the plan counted 0)"),
        "{item}"
    );
    assert_eq!(domains_left(&store), ["github.com"]);
}
