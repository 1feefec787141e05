//! Layered configuration, resolved into one [`Settings`] value that says where each value came
//! from.
//!
//! Layers, lowest first: built-in defaults, the user's file (or `--config FILE`), environment
//! variables, command-line flags. The machine-wide managed file that IT deploys sits above all of
//! them and locks its keys: a user's value for a locked key is ignored with a warning.

pub(super) mod file;
pub(super) mod keys;
pub(super) mod managed;
mod typed;
pub(super) mod validate;

pub(super) use typed::{KeyCreation, Passphrase, Registration};

use std::fmt;
use std::path::{Path, PathBuf};

use keys::Key;
use validate::{Raw, Value};

use crate::agent::env::Env;
use crate::agent::paths::Paths;

/// A configuration problem: what is wrong, then the fix. Nothing has been changed when one is
/// returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}\nhint: {hint}")]
pub(super) struct ConfigError {
    pub message: String,
    pub hint: String,
}

impl ConfigError {
    pub(super) fn new(message: impl Into<String>, hint: impl Into<String>) -> ConfigError {
        ConfigError {
            message: message.into(),
            hint: hint.into(),
        }
    }
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Source {
    Default,
    UserFile { path: PathBuf, line: usize },
    ManagedFile { path: PathBuf, line: usize },
    Env(&'static str),
    Flag(&'static str),
}

impl Source {
    /// True for values IT set in the managed file; nothing can override them.
    pub(super) fn is_locked(&self) -> bool {
        matches!(self, Source::ManagedFile { .. })
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => write!(f, "default"),
            Source::UserFile { path, line } => write!(f, "{} line {line}", path.display()),
            Source::ManagedFile { path, line } => {
                write!(f, "{} line {line} (managed, locked)", path.display())
            }
            Source::Env(var) => write!(f, "environment {var}"),
            Source::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// One key's resolved value.
#[derive(Debug, Clone)]
pub(super) struct Resolved {
    pub key: &'static Key,
    /// `None` when nothing set it.
    pub value: Option<Value>,
    pub source: Source,
}

/// What the settings were resolved from, besides the environment.
#[derive(Debug, Clone, Default)]
pub(super) struct Inputs {
    /// `--config FILE`: used instead of the user's file.
    pub config_file: Option<PathBuf>,
    /// `--org NAME`, repeated.
    pub orgs: Vec<String>,
    /// True/false settings turned on by a flag, e.g. `--fix-legacy-hosts`.
    pub switches: Vec<(&'static Key, &'static str)>,
}

/// The configuration files that were looked at.
#[derive(Debug, Clone)]
pub(super) struct FileUse {
    pub role: &'static str,
    pub path: PathBuf,
    pub found: bool,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub values: Vec<Resolved>,
    pub warnings: Vec<String>,
    pub files: Vec<FileUse>,
}

struct Candidate {
    key: &'static Key,
    value: Value,
    source: Source,
}

impl Settings {
    /// Resolves every layer. Any bad value in any layer is an error.
    pub(super) fn resolve(
        paths: &Paths,
        env: &Env,
        inputs: &Inputs,
    ) -> Result<Settings, ConfigError> {
        let mut warnings = Vec::new();
        let mut files = Vec::new();

        let managed_path = paths.managed_config();
        let managed = read_file(&managed_path, false, true, &mut warnings)?;
        files.push(FileUse {
            role: "managed",
            found: managed.is_some(),
            path: managed_path,
        });

        let (user_path, required) = match &inputs.config_file {
            Some(path) => (path.clone(), true),
            None => (paths.user_config(), false),
        };
        let user = read_file(&user_path, required, false, &mut warnings)?;
        files.push(FileUse {
            role: if required { "--config" } else { "user" },
            found: user.is_some(),
            path: user_path,
        });

        let env_values = from_env(env)?;
        let flag_values = from_flags(inputs)?;

        let mut values = Vec::new();
        for key in keys::ALL {
            let managed_value = find(managed.as_deref(), key);
            // The highest user-controlled layer that sets the key.
            let user_value = find(Some(&flag_values), key)
                .or_else(|| find(Some(&env_values), key))
                .or_else(|| find(user.as_deref(), key));
            let (value, source) = match (managed_value, user_value) {
                (Some((value, source)), ignored) => {
                    if let Some((_, ignored)) = ignored {
                        warnings.push(format!(
                            "`{}` from {ignored} is ignored: your IT department set it in {source}\nhint: ask IT to change it there, or remove it from {ignored}",
                            key.name
                        ));
                    }
                    (Some(value), source)
                }
                (None, Some((value, source))) => (Some(value), source),
                (None, None) => (None, Source::Default),
            };
            values.push(Resolved { key, value, source });
        }
        Ok(Settings {
            values,
            warnings,
            files,
        })
    }

    /// The resolved value of `key`.
    pub(super) fn get(&self, key: &Key) -> Option<&Resolved> {
        self.values.iter().find(|r| r.key.name == key.name)
    }

    fn value(&self, key: &Key) -> Option<&Value> {
        self.get(key).and_then(|r| r.value.as_ref())
    }

    /// The organizations that moved; empty when none are configured.
    pub(super) fn organizations(&self) -> &[String] {
        match self.value(&keys::ORGANIZATIONS) {
            Some(Value::List(orgs)) => orgs,
            _ => &[],
        }
    }

    /// The same settings acting only on `orgs` (a non-empty part of the configured
    /// organizations): the ones that switched, while the others wait.
    pub(super) fn only_organizations(&self, orgs: &[String]) -> Settings {
        let mut narrowed = self.clone();
        if let Some(resolved) = narrowed
            .values
            .iter_mut()
            .find(|r| r.key.name == keys::ORGANIZATIONS.name)
        {
            resolved.value = Some(Value::List(orgs.to_vec()));
        }
        narrowed
    }

    /// True when `org` is one of the configured organizations, or none are configured.
    pub(super) fn org_in_scope(&self, org: &str) -> bool {
        let orgs = self.organizations();
        orgs.is_empty() || orgs.iter().any(|o| o.eq_ignore_ascii_case(org))
    }

    /// The Entra tenant the organizations moved to, lower-case hyphenated.
    pub(super) fn expected_tenant(&self) -> Option<&str> {
        match self.value(&keys::EXPECTED_TENANT) {
            Some(Value::Text(t)) => Some(t),
            _ => None,
        }
    }

    /// Where reports go.
    pub(super) fn report_endpoint(&self) -> Option<&str> {
        match self.value(&keys::REPORT_ENDPOINT) {
            Some(Value::Text(t)) => Some(t),
            _ => None,
        }
    }

    /// The rollout group reports name (`report.group`).
    pub(crate) fn report_group(&self) -> Option<&str> {
        match self.value(&keys::REPORT_GROUP) {
            Some(Value::Text(t)) => Some(t),
            _ => None,
        }
    }

    /// True when the admin asked to delete Microsoft sign-in cookies too.
    pub(super) fn sign_out_microsoft(&self) -> bool {
        matches!(
            self.value(&keys::SIGN_OUT_MICROSOFT),
            Some(Value::Bool(true))
        )
    }

    /// A list setting; empty when not set.
    pub(super) fn list(&self, key: &Key) -> &[String] {
        match self.value(key) {
            Some(Value::List(items)) => items,
            _ => &[],
        }
    }

    /// A text setting (already checked), or the key's default; `None` when neither.
    pub(super) fn text(&self, key: &Key) -> Option<&str> {
        match self.value(key) {
            Some(Value::Text(t)) => Some(t),
            _ => key.default,
        }
    }

    /// A true/false setting; when not set, the key's default (false without one).
    pub(super) fn flag(&self, key: &Key) -> bool {
        match self.value(key) {
            Some(Value::Bool(set)) => *set,
            _ => key.default == Some("true"),
        }
    }

    /// The file holding the enrollment token.
    pub(super) fn enrollment_token_file(&self) -> Option<&Path> {
        match self.value(&keys::ENROLLMENT_TOKEN_FILE) {
            Some(Value::Path(p)) => Some(p),
            _ => None,
        }
    }
}

/// The value and source of the last entry for `key` in one layer.
fn find(layer: Option<&[Candidate]>, key: &Key) -> Option<(Value, Source)> {
    layer?
        .iter()
        .rfind(|c| c.key.name == key.name)
        .map(|c| (c.value.clone(), c.source.clone()))
}

fn read_file(
    path: &Path,
    required: bool,
    managed: bool,
    warnings: &mut Vec<String>,
) -> Result<Option<Vec<Candidate>>, ConfigError> {
    let Some(parsed) = file::read(path, required)? else {
        return Ok(None);
    };
    warnings.extend(parsed.warnings);
    let base = file::base_of(path);
    let mut out = Vec::new();
    for entry in parsed.entries {
        let value = validate::check(entry.key, entry.raw, &base).map_err(|bad| {
            ConfigError::new(
                format!(
                    "{} line {}: `{}`: {}",
                    path.display(),
                    entry.line,
                    entry.key.name,
                    bad.problem
                ),
                bad.hint,
            )
        })?;
        let source = if managed {
            Source::ManagedFile {
                path: path.to_path_buf(),
                line: entry.line,
            }
        } else {
            Source::UserFile {
                path: path.to_path_buf(),
                line: entry.line,
            }
        };
        out.push(Candidate {
            key: entry.key,
            value,
            source,
        });
    }
    Ok(Some(out))
}

fn from_env(env: &Env) -> Result<Vec<Candidate>, ConfigError> {
    let cwd = std::env::current_dir().unwrap_or_default();
    let mut out = Vec::new();
    for key in keys::ALL {
        let Some(text) = env.get(key.env) else {
            continue;
        };
        let raw = match key.kind {
            keys::Kind::List => Raw::List(
                text.split([',', ' ', ';'])
                    .filter(|s| !s.trim().is_empty())
                    .map(str::to_string)
                    .collect(),
            ),
            keys::Kind::Text | keys::Kind::Path | keys::Kind::Bool | keys::Kind::Number => {
                Raw::Text(text.to_string())
            }
        };
        let value = validate::check(key, raw, &cwd).map_err(|bad| {
            ConfigError::new(
                format!("environment variable {}: {}", key.env, bad.problem),
                bad.hint,
            )
        })?;
        out.push(Candidate {
            key,
            value,
            source: Source::Env(key.env),
        });
    }
    Ok(out)
}

fn from_flags(inputs: &Inputs) -> Result<Vec<Candidate>, ConfigError> {
    let mut out: Vec<Candidate> = inputs
        .switches
        .iter()
        .map(|(key, flag)| Candidate {
            key,
            value: Value::Bool(true),
            source: Source::Flag(flag),
        })
        .collect();
    if inputs.orgs.is_empty() {
        return Ok(out);
    }
    let value = validate::check(
        &keys::ORGANIZATIONS,
        Raw::List(inputs.orgs.clone()),
        Path::new("."),
    )
    .map_err(|bad| ConfigError::new(format!("--org: {}", bad.problem), bad.hint))?;
    out.push(Candidate {
        key: &keys::ORGANIZATIONS,
        value,
        source: Source::Flag("--org"),
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixture {
        _dir: tempfile::TempDir,
        paths: Paths,
    }

    fn fixture(managed: Option<&str>, user: Option<&str>) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::sandboxed(dir.path());
        for (path, text) in [
            (paths.managed_config(), managed),
            (paths.user_config(), user),
        ] {
            if let Some(text) = text {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, text).unwrap();
            }
        }
        Fixture { _dir: dir, paths }
    }

    /// The TOML blocks of a Markdown text, with `<placeholders>` filled by a valid GUID.
    fn toml_blocks(markdown: &str) -> Vec<String> {
        let mut blocks = Vec::new();
        let mut current: Option<String> = None;
        for line in markdown.lines() {
            match (&mut current, line.trim_start()) {
                (None, "```toml") => current = Some(String::new()),
                (Some(block), "```") => {
                    blocks.push(std::mem::take(block));
                    current = None;
                }
                (Some(block), _) => {
                    let mut filled = line.to_string();
                    while let (Some(a), Some(b)) = (filled.find('<'), filled.find('>')) {
                        if b < a {
                            break;
                        }
                        filled.replace_range(a..=b, "72f988bf-86f1-41af-91ab-2d7cd011db47");
                    }
                    block.push_str(&filled);
                    block.push('\n');
                }
                (None, _) => {}
            }
        }
        blocks
    }

    #[test]
    fn every_example_in_the_docs_is_accepted_as_written() {
        let docs = [
            ("README.md", include_str!("../../../README.md")),
            (
                "docs/entra-app.md",
                include_str!("../../../docs/entra-app.md"),
            ),
            (
                "docs/deploying.md",
                include_str!("../../../docs/deploying.md"),
            ),
        ];
        let mut seen = 0;
        for (name, text) in docs {
            for block in toml_blocks(text) {
                let f = fixture(Some(&block), None);
                let resolved = Settings::resolve(&f.paths, &Env::default(), &Inputs::default());
                let settings = resolved
                    .unwrap_or_else(|err| panic!("{name}: the example is refused: {err}\n{block}"));
                assert!(
                    settings.warnings.is_empty(),
                    "{name}: {:?}",
                    settings.warnings
                );
                seen += 1;
            }
        }
        assert!(seen >= 2, "the README and entra-app examples are found");
    }

    #[test]
    fn numbers_are_numbers_and_quoted_numbers_still_work() {
        for text in [
            "[ssh_key]\nvalid_days = 365\nbits = 4096\n[pat]\nvalid_days = 30\n",
            "[ssh_key]\nvalid_days = \"365\"\nbits = \"4096\"\n[pat]\nvalid_days = \"30\"\n",
        ] {
            let f = fixture(Some(text), None);
            let s = Settings::resolve(&f.paths, &Env::default(), &Inputs::default()).unwrap();
            assert_eq!(s.text(&keys::SSH_KEY_VALID_DAYS), Some("365"), "{text}");
            assert_eq!(s.text(&keys::SSH_KEY_BITS), Some("4096"), "{text}");
            assert_eq!(s.text(&keys::PAT_VALID_DAYS), Some("30"), "{text}");
        }
        // Out of range, or not a whole number: refused with the file, the line and a hint.
        for text in [
            "[ssh_key]\nvalid_days = 400\n",
            "[ssh_key]\nbits = 4096.0\n",
        ] {
            let f = fixture(Some(text), None);
            let err = Settings::resolve(&f.paths, &Env::default(), &Inputs::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("line 2") && err.contains("hint:"), "{err}");
        }
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        let f = fixture(None, None);
        let s = Settings::resolve(&f.paths, &Env::default(), &Inputs::default()).unwrap();
        assert!(s.organizations().is_empty());
        assert!(s.org_in_scope("anything"));
        assert_eq!(s.expected_tenant(), None);
        assert!(s.values.iter().all(|r| r.source == Source::Default));
        assert!(s.warnings.is_empty());
    }

    #[test]
    fn layers_override_in_order() {
        let f = fixture(None, Some("organizations = [\"fromfile\"]\n"));
        let env = Env::from_pairs([("ADO_CUTOVER_ORGANIZATIONS", "fromenv,second")]);
        let s = Settings::resolve(&f.paths, &env, &Inputs::default()).unwrap();
        assert_eq!(s.organizations(), ["fromenv", "second"]);
        assert_eq!(
            s.get(&keys::ORGANIZATIONS).unwrap().source,
            Source::Env("ADO_CUTOVER_ORGANIZATIONS")
        );

        let inputs = Inputs {
            orgs: vec!["fromflag".into()],
            ..Inputs::default()
        };
        let s = Settings::resolve(&f.paths, &env, &inputs).unwrap();
        assert_eq!(s.organizations(), ["fromflag"]);
        assert!(!s.org_in_scope("fromfile"));

        let s = Settings::resolve(&f.paths, &Env::default(), &Inputs::default()).unwrap();
        assert_eq!(s.organizations(), ["fromfile"]);
        assert!(matches!(
            s.get(&keys::ORGANIZATIONS).unwrap().source,
            Source::UserFile { line: 1, .. }
        ));
    }

    #[test]
    fn managed_keys_are_locked() {
        let f = fixture(
            Some("organizations = [\"it-chose\"]\n"),
            Some(
                "organizations = [\"mine\"]\nexpected_tenant = \"72f988bf-86f1-41af-91ab-2d7cd011db47\"\n",
            ),
        );
        let inputs = Inputs {
            orgs: vec!["flagged".into()],
            ..Inputs::default()
        };
        let s = Settings::resolve(&f.paths, &Env::default(), &inputs).unwrap();
        assert_eq!(s.organizations(), ["it-chose"]);
        assert!(s.get(&keys::ORGANIZATIONS).unwrap().source.is_locked());
        // A key IT did not set stays the user's.
        assert_eq!(
            s.expected_tenant(),
            Some("72f988bf-86f1-41af-91ab-2d7cd011db47")
        );
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
        assert!(
            s.warnings[0].contains("flag --org is ignored"),
            "{}",
            s.warnings[0]
        );
    }

    #[test]
    fn config_flag_replaces_the_user_file_and_must_exist() {
        let f = fixture(None, Some("organizations = [\"mine\"]\n"));
        let other = f.paths.home.parent().unwrap().join("other.toml");
        std::fs::write(&other, "organizations = [\"other\"]\n").unwrap();
        let inputs = Inputs {
            config_file: Some(other.clone()),
            ..Inputs::default()
        };
        let s = Settings::resolve(&f.paths, &Env::default(), &inputs).unwrap();
        assert_eq!(s.organizations(), ["other"]);

        let inputs = Inputs {
            config_file: Some(other.with_file_name("missing.toml")),
            ..Inputs::default()
        };
        let err = Settings::resolve(&f.paths, &Env::default(), &inputs).unwrap_err();
        assert!(err.message.contains("does not exist"), "{err}");
    }

    #[test]
    fn bad_values_name_their_source() {
        let f = fixture(None, Some("\n\nexpected_tenant = \"nope\"\n"));
        let err = Settings::resolve(&f.paths, &Env::default(), &Inputs::default()).unwrap_err();
        assert!(
            err.message
                .contains("config.toml line 3: `expected_tenant`"),
            "{err}"
        );

        let f = fixture(None, None);
        let env = Env::from_pairs([("ADO_CUTOVER_REPORT_ENDPOINT", "http://example.com")]);
        let err = Settings::resolve(&f.paths, &env, &Inputs::default()).unwrap_err();
        assert!(
            err.message
                .starts_with("environment variable ADO_CUTOVER_REPORT_ENDPOINT"),
            "{err}"
        );

        let inputs = Inputs {
            orgs: vec!["https://dev.azure.com/contoso".into()],
            ..Inputs::default()
        };
        let err = Settings::resolve(&f.paths, &Env::default(), &inputs).unwrap_err();
        assert!(err.message.starts_with("--org:"), "{err}");
    }
}
