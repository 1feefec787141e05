//! Writes the machine-wide managed configuration for installers (MSI custom action, pkg
//! postinstall, deb postinst, Intune/Jamf scripts): every value checked exactly as the agent
//! will read it, the file written atomically, the enrollment token in its own file beside it.
//!
//! On uninstall (not on an upgrade) the installer removes both again ([`remove`]): an enrollment
//! token left on a machine that no longer has the agent is one nobody looks after.
//!
//! The token file is readable by every user on purpose: the agent runs as each user and must
//! send reports, and an enrollment token can only add reports, never read them.

use std::path::{Path, PathBuf};

use crate::agent::fsutil;
use crate::agent::paths::Paths;
use crate::agent::settings::keys;
use crate::agent::settings::validate::{self, Raw, Value};

/// What the installer asked for.
#[derive(Debug, Default, Clone)]
pub(crate) struct Wanted {
    pub endpoint: Option<String>,
    pub token: Option<String>,
    pub tenant: Option<String>,
    /// Organization names; an entry may hold several, comma-separated (an MSI property does).
    pub organizations: Vec<String>,
}

/// The name of the token file, next to `config.toml`.
pub(crate) const TOKEN_FILE: &str = "enrollment-token";

/// Writes `config.toml` (and the token file) in the managed folder; returns the config's path.
pub(crate) fn write(paths: &Paths, wanted: &Wanted) -> Result<PathBuf, String> {
    let text = render(&paths.managed_dir, wanted)?;
    std::fs::create_dir_all(&paths.managed_dir).map_err(|e| {
        format!(
            "cannot create {}: {e}\nhint: run the installer with administrator rights",
            paths.managed_dir.display()
        )
    })?;
    if let Some(token) = wanted.token.as_deref().filter(|t| !t.trim().is_empty()) {
        let file = paths.managed_dir.join(TOKEN_FILE);
        fsutil::write_atomic(&file, format!("{}\n", token.trim()).as_bytes(), 0o644)
            .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    }
    let config = paths.managed_config();
    fsutil::write_atomic(&config, text.as_bytes(), 0o644)
        .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
    Ok(config)
}

/// Removes what [`write`] wrote (`config.toml` and the token file), and the managed folder when
/// nothing else is left in it; anything else IT put there stays. Returns what it removed;
/// nothing there is not an error (an uninstall may run twice).
pub(crate) fn remove(paths: &Paths) -> Result<Vec<PathBuf>, String> {
    let mut removed = Vec::new();
    for file in [paths.managed_config(), paths.managed_dir.join(TOKEN_FILE)] {
        match std::fs::remove_file(&file) {
            Ok(()) => removed.push(file),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(format!(
                    "cannot remove {}: {e}\nhint: run the uninstaller with administrator rights",
                    file.display()
                ));
            }
        }
    }
    let empty = std::fs::read_dir(&paths.managed_dir)
        .map(|mut entries| entries.next().is_none())
        .unwrap_or(false);
    if empty && std::fs::remove_dir(&paths.managed_dir).is_ok() {
        removed.push(paths.managed_dir.clone());
    }
    Ok(removed)
}

/// The TOML text, after checking every value.
fn render(base: &Path, wanted: &Wanted) -> Result<String, String> {
    let fail = |e: validate::Invalid| format!("{}\nhint: {}", e.problem, e.hint);
    let mut orgs = Vec::new();
    for org in wanted
        .organizations
        .iter()
        .flat_map(|o| o.split([',', ';', ' ']))
    {
        if !org.trim().is_empty() {
            orgs.push(validate::organization(org).map_err(fail)?);
        }
    }
    let mut text = String::from(
        "# Written by `ado-cutover config write-managed`. Users cannot override these keys.\n",
    );
    if !orgs.is_empty() {
        let quoted: Vec<String> = orgs.iter().map(|o| quote(o)).collect();
        text += &format!("organizations = [{}]\n", quoted.join(", "));
    }
    if let Some(tenant) = wanted.tenant.as_deref().filter(|t| !t.trim().is_empty()) {
        let Value::Text(tenant) =
            validate::check(&keys::EXPECTED_TENANT, Raw::Text(tenant.into()), base)
                .map_err(fail)?
        else {
            unreachable!("a tenant checks to text");
        };
        text += &format!("expected_tenant = {}\n", quote(&tenant));
    }
    let endpoint = wanted.endpoint.as_deref().filter(|e| !e.trim().is_empty());
    let has_token = wanted
        .token
        .as_deref()
        .is_some_and(|t| !t.trim().is_empty());
    match (endpoint, has_token) {
        (Some(endpoint), true) => {
            let Value::Text(endpoint) =
                validate::check(&keys::REPORT_ENDPOINT, Raw::Text(endpoint.into()), base)
                    .map_err(fail)?
            else {
                unreachable!("an endpoint checks to text");
            };
            text += &format!(
                "\n[report]\nendpoint = {}\nenrollment_token_file = {}\n",
                quote(&endpoint),
                quote(TOKEN_FILE)
            );
        }
        (None, false) => {}
        (Some(_), false) => {
            return Err("a report endpoint needs an enrollment token\nhint: pass --token-stdin (or TOKEN=... to the MSI)".into());
        }
        (None, true) => {
            return Err("an enrollment token needs a report endpoint\nhint: pass --endpoint (or ENDPOINT=... to the MSI)".into());
        }
    }
    Ok(text)
}

/// A TOML basic string. JSON's string escapes are all valid TOML escapes.
fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::env::Env;
    use crate::agent::settings::Settings;

    #[test]
    fn written_config_reads_back_as_the_same_settings() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::sandboxed(dir.path());
        let wanted = Wanted {
            endpoint: Some("https://cutover.example.com".into()),
            token: Some("tok\"en\\1".into()),
            tenant: Some("72F988BF-86F1-41AF-91AB-2D7CD011DB47".into()),
            organizations: vec!["contoso, fabrikam".into()],
        };
        let config = write(&paths, &wanted).unwrap();
        assert_eq!(config, paths.managed_config());
        let settings = Settings::resolve(&paths, &Env::default(), &Default::default()).unwrap();
        assert_eq!(settings.organizations(), ["contoso", "fabrikam"]);
        assert_eq!(
            settings.expected_tenant(),
            Some("72f988bf-86f1-41af-91ab-2d7cd011db47")
        );
        assert_eq!(
            settings.report_endpoint(),
            Some("https://cutover.example.com/")
        );
        let token = std::fs::read_to_string(settings.enrollment_token_file().unwrap()).unwrap();
        assert_eq!(token, "tok\"en\\1\n");
    }

    #[test]
    fn bad_values_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::sandboxed(dir.path());
        let cases = [
            Wanted {
                organizations: vec!["https://dev.azure.com/contoso".into()],
                ..Default::default()
            },
            Wanted {
                tenant: Some("not-a-guid".into()),
                ..Default::default()
            },
            Wanted {
                endpoint: Some("http://cutover.example.com".into()),
                token: Some("t".into()),
                ..Default::default()
            },
            Wanted {
                endpoint: Some("https://cutover.example.com".into()),
                ..Default::default()
            },
        ];
        for wanted in cases {
            let err = write(&paths, &wanted).unwrap_err();
            assert!(err.contains("hint:"), "{err}");
            assert!(!paths.managed_config().exists());
        }
    }

    fn wanted() -> Wanted {
        Wanted {
            endpoint: Some("https://cutover.example.com".into()),
            token: Some("token-1".into()),
            organizations: vec!["contoso".into()],
            ..Default::default()
        }
    }

    #[test]
    fn remove_takes_what_write_wrote_and_the_folder_it_leaves_empty() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::sandboxed(dir.path());
        write(&paths, &wanted()).unwrap();
        let removed = remove(&paths).unwrap();
        assert_eq!(
            removed,
            [
                paths.managed_config(),
                paths.managed_dir.join(TOKEN_FILE),
                paths.managed_dir.clone()
            ]
        );
        assert!(!paths.managed_dir.exists());
        // Again: nothing left to remove is not an error.
        assert_eq!(remove(&paths).unwrap(), Vec::<PathBuf>::new());
    }

    #[test]
    fn remove_leaves_what_it_did_not_write() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::sandboxed(dir.path());
        write(&paths, &wanted()).unwrap();
        let other = paths.managed_dir.join("site-notes.txt");
        std::fs::write(&other, "IT's own file").unwrap();
        remove(&paths).unwrap();
        assert!(!paths.managed_config().exists());
        assert!(!paths.managed_dir.join(TOKEN_FILE).exists());
        assert_eq!(std::fs::read_to_string(&other).unwrap(), "IT's own file");
    }
}
