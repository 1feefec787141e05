//! The Azure Artifacts credential provider's session token cache (`SessionTokenCache.dat` in
//! `MicrosoftCredentialProvider` under the local application data folder: `%LocalAppData%` on
//! Windows, `~/.local/share` on Linux, and on macOS `~/Library/Application Support` or, written
//! by older .NET, `~/.local/share`).
//!
//! NuGet, dotnet and msbuild restore through the provider, which keeps a session token per feed
//! here and has no sign-out: after the switch it goes on presenting the old account's token
//! (401 on restore). The file is a JSON object from feed URL to token. It holds Azure Artifacts
//! tokens only, and the provider makes it anew on the next restore, so it is deleted whole when
//! one of its feeds belongs to an organization that moved (a file that cannot be read, when
//! any organization moved). Its values are never read into a finding, shown or kept.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::agent::tasks::{Action, Context, Finding, feeds};
use crate::report::Status;

const KIND: &str = "artifacts-session-tokens";
const FILE: &str = "SessionTokenCache.dat";

/// What the cache holds: the organizations of its feeds, or why it could not be read.
struct Cache {
    path: PathBuf,
    orgs: Result<BTreeSet<String>, &'static str>,
}

/// The places the provider keeps the file on this platform, each once.
fn places(cx: &Context<'_>) -> Vec<PathBuf> {
    let mut places = vec![cx.paths.local_data.join("MicrosoftCredentialProvider")];
    if cfg!(target_os = "macos") {
        places.push(
            cx.paths
                .home
                .join(".local")
                .join("share")
                .join("MicrosoftCredentialProvider"),
        );
    }
    places.dedup();
    places.into_iter().map(|dir| dir.join(FILE)).collect()
}

fn caches(cx: &Context<'_>) -> Vec<Cache> {
    places(cx)
        .into_iter()
        .filter(|path| std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file()))
        .map(|path| {
            let orgs = crate::agent::fsutil::read_capped(&path)
                .map_err(|_| "it cannot be read")
                .and_then(|bytes| {
                    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes)
                        .map_err(|_| "it is not in the provider's plain format (protected, or from another version)")
                })
                .map(|map| map.keys().filter_map(|url| feeds::org_of_feed_url(url)).collect());
            Cache { path, orgs }
        })
        .collect()
}

/// The organizations the caches name, for the question which of them moved.
pub(super) fn orgs(cx: &Context<'_>) -> Vec<String> {
    caches(cx)
        .into_iter()
        .filter_map(|cache| cache.orgs.ok())
        .flatten()
        .collect()
}

/// A finding per cache: delete it when it holds a feed of an organization in `moved`, or cannot
/// be read while some organization moved; otherwise a note.
pub(super) fn findings(cx: &Context<'_>, moved: &BTreeSet<String>) -> Vec<Finding> {
    caches(cx)
        .into_iter()
        .map(|cache| {
            let shown = cx.paths.display(&cache.path);
            let (detail, action) = match &cache.orgs {
                Ok(orgs) => {
                    let hit: Vec<&str> = orgs
                        .iter()
                        .filter(|org| moved.contains(*org))
                        .map(String::as_str)
                        .collect();
                    if hit.is_empty() {
                        let what = if orgs.is_empty() {
                            "it holds no Azure DevOps feed".to_string()
                        } else {
                            format!(
                                "it holds feeds of organizations that did not move ({}); left alone",
                                orgs.iter().cloned().collect::<Vec<_>>().join(", ")
                            )
                        };
                        (what, Action::Note(Status::Ok))
                    } else {
                        (
                            format!(
                                "the Azure Artifacts credential provider's session tokens, which still sign package restores in as your old account for {}; the next restore (dotnet, nuget, msbuild, Visual Studio) signs you in again",
                                hit.join(", ")
                            ),
                            Action::DeleteFile(cache.path.clone()),
                        )
                    }
                }
                Err(why) if !moved.is_empty() => (
                    format!(
                        "the Azure Artifacts credential provider's session tokens; {why}, so it is deleted whole (it holds only feed tokens, and the next restore signs you in again)"
                    ),
                    Action::DeleteFile(cache.path.clone()),
                ),
                Err(why) => (
                    format!("{why}; no organization in scope moved, so it is left alone"),
                    Action::Note(Status::Ok),
                ),
            };
            Finding {
                kind: KIND,
                target: shown,
                detail,
                action,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::paths::Paths;
    use crate::agent::tasks::with_context;

    fn cache(paths: &Paths, text: &str) -> PathBuf {
        let dir = paths.local_data.join("MicrosoftCredentialProvider");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(FILE);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn deleted_only_for_a_moved_organization_and_never_shows_a_token() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::sandboxed(dir.path());
        let path = cache(
            &paths,
            r#"{"https://pkgs.dev.azure.com/contoso/_packaging/team/nuget/v3/index.json":"SECRET-1","https://fabrikam.pkgs.visualstudio.com/_packaging/f/nuget/v3/index.json":"SECRET-2"}"#,
        );
        with_context(&paths, |cx| {
            assert_eq!(orgs(cx), ["contoso", "fabrikam"]);
            let moved: BTreeSet<String> = ["contoso".to_string()].into();
            let found = findings(cx, &moved);
            assert_eq!(found.len(), 1);
            assert_eq!(found[0].action, Action::DeleteFile(path.clone()));
            assert!(found[0].detail.contains("contoso"), "{}", found[0].detail);
            assert!(!format!("{found:?}").contains("SECRET"));

            let other: BTreeSet<String> = ["northwind".to_string()].into();
            assert_eq!(
                findings(cx, &other)[0].action,
                Action::Note(Status::Ok),
                "feeds of organizations that did not move"
            );
        });
    }

    #[test]
    fn an_unreadable_cache_goes_only_when_something_moved() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::sandboxed(dir.path());
        let path = cache(&paths, "\u{1}\u{2}protected bytes");
        with_context(&paths, |cx| {
            let none = BTreeSet::new();
            assert_eq!(findings(cx, &none)[0].action, Action::Note(Status::Ok));
            let moved: BTreeSet<String> = ["contoso".to_string()].into();
            assert_eq!(findings(cx, &moved)[0].action, Action::DeleteFile(path));
        });
    }
}
