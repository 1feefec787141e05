//! git's `credential-cache` daemon: credentials held in memory by git's `cache` helper.
//!
//! The daemon cannot list what it holds, but it answers a question: `git credential-cache get`
//! for one URL says whether it holds a credential for it (the answer is read and dropped, never
//! kept or shown). So for each organization that moved, the daemon of each configured `cache`
//! helper (its `--socket`, or git's default) is asked for `https://dev.azure.com/<org>` (held
//! per organization when `credential.useHttpPath` is set, as Git Credential Manager sets it) and
//! `https://<org>.visualstudio.com`; what it holds is erased with `git credential-cache erase`,
//! exactly that URL. Asking never starts a daemon. A credential held for `dev.azure.com` as a
//! whole (git's default, without `useHttpPath`) names no organization: a note says how it goes.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::Stdio;

use crate::agent::repos::gitconfig;
use crate::agent::tasks::{Action, Context, Finding};
use crate::report::Status;

const KIND: &str = "credential-cache";

/// The sockets of the configured `cache` helpers: `None` for git's default.
fn sockets(cx: &Context<'_>, global: &[PathBuf]) -> Vec<Option<PathBuf>> {
    let mut sockets = Vec::new();
    for helper in gitconfig::values_in_files(global, "credential.helper") {
        let mut words = helper.split_whitespace();
        if words.next() != Some("cache") {
            continue;
        }
        let words: Vec<&str> = words.collect();
        let mut socket = None;
        for (i, word) in words.iter().enumerate() {
            if let Some(path) = word.strip_prefix("--socket=") {
                socket = gitconfig::expand_path(&cx.paths.home, path);
            } else if *word == "--socket" {
                socket = words
                    .get(i + 1)
                    .and_then(|path| gitconfig::expand_path(&cx.paths.home, path));
            }
        }
        if !sockets.contains(&socket) {
            sockets.push(socket);
        }
    }
    sockets
}

/// True when git's `cache` helper or Git Credential Manager's `cache` store is configured.
/// GCM's store keeps its entries in its own form, so only git's helper is asked.
fn uses_memory_cache(global: &[PathBuf]) -> bool {
    let helper = gitconfig::values_in_files(global, "credential.helper")
        .iter()
        .any(|h| h.split_whitespace().next() == Some("cache"));
    let store = gitconfig::values_in_files(global, "credential.credentialStore")
        .iter()
        .any(|s| s.trim().eq_ignore_ascii_case("cache"));
    helper || store
}

/// The question (or the erasure) for `url`, as git's credential protocol writes it.
pub(crate) fn request(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let path = parsed.path().trim_matches('/');
    let mut text = format!(
        "protocol={}\nhost={}\n",
        parsed.scheme(),
        parsed.host_str()?
    );
    if !path.is_empty() {
        text += &format!("path={path}\n");
    }
    Some(text + "\n")
}

/// `git credential-cache [--socket S] <action>`, outside every repository.
pub(crate) fn helper(
    cx: &Context<'_>,
    socket: Option<&PathBuf>,
    action: &str,
) -> std::process::Command {
    let mut command = cx.paths.git_outside_repos();
    command.arg("credential-cache");
    if let Some(socket) = socket {
        command.arg("--socket").arg(socket);
    }
    command.arg(action);
    command
}

/// True when the daemon at `socket` holds a credential for `url`.
fn holds(cx: &Context<'_>, socket: Option<&PathBuf>, url: &str) -> bool {
    let Some(input) = request(url) else {
        return false;
    };
    let child = helper(cx, socket, "get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return false;
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    child.wait_with_output().is_ok_and(|out| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|line| line.starts_with("password="))
    })
}

/// What the daemons hold for the organizations in `moved`, to erase; and the note on what no
/// organization can be told for.
pub(super) fn findings(
    cx: &Context<'_>,
    global: &[PathBuf],
    moved: &BTreeSet<String>,
) -> Vec<Finding> {
    if !uses_memory_cache(global) {
        return Vec::new();
    }
    let sockets = sockets(cx, global);
    let mut findings = Vec::new();
    for socket in &sockets {
        for org in moved {
            for url in [
                format!("https://dev.azure.com/{org}"),
                format!("https://{org}.visualstudio.com"),
            ] {
                if holds(cx, socket.as_ref(), &url) {
                    findings.push(Finding {
                        kind: KIND,
                        target: format!("git credential-cache: {url}"),
                        detail: format!(
                            "a credential git's credential-cache daemon holds in memory for {org}"
                        ),
                        action: Action::EraseCachedCredential {
                            socket: socket.clone(),
                            url,
                        },
                    });
                }
            }
        }
    }
    findings.push(Finding {
        kind: KIND,
        target: "git credential-cache".into(),
        detail: "your git configuration keeps credentials in memory (git's credential-cache daemon); what it holds for dev.azure.com as a whole, or for Git Credential Manager's cache store, names no organization one can ask for: it expires on its own (after 15 minutes unless configured otherwise), or run `git credential-cache exit` to drop it now".into(),
        action: Action::Note(Status::Info),
    });
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_cache_is_noticed_from_either_setting() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gitconfig");
        let uses = |text: &str| {
            std::fs::write(&file, text).unwrap();
            uses_memory_cache(std::slice::from_ref(&file))
        };
        assert!(uses("[credential]\n\thelper = cache --timeout 3600\n"));
        assert!(uses("[credential]\n\tcredentialStore = cache\n"));
        assert!(!uses(
            "[credential]\n\thelper = store\n\thelper = cache-like\n"
        ));
    }

    #[test]
    fn requests_name_the_exact_url() {
        assert_eq!(
            request("https://dev.azure.com/contoso").unwrap(),
            "protocol=https\nhost=dev.azure.com\npath=contoso\n\n"
        );
        assert_eq!(
            request("https://contoso.visualstudio.com").unwrap(),
            "protocol=https\nhost=contoso.visualstudio.com\n\n"
        );
    }
}
