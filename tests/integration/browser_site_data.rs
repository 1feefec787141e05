//! Azure DevOps site data written by real browsers: Debian's Chromium and Firefox ESR, headless,
//! visit Azure DevOps and another site (both served on 127.0.0.1; the browsers resolve every
//! host there), and each site stores a cookie, local storage and an IndexedDB database. The
//! `browser-sign-out` task then deletes Azure DevOps' site data only, and the browser opens the
//! profile again afterwards and stores anew.
//!
//! Linux only: the browsers are Debian's packages.
#![cfg(target_os = "linux")]

use crate::support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use ado_cutover::agent::BrowserRoot as Root;
use ado_cutover::agent::browser_dirs;
use serde_json::Value;
use support::{Sandbox, task_items, text};

/// Serves, on every host, a page that stores a cookie, local storage and an IndexedDB record.
/// Returns the port.
fn serve() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let body = String::from(
                    "<html><body><script>
localStorage.setItem('prefs', 'stored');
const open = indexedDB.open('site', 1);
open.onupgradeneeded = () => open.result.createObjectStore('s');
open.onsuccess = () => {
  const tx = open.result.transaction('s', 'readwrite');
  tx.objectStore('s').put('stored', 'k');
  tx.oncomplete = () => document.body.append('stored');
};
</script></body></html>",
                );
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nSet-Cookie: session=1; Max-Age=86400; Path=/\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    port
}

fn root(sandbox: &Sandbox, id: &str) -> PathBuf {
    browser_dirs(&sandbox.paths)
        .into_iter()
        .find(|r: &Root| r.browser.id == id)
        .unwrap()
        .dir
}

/// Chromium visits `url` (`http://<host>:<port>/`) until the page's IndexedDB folder is on disk:
/// the virtual time budget lets the page's write finish before the DOM is printed, but on a
/// busy machine the database may still be unwritten when Chromium exits, and a second visit
/// stores the same data again.
fn chromium(sandbox: &Sandbox, data_dir: &Path, url: &str) {
    let origin = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .replace(':', "_");
    let folder = data_dir
        .join("Default")
        .join("IndexedDB")
        .join(format!("http_{origin}.indexeddb.leveldb"));
    for _ in 0..3 {
        support::headless::chromium(
            &sandbox.paths.home,
            data_dir,
            url,
            &["--virtual-time-budget=10000"],
        );
        if folder.is_dir() {
            return;
        }
    }
    panic!("Chromium stored nothing for {url} in three visits");
}

fn firefox(sandbox: &Sandbox, profile: &Path, url: &str) {
    let shot = sandbox.root.path().join("shot.png");
    let mut cmd = Command::new("firefox-esr");
    cmd.args(["--headless", "--no-remote", "--profile"])
        .arg(profile)
        .arg("--screenshot")
        .arg(&shot)
        .arg(url)
        .env("HOME", &sandbox.paths.home)
        .env("MOZ_CRASHREPORTER_DISABLE", "1");
    support::headless::run_to_end(&mut cmd, profile);
}

/// The IndexedDB folders and storage buckets Chromium keeps, by origin.
fn chromium_origins(profile: &Path) -> (Vec<String>, Vec<String>) {
    let mut folders: Vec<String> = std::fs::read_dir(profile.join("IndexedDB"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".indexeddb.leveldb"))
        .collect();
    folders.sort();
    let conn = rusqlite::Connection::open(profile.join("WebStorage").join("QuotaManager")).unwrap();
    let mut query = conn
        .prepare("SELECT host FROM buckets ORDER BY host")
        .unwrap();
    let hosts = query
        .query_map([], |row| row.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    (folders, hosts)
}

fn firefox_origins(profile: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(profile.join("storage").join("default"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn site_data_items(sandbox: &Sandbox) -> (Option<i32>, Vec<Value>, String) {
    let out = sandbox
        .cmd()
        .args(["run", "--yes", "--json", "--only", "browser-sign-out"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = task_items(&report, "browser-sign-out")
        .into_iter()
        .filter(|i| i["kind"] == "browser-site-data")
        .collect();
    (out.status.code(), items, text(&out.stdout))
}

#[test]
fn chromium_keeps_other_sites_data_and_stores_anew_after_azure_devops_data_goes() {
    let sandbox = Sandbox::new();
    let port = serve();
    let data_dir = root(&sandbox, "chromium");
    let dev = format!("http://dev.azure.com:{port}/");
    chromium(&sandbox, &data_dir, &dev);
    chromium(&sandbox, &data_dir, &format!("http://example.com:{port}/"));
    let profile = data_dir.join("Default");
    let dev_folder = format!("http_dev.azure.com_{port}.indexeddb.leveldb");
    let other_folder = format!("http_example.com_{port}.indexeddb.leveldb");
    assert_eq!(
        chromium_origins(&profile),
        (
            vec![dev_folder.clone(), other_folder.clone()],
            vec!["dev.azure.com".to_string(), "example.com".to_string()]
        ),
        "what Chromium stored"
    );

    let (code, items, stdout) = site_data_items(&sandbox);
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(items.len(), 1, "{items:#?}");
    assert_eq!(items[0]["status"], "done", "{items:#?}");
    assert!(
        items[0]["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("http://dev.azure.com:{port}")),
        "{items:#?}"
    );
    assert_eq!(
        chromium_origins(&profile),
        (vec![other_folder.clone()], vec!["example.com".to_string()])
    );
    assert!(
        site_data_items(&sandbox).1.is_empty(),
        "a second run finds nothing"
    );

    // Chromium opens the profile again and Azure DevOps stores anew.
    chromium(&sandbox, &data_dir, &dev);
    assert_eq!(
        chromium_origins(&profile),
        (
            vec![dev_folder, other_folder],
            vec!["dev.azure.com".to_string(), "example.com".to_string()]
        )
    );
}

#[test]
fn firefox_keeps_other_sites_data_and_stores_anew_after_azure_devops_data_goes() {
    let sandbox = Sandbox::new();
    let port = serve();
    // Firefox's profiles folder on Linux is `~/.mozilla/firefox/<profile>`.
    let profile = root(&sandbox, "firefox").join("test.default-release");
    std::fs::create_dir_all(&profile).unwrap();
    // Firefox resolves every host to this machine, and asks nothing on first start.
    std::fs::write(
        profile.join("user.js"),
        "user_pref(\"network.dns.forceResolve\", \"127.0.0.1\");\n\
         user_pref(\"browser.shell.checkDefaultBrowser\", false);\n\
         user_pref(\"datareporting.policy.dataSubmissionEnabled\", false);\n",
    )
    .unwrap();
    let dev = format!("http://dev.azure.com:{port}/");
    firefox(&sandbox, &profile, &dev);
    firefox(&sandbox, &profile, &format!("http://example.com:{port}/"));
    let dev_folder = format!("http+++dev.azure.com+{port}");
    let other_folder = format!("http+++example.com+{port}");
    assert_eq!(
        firefox_origins(&profile),
        [dev_folder.clone(), other_folder.clone()],
        "what Firefox stored"
    );

    let (code, items, stdout) = site_data_items(&sandbox);
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(items.len(), 1, "{items:#?}");
    assert_eq!(items[0]["status"], "done", "{items:#?}");
    assert_eq!(
        firefox_origins(&profile),
        std::slice::from_ref(&other_folder)
    );
    // Firefox's own record of those folders is marked stale, as after a crash.
    let conn = rusqlite::Connection::open(profile.join("storage.sqlite")).unwrap();
    let valid: i64 = conn
        .query_row("SELECT valid FROM cache", [], |row| row.get(0))
        .unwrap();
    assert_eq!(valid, 0);
    drop(conn);

    // Firefox opens the profile again and Azure DevOps stores anew.
    firefox(&sandbox, &profile, &dev);
    assert_eq!(firefox_origins(&profile), [dev_folder, other_folder]);
}
