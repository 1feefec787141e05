//! Task `gcm-tenant-cache`: delete the legacy Git Credential Manager's `tenant.cache`.
//!
//! Git Credential Manager for Windows (1.x) remembers which tenant each organization belongs to
//! in `%LocalAppData%\GitCredentialManager\tenant.cache`: a gzip stream of `url=tenant-guid\0`
//! pairs, where the all-zero GUID means "personal Microsoft accounts". After the switch to Entra
//! ID the cached tenant is wrong and sign-in loops; Microsoft's guidance is to delete the file.
//! It is a cache, so deleting it loses nothing: Git looks the tenants up again. Only this file
//! is touched, never its siblings. The agent looks for it at the platform's local-data location
//! on every OS.

use std::fmt::Write as _;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use super::{Action, Context, Evidence, Finding, Task, TaskError};
use crate::agent::hosts;
use crate::report::{Status, redact};

/// The all-zero GUID GCM stores for organizations backed by personal Microsoft accounts.
const MSA_TENANT: &str = "00000000-0000-0000-0000-000000000000";
/// A real cache holds a few hundred bytes; more than this is not a tenant cache.
const MAX_DECOMPRESSED: u64 = 1 << 20;

/// The `gcm-tenant-cache` task.
pub(crate) struct TenantCache;

/// `<local data>/GitCredentialManager/tenant.cache`.
pub fn cache_path(local_data: &Path) -> PathBuf {
    local_data.join("GitCredentialManager").join("tenant.cache")
}

/// One `url=tenant` pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub url: String,
    pub tenant: String,
    /// The Azure DevOps organization, when the URL is one.
    pub org: Option<String>,
    /// The host-wide entry (`https://dev.azure.com/`) GCM for Windows writes when it cannot see
    /// the remote's organization: it applies to every organization on the host.
    pub host_key: bool,
}

impl Entry {
    fn is_msa(&self) -> bool {
        self.tenant == MSA_TENANT
    }
}

/// What the file holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Contents {
    pub entries: Vec<Entry>,
    /// Why the file could not be read whole, if it could not.
    pub damage: Option<String>,
}

/// Reads the cache format, keeping whatever can be read from a damaged file.
pub(crate) fn parse(bytes: &[u8]) -> Contents {
    let mut text = Vec::new();
    let mut damage = match GzDecoder::new(bytes)
        .take(MAX_DECOMPRESSED + 1)
        .read_to_end(&mut text)
    {
        Ok(_) if text.len() as u64 > MAX_DECOMPRESSED => {
            Some("it is far larger than a tenant cache can be".to_string())
        }
        Ok(_) => None,
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => {
            Some("it is truncated".to_string())
        }
        Err(_) if text.is_empty() => Some("it is not in the expected gzip format".to_string()),
        Err(_) => Some("it is corrupt".to_string()),
    };
    let mut entries = Vec::new();
    let mut bad = 0usize;
    let pieces: Vec<&[u8]> = text.split(|&b| b == 0).collect();
    let last = pieces.len().saturating_sub(1);
    for (i, piece) in pieces.into_iter().enumerate() {
        if piece.is_empty() {
            continue;
        }
        // A truncated file ends mid-pair; that piece is not an entry.
        if i == last && damage.is_some() {
            continue;
        }
        match parse_pair(piece) {
            Some(entry) => entries.push(entry),
            None => bad += 1,
        }
    }
    if bad > 0 && damage.is_none() {
        damage = Some(format!("{bad} of its entries are unreadable"));
    }
    Contents { entries, damage }
}

fn parse_pair(piece: &[u8]) -> Option<Entry> {
    let text = std::str::from_utf8(piece).ok()?;
    let (url, tenant) = text.split_once('=')?;
    let tenant = uuid::Uuid::try_parse(tenant.trim())
        .ok()?
        .hyphenated()
        .to_string();
    let parsed = url::Url::parse(url).ok()?;
    let org = hosts::org_of_https_url(url);
    let host_key = org.is_none()
        && parsed.port().is_none()
        && parsed.host_str().is_some_and(|h| {
            h.trim_end_matches('.')
                .eq_ignore_ascii_case(hosts::DEV_AZURE)
        });
    Some(Entry {
        url: url.to_string(),
        org,
        tenant,
        host_key,
    })
}

impl Task for TenantCache {
    fn id(&self) -> &'static str {
        "gcm-tenant-cache"
    }

    fn title(&self) -> &'static str {
        "Git Credential Manager's tenant cache"
    }

    fn why(&self) -> &'static str {
        "The old Git Credential Manager remembers which sign-in service each organization used. \
         After the move that memory is wrong and Git keeps asking you to sign in. Deleting the \
         cache is safe: Git looks it up again."
    }

    fn detect(&self, cx: &Context<'_>, evidence: &mut Evidence) -> Result<Vec<Finding>, TaskError> {
        let path = cache_path(&cx.paths.local_data);
        let shown = cx.paths.display(&path);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(TaskError(format!("cannot look at {shown}: {err}"))),
        };
        if meta.file_type().is_symlink() || !meta.is_file() {
            let what = if meta.file_type().is_symlink() {
                "a symbolic link"
            } else {
                "not a regular file"
            };
            return Ok(vec![Finding {
                kind: "tenant-cache",
                target: shown,
                detail: format!(
                    "it is {what}, so ado-cutover leaves it alone; if it belongs to Git Credential Manager, delete it yourself"
                ),
                action: Action::NeedsUser,
            }]);
        }
        let contents = match crate::agent::fsutil::read_capped(&path) {
            Ok(bytes) => parse(&bytes),
            Err(err) => Contents {
                entries: Vec::new(),
                damage: Some(format!("it cannot be read ({err})")),
            },
        };
        Ok(plan(cx, &contents, &path, evidence))
    }
}

fn plan(
    cx: &Context<'_>,
    contents: &Contents,
    path: &Path,
    evidence: &mut Evidence,
) -> Vec<Finding> {
    let expected = cx.settings.expected_tenant();
    let in_scope: Vec<&Entry> = contents
        .entries
        .iter()
        .filter(|e| {
            // The host-wide entry serves every organization, the moved ones among them.
            e.host_key
                || e.org
                    .as_deref()
                    .is_some_and(|org| cx.settings.org_in_scope(org))
        })
        .collect();
    for entry in &in_scope {
        match (entry.is_msa(), &entry.org) {
            (true, Some(org)) => {
                evidence.msa_orgs.insert(org.to_ascii_lowercase());
            }
            // The host-wide entry on personal accounts: every configured organization was used so.
            (true, None) => evidence.msa_orgs.extend(
                cx.settings
                    .organizations()
                    .iter()
                    .map(|org| org.to_ascii_lowercase()),
            ),
            // Another tenant than the new one: the old tenant, whose accounts other caches
            // still hold (see the credentials task's shared sign-in cache).
            (false, org) if expected != Some(entry.tenant.as_str()) => {
                let orgs = match org {
                    Some(org) => vec![org.to_ascii_lowercase()],
                    None => cx
                        .settings
                        .organizations()
                        .iter()
                        .map(|org| org.to_ascii_lowercase())
                        .collect(),
                };
                for org in orgs {
                    evidence
                        .old_tenants
                        .insert(org, entry.tenant.to_ascii_lowercase());
                }
            }
            _ => {}
        }
    }
    let stale: Vec<&&Entry> = in_scope
        .iter()
        .filter(|e| expected != Some(e.tenant.as_str()))
        .collect();

    let mut findings = Vec::new();
    let names = describe(&contents.entries);
    let (action, detail) = if let Some(damage) = &contents.damage {
        let mut detail = format!("{damage}; a damaged cache is deleted whole (Git rebuilds it)");
        if !names.is_empty() {
            let _ = write!(detail, "; readable part names {names}");
        }
        (Action::DeleteFile(path.to_path_buf()), detail)
    } else if !stale.is_empty() {
        (
            Action::DeleteFile(path.to_path_buf()),
            format!("it names {names}; deleting it makes Git look the tenants up again"),
        )
    } else if !in_scope.is_empty() {
        (
            Action::Note(Status::Ok),
            format!("it already points at the new tenant for {names}"),
        )
    } else if contents.entries.is_empty() {
        (Action::Note(Status::Ok), "it is empty".to_string())
    } else if cx.settings.organizations().is_empty() {
        (
            Action::Note(Status::Ok),
            format!("it names no Azure DevOps organization ({names}); left alone"),
        )
    } else {
        (
            Action::Note(Status::Ok),
            format!("it names only organizations that did not move ({names}); left alone"),
        )
    };
    findings.push(Finding {
        kind: "tenant-cache",
        target: cx.paths.display(path),
        detail,
        action,
    });
    for entry in &contents.entries {
        findings.push(Finding {
            kind: "tenant-cache-entry",
            target: redact::url(&entry.url),
            detail: describe_one(entry),
            action: Action::Note(Status::Info),
        });
    }
    findings
}

fn describe_one(entry: &Entry) -> String {
    let backing = if entry.is_msa() {
        "personal Microsoft accounts".to_string()
    } else {
        format!("tenant {}", entry.tenant)
    };
    match &entry.org {
        Some(org) => format!("organization {org}: {backing}"),
        None if entry.host_key => format!(
            "the host-wide entry Git Credential Manager for Windows writes when it cannot see the organization; it applies to every organization: {backing}"
        ),
        None => format!("not an Azure DevOps organization: {backing}"),
    }
}

/// `contoso (personal Microsoft accounts), fabrikam (tenant …)`.
fn describe(entries: &[Entry]) -> String {
    entries
        .iter()
        .map(|e| {
            let name = match &e.org {
                Some(org) => org.clone(),
                None if e.host_key => "dev.azure.com (every organization)".to_string(),
                None => redact::url(&e.url),
            };
            if e.is_msa() {
                format!("{name} (personal Microsoft accounts)")
            } else {
                format!("{name} (tenant {})", e.tenant)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes a cache the way GCM for Windows does (tests and benchmarks).
pub fn encode(entries: &[(&str, &str)]) -> Vec<u8> {
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    for (url, tenant) in entries {
        let _ = write!(encoder, "{url}={tenant}\0");
    }
    encoder.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::paths::Paths;
    use crate::agent::tasks::with_context;

    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    fn sample() -> Vec<u8> {
        encode(&[
            ("https://dev.azure.com/contoso/", MSA_TENANT),
            ("https://fabrikam.visualstudio.com/", TENANT),
        ])
    }

    #[test]
    fn parses_the_gcmw_format() {
        let contents = parse(&sample());
        assert_eq!(contents.damage, None);
        assert_eq!(
            contents.entries,
            vec![
                Entry {
                    url: "https://dev.azure.com/contoso/".into(),
                    tenant: MSA_TENANT.into(),
                    org: Some("contoso".into()),
                    host_key: false,
                },
                Entry {
                    url: "https://fabrikam.visualstudio.com/".into(),
                    tenant: TENANT.into(),
                    org: Some("fabrikam".into()),
                    host_key: false,
                },
            ]
        );
    }

    #[test]
    fn a_truncated_file_keeps_its_complete_entries() {
        let bytes = sample();
        let contents = parse(&bytes[..bytes.len() - 10]);
        assert_eq!(contents.damage.as_deref(), Some("it is truncated"));
        assert!(contents.entries.len() <= 2);
    }

    #[test]
    fn garbage_is_not_gzip() {
        let contents = parse(b"this is not gzip");
        assert!(contents.damage.unwrap().contains("gzip"));
        assert!(contents.entries.is_empty());
    }

    #[test]
    fn unreadable_pairs_are_counted() {
        let contents = parse(&encode(&[
            ("https://dev.azure.com/a/", TENANT),
            ("nonsense", "x"),
        ]));
        assert_eq!(contents.entries.len(), 1);
        assert_eq!(
            contents.damage.as_deref(),
            Some("1 of its entries are unreadable")
        );
    }

    struct Fixture {
        dir: tempfile::TempDir,
        paths: Paths,
    }

    impl Fixture {
        fn new(cache: &[u8], config: &str) -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let paths = Paths::sandboxed(dir.path());
            let path = cache_path(&paths.local_data);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, cache).unwrap();
            std::fs::create_dir_all(paths.user_config().parent().unwrap()).unwrap();
            std::fs::write(paths.user_config(), config).unwrap();
            Fixture { dir, paths }
        }

        fn detect(&self) -> (Vec<Finding>, Evidence) {
            let mut evidence = Evidence::default();
            let findings =
                with_context(&self.paths, |cx| TenantCache.detect(cx, &mut evidence)).unwrap();
            (findings, evidence)
        }
    }

    #[test]
    fn plans_deletion_and_names_msa_organizations() {
        let f = Fixture::new(&sample(), "");
        let (findings, evidence) = f.detect();
        assert_eq!(
            findings[0].action,
            Action::DeleteFile(cache_path(&f.paths.local_data))
        );
        assert!(
            findings[0]
                .detail
                .contains("contoso (personal Microsoft accounts)")
        );
        assert!(
            findings[0]
                .detail
                .contains(&format!("fabrikam (tenant {TENANT})"))
        );
        assert_eq!(findings.len(), 3);
        assert!(evidence.msa_orgs.contains("contoso"));
        assert!(f.dir.path().exists());
        // fabrikam's cached tenant is its old one (no new tenant is set that it could be).
        assert_eq!(
            evidence.old_tenants.get("fabrikam").map(String::as_str),
            Some(TENANT)
        );
        assert!(!evidence.old_tenants.contains_key("contoso"));
        // The new tenant cached is not an old one.
        let f = Fixture::new(&sample(), &format!("expected_tenant = \"{TENANT}\"\n"));
        assert!(f.detect().1.old_tenants.is_empty());
    }

    #[test]
    fn a_cache_holding_only_the_host_wide_entry_goes_when_organizations_moved() {
        let cache = encode(&[("https://dev.azure.com/", MSA_TENANT)]);
        for config in ["organizations = [\"contoso\"]\n", ""] {
            let f = Fixture::new(&cache, config);
            let (findings, evidence) = f.detect();
            assert_eq!(
                evidence.msa_orgs.contains("contoso"),
                !config.is_empty(),
                "personal-account evidence for the configured organizations"
            );
            assert_eq!(
                findings[0].action,
                Action::DeleteFile(cache_path(&f.paths.local_data)),
                "{config}"
            );
            assert!(
                findings[1].detail.contains("host-wide"),
                "{}",
                findings[1].detail
            );
        }
        // Already on the new tenant: nothing stale.
        let cache = encode(&[("https://dev.azure.com/", TENANT)]);
        let f = Fixture::new(&cache, &format!("expected_tenant = \"{TENANT}\"\n"));
        assert_eq!(f.detect().0[0].action, Action::Note(Status::Ok));
        // Another host's entry is still not ours.
        let cache = encode(&[("https://example.com/", MSA_TENANT)]);
        let f = Fixture::new(&cache, "organizations = [\"contoso\"]\n");
        assert!(!f.detect().0[0].action.changes());
    }

    #[test]
    fn configured_organizations_limit_what_counts() {
        let f = Fixture::new(&sample(), "organizations = [\"other\"]\n");
        let (findings, evidence) = f.detect();
        assert_eq!(findings[0].action, Action::Note(Status::Ok));
        assert!(
            findings[0].detail.contains("did not move"),
            "{}",
            findings[0].detail
        );
        assert!(evidence.msa_orgs.is_empty());
    }

    #[test]
    fn a_cache_already_on_the_new_tenant_is_left_alone() {
        let cache = encode(&[("https://dev.azure.com/contoso/", TENANT)]);
        let f = Fixture::new(&cache, &format!("expected_tenant = \"{TENANT}\"\n"));
        let (findings, _) = f.detect();
        assert_eq!(findings[0].action, Action::Note(Status::Ok));
        let f = Fixture::new(&cache, "");
        assert!(
            f.detect().0[0].action.changes(),
            "without an expected tenant it is stale"
        );
    }

    #[test]
    fn a_damaged_cache_is_deleted_anyway_and_says_so() {
        let f = Fixture::new(b"\x1f\x8b\x08\x00garbage", "organizations = [\"other\"]\n");
        let (findings, _) = f.detect();
        assert!(findings[0].action.changes());
        assert!(
            findings[0].detail.contains("deleted whole"),
            "{}",
            findings[0].detail
        );
    }

    #[test]
    fn no_cache_means_nothing_to_report() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::sandboxed(dir.path());
        let findings = with_context(&paths, |cx| {
            TenantCache.detect(cx, &mut Evidence::default())
        });
        assert!(findings.unwrap().is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_is_left_for_the_user() {
        let f = Fixture::new(b"", "");
        let path = cache_path(&f.paths.local_data);
        std::fs::remove_file(&path).unwrap();
        let target = f.dir.path().join("elsewhere");
        std::fs::write(&target, sample()).unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let (findings, _) = f.detect();
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].action, Action::NeedsUser);
    }

    /// Fuzz (#19): whatever bytes are in `tenant.cache`, compressed or not, reading keeps what
    /// it can, names the damage, and invents no entry the file does not hold.
    #[test]
    fn fuzz_tenant_cache() {
        let plain = format!(
            "https://dev.azure.com/contoso/={MSA_TENANT}\0https://fabrikam.visualstudio.com/={TENANT}\0"
        );
        let dictionary: &[&[u8]] = &[
            b"=",
            b"\0",
            b"https://dev.azure.com/",
            b".visualstudio.com/",
            TENANT.as_bytes(),
            b"00000000-0000-0000-0000-000000000000",
        ];
        crate::fuzz::run(
            "tenant.cache (compressed)",
            &[&sample(), &encode(&[])],
            dictionary,
            |bytes| {
                let _ = parse(bytes);
            },
        );
        crate::fuzz::run(
            "tenant.cache (pairs)",
            &[plain.as_bytes()],
            dictionary,
            |text| {
                use flate2::{Compression, write::GzEncoder};
                use std::io::Write;
                let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
                gz.write_all(text).unwrap();
                let contents = parse(&gz.finish().unwrap());
                let lossy = String::from_utf8_lossy(text);
                for entry in &contents.entries {
                    assert!(lossy.contains(&entry.url), "{entry:?} is not in the file");
                }
            },
        );
    }
}
