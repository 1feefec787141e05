//! Azure DevOps credentials kept in files: git's credential-store files, and Git Credential
//! Manager's file stores (plaintext, DPAPI, gpg/pass).
//!
//! git's store holds one `https://user:secret@host/path` line per credential; only the matching
//! lines go, every other byte stays. GCM's file stores keep one file per credential at
//! `<root>/<namespace>/<scheme>/<host><service path>/<account>.<ext>` (`PlaintextCredentialStore`
//! `CreateServiceSlug`): the Azure Repos provider's service is the organization
//! (`https/dev.azure.com/contoso/alice.credential`), a generic service may be a whole repository
//! path (`https/contoso.visualstudio.com/proj/_git/repo/alice.credential`), and `http/` sits
//! next to `https/`. Their roots come from the environment (never in a sandbox) or from git
//! configuration (`credential.plaintextStorePath`, `credential.dpapiStorePath`,
//! `credential.gpgPassStorePath`), with the defaults always searched too, since items written
//! before a setting changed stay where they were.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Candidate, Owner, owner_of_url};
use crate::agent::data::journal::sha256_hex;
use crate::agent::hosts;
use crate::agent::repos::gitconfig;
use crate::agent::tasks::{Action, Context, Finding};
use crate::report::redact;

/// GCM's service paths are short; a deeper tree under a host is not one of its stores.
const MAX_DEPTH: usize = 8;

/// git's credential-store files: `~/.git-credentials` and `$XDG_CONFIG_HOME/git/credentials`.
pub(super) fn credential_store_files(cx: &Context<'_>) -> Vec<PathBuf> {
    let xdg = cx
        .env
        .get_os("XDG_CONFIG_HOME")
        .map_or_else(|| cx.paths.home.join(".config"), PathBuf::from);
    vec![
        cx.paths.home.join(".git-credentials"),
        xdg.join("git").join("credentials"),
    ]
}

/// The Azure DevOps lines of one credential-store file, one candidate per owner.
/// Host-wide lines are attributed by `resolve` before grouping, so one organization's lines are
/// one finding however they name it.
pub(super) fn store_file(
    cx: &Context<'_>,
    path: &Path,
    resolve: &mut dyn FnMut(Owner) -> Owner,
) -> Vec<Candidate> {
    let Ok(bytes) = crate::agent::fsutil::read_capped(path) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let sha = sha256_hex(&bytes);
    let shown = cx.paths.display(path);
    let mut by_owner: BTreeMap<Owner, Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let Ok(url) = url::Url::parse(line.trim()) else {
            continue;
        };
        if let Ok(owner) = owner_of_url(&url) {
            by_owner
                .entry(resolve(owner))
                .or_default()
                .push(line.to_string());
        }
    }
    by_owner
        .into_iter()
        .map(|(owner, lines)| {
            let shown_lines: Vec<String> = lines.iter().map(|l| redact::url(l)).collect();
            let count = if lines.len() == 1 {
                "1 credential"
            } else {
                "credentials"
            };
            let whose = owner.describe();
            let finding = Finding {
                kind: "credential-store",
                target: format!("{shown} ({})", owner.label()),
                detail: format!("{count} saved {whose}: {}", shown_lines.join(", ")),
                action: Action::RemoveLines {
                    file: path.to_path_buf(),
                    lines,
                    expected_sha256: sha.clone(),
                },
            };
            Candidate { owner, finding }
        })
        .collect()
}

/// One of Git Credential Manager's file stores.
struct FileStore {
    kind: &'static str,
    /// The folders that hold `<namespace>/<scheme>/<host>/...`.
    roots: Vec<PathBuf>,
    /// The extension of a credential file; anything else (`.gpg-id`) is never touched.
    extension: &'static str,
    what: &'static str,
}

/// GCM's file stores: plaintext (`~/.gcm/store`), DPAPI (`%USERPROFILE%\.gcm\dpapi_store`, the
/// same layout with encrypted secrets) and gpg/pass (`~/.password-store`), each also where the
/// environment or git configuration moved it.
fn file_stores(cx: &Context<'_>, config_files: &[PathBuf]) -> Vec<FileStore> {
    let roots = |var: &str, key: &str, default: PathBuf| {
        let mut roots = vec![default];
        roots.extend(cx.env.get_os(var).map(PathBuf::from));
        for value in gitconfig::values_in_files(config_files, key) {
            roots.extend(gitconfig::expand_path(&cx.paths.home, &value));
        }
        roots.retain(|root| cx.paths.reachable(root));
        roots.dedup();
        roots
    };
    let gcm = cx.paths.home.join(".gcm");
    vec![
        FileStore {
            kind: "gcm-plaintext-store",
            roots: roots(
                "GCM_PLAINTEXT_STORE_PATH",
                "credential.plaintextStorePath",
                gcm.join("store"),
            ),
            extension: "credential",
            what: "a Git Credential Manager credential (plaintext store)",
        },
        FileStore {
            kind: "gcm-dpapi-store",
            roots: roots(
                "GCM_DPAPI_STORE_PATH",
                "credential.dpapiStorePath",
                gcm.join("dpapi_store"),
            ),
            extension: "credential",
            what: "a Git Credential Manager credential (DPAPI store)",
        },
        FileStore {
            kind: "gcm-gpg-store",
            roots: roots(
                "PASSWORD_STORE_DIR",
                "credential.gpgPassStorePath",
                cx.paths.home.join(".password-store"),
            ),
            extension: "gpg",
            what: "a Git Credential Manager credential (gpg/pass store)",
        },
    ]
}

/// The credential files of GCM's file stores for Azure DevOps hosts.
pub(super) fn gcm_file_stores(
    cx: &Context<'_>,
    namespaces: &std::collections::BTreeSet<String>,
    config_files: &[PathBuf],
) -> Vec<Candidate> {
    let mut found = Vec::new();
    for store in file_stores(cx, config_files) {
        for root in &store.roots {
            for namespace in namespaces {
                for scheme in ["https", "http"] {
                    let base = root.join(namespace).join(scheme);
                    for (dir, host) in subdirs(&base) {
                        found.extend(host_dir(cx, &store, &dir, &host));
                    }
                }
            }
        }
    }
    found
}

/// The credentials under one host folder of a store.
fn host_dir(cx: &Context<'_>, store: &FileStore, dir: &Path, host: &str) -> Vec<Candidate> {
    let mut found = Vec::new();
    let candidate = |path: PathBuf, owner: Owner| {
        let whose = owner.describe();
        Candidate {
            owner,
            finding: Finding {
                kind: store.kind,
                target: cx.paths.display(&path),
                detail: format!("{} saved {whose}", store.what),
                action: Action::DeleteFile(path),
            },
        }
    };
    if host.eq_ignore_ascii_case(hosts::DEV_AZURE) {
        // `dev.azure.com/<account>.credential`: a host-wide credential, whose account may be an
        // organization name (`https://contoso@dev.azure.com`) or a person.
        for path in credential_files(dir, store.extension) {
            let account = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            found.push(candidate(path, Owner::of_host_user(&account)));
        }
        for (org_dir, org) in subdirs(dir) {
            let owner = Owner::Org(org.to_ascii_lowercase());
            for path in walk(&org_dir, store.extension) {
                found.push(candidate(path, owner.clone()));
            }
        }
    } else if let Some(org) = hosts::org_of_https_url(&format!("https://{host}/")) {
        for path in walk(dir, store.extension) {
            found.push(candidate(path, Owner::Org(org.clone())));
        }
    }
    found
}

/// The regular files with `extension` directly in `dir`, sorted.
fn credential_files(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    files
}

/// The credential files in `dir` and the folders below it (never following links), sorted.
fn walk(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0)];
    while let Some((dir, depth)) = stack.pop() {
        files.extend(credential_files(&dir, extension));
        if depth < MAX_DEPTH {
            stack.extend(subdirs(&dir).into_iter().map(|(sub, _)| (sub, depth + 1)));
        }
    }
    files.sort();
    files
}

/// The folders directly in `dir` (not links to folders), sorted, with their names.
fn subdirs(dir: &Path) -> Vec<(PathBuf, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut dirs: Vec<(PathBuf, String)> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| (e.path(), e.file_name().to_string_lossy().into_owned()))
        .collect();
    dirs.sort();
    dirs
}
