//! Reads one TOML configuration file into raw values, each with the line it came from.
//!
//! Syntax errors and values of the wrong type are errors naming the file, line and key. Unknown
//! keys are warnings, not errors: a managed file written for a newer agent must not stop older
//! agents across the fleet.

use std::path::{Path, PathBuf};

use toml_edit::{ImDocument, Item, Table, Value as TomlValue};

use super::ConfigError;
use super::keys::{self, Key};
use super::validate::Raw;

/// One value read from a file.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub key: &'static Key,
    pub raw: Raw,
    pub line: usize,
}

/// What a file held.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub entries: Vec<Entry>,
    pub warnings: Vec<String>,
}

/// Reads `path`. `Ok(None)` when it does not exist and `required` is false.
pub(crate) fn read(path: &Path, required: bool) -> Result<Option<Parsed>, ConfigError> {
    let text = match crate::agent::fsutil::read_capped_text(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && !required => return Ok(None),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConfigError::new(
                format!("configuration file {} does not exist", path.display()),
                "check the path given to --config",
            ));
        }
        Err(err) if err.kind() == std::io::ErrorKind::InvalidData => {
            return Err(ConfigError::new(
                format!("configuration file {} is not UTF-8 text", path.display()),
                "save the file as UTF-8 (without a byte order mark is best)",
            ));
        }
        Err(err) => {
            return Err(ConfigError::new(
                format!("cannot read configuration file {}: {err}", path.display()),
                "check that the file is readable by this user",
            ));
        }
    };
    parse(path, &text).map(Some)
}

/// Parses configuration text; `path` is only used in messages.
pub(crate) fn parse(path: &Path, text: &str) -> Result<Parsed, ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let doc = ImDocument::parse(text).map_err(|err| {
        let line = err.span().map_or(1, |span| line_of(text, span.start));
        let message = err.message().trim().replace('\n', "; ");
        ConfigError::new(
            format!("{} line {line}: invalid TOML: {message}", path.display()),
            "fix the syntax on that line; strings need double quotes, lists look like [\"a\", \"b\"]",
        )
    })?;
    let mut parsed = Parsed::default();
    let lines = Lines::of(text);
    let mut unknown = 0;
    walk(path, &lines, doc.as_table(), "", &mut parsed, &mut unknown)?;
    if unknown > MAX_UNKNOWN_WARNINGS {
        parsed.warnings.push(format!(
            "{}: {} more unknown keys are ignored",
            path.display(),
            unknown - MAX_UNKNOWN_WARNINGS
        ));
    }
    Ok(parsed)
}

/// Unknown keys named one by one; past this, one line counts the rest.
const MAX_UNKNOWN_WARNINGS: usize = 20;

/// Where each line of a text starts, found once, so any offset's line number is a binary
/// search (a file with many keys is read in linear time).
struct Lines(Vec<usize>);

impl Lines {
    fn of(text: &str) -> Lines {
        Lines(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        )
    }

    /// The 1-based line of byte `offset`.
    fn at(&self, offset: usize) -> usize {
        self.0.partition_point(|&newline| newline < offset) + 1
    }
}

fn walk(
    path: &Path,
    lines: &Lines,
    table: &Table,
    prefix: &str,
    parsed: &mut Parsed,
    unknown: &mut usize,
) -> Result<(), ConfigError> {
    for (name, item) in table.iter() {
        let dotted = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}.{name}")
        };
        let line = table
            .key(name)
            .and_then(|key| key.span())
            .or_else(|| item.span())
            .map_or(0, |span| lines.at(span.start));
        if let Some(key) = keys::find(&dotted) {
            let raw = raw_value(key, item).ok_or_else(|| {
                ConfigError::new(
                    format!(
                        "{} line {line}: `{dotted}` must be {}, not {}",
                        path.display(),
                        expected(key),
                        describe(item)
                    ),
                    example(key),
                )
            })?;
            parsed.entries.push(Entry { key, raw, line });
        } else if keys::is_table(&dotted) {
            match item.as_table_like() {
                Some(_) => {
                    if let Some(sub) = item.as_table() {
                        walk(path, lines, sub, &dotted, parsed, unknown)?;
                    } else if let Some(inline) = item.as_inline_table() {
                        let table = inline.clone().into_table();
                        walk(path, lines, &table, &dotted, parsed, unknown)?;
                    }
                }
                None => {
                    return Err(ConfigError::new(
                        format!(
                            "{} line {line}: `{dotted}` must be a table, not {}",
                            path.display(),
                            describe(item)
                        ),
                        format!("write it as a section: [{dotted}]"),
                    ));
                }
            }
        } else {
            *unknown += 1;
            if *unknown > MAX_UNKNOWN_WARNINGS {
                continue;
            }
            let known: Vec<&str> = keys::ALL.iter().map(|k| k.name).collect();
            parsed.warnings.push(format!(
                "{} line {line}: unknown key `{dotted}` is ignored\nhint: check its spelling; known keys are {}",
                path.display(),
                known.join(", ")
            ));
        }
    }
    Ok(())
}

fn raw_value(key: &Key, item: &Item) -> Option<Raw> {
    match item.as_value()? {
        TomlValue::String(s) => Some(Raw::Text(s.value().clone())),
        // A number key's value is checked by its validator, whichever way it was written.
        TomlValue::Integer(n) if key.kind == keys::Kind::Number => {
            Some(Raw::Text(n.value().to_string()))
        }
        TomlValue::Boolean(b) => Some(Raw::Bool(*b.value())),
        TomlValue::Array(array) => array
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .map(Raw::List),
        _ => None,
    }
}

fn expected(key: &Key) -> &'static str {
    match key.kind {
        keys::Kind::List => "a list of strings",
        keys::Kind::Bool => "true or false",
        keys::Kind::Number => "a whole number",
        keys::Kind::Text | keys::Kind::Path => "a string",
    }
}

fn example(key: &Key) -> String {
    let last = key.name.rsplit('.').next().unwrap_or(key.name);
    match key.kind {
        keys::Kind::List => format!("write it like {last} = [\"contoso\", \"fabrikam\"]"),
        keys::Kind::Bool => format!("write it like {last} = true (no quotes)"),
        keys::Kind::Number => format!("write it like {last} = 365 (a whole number)"),
        keys::Kind::Text | keys::Kind::Path => {
            format!("write it like {last} = \"...\" (in double quotes)")
        }
    }
}

fn describe(item: &Item) -> &'static str {
    match item {
        Item::None => "nothing",
        Item::Table(_) | Item::ArrayOfTables(_) => "a table",
        Item::Value(value) => match value {
            TomlValue::String(_) => "a string",
            TomlValue::Integer(_) => "a number",
            TomlValue::Float(_) => "a number",
            TomlValue::Boolean(_) => "true/false",
            TomlValue::Datetime(_) => "a date",
            TomlValue::Array(_) => "a list holding something other than strings",
            TomlValue::InlineTable(_) => "a table",
        },
    }
}

/// The 1-based line holding byte `offset`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The folder relative paths in `path` are taken from.
pub(crate) fn base_of(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_numbers_come_from_one_pass_over_the_text() {
        let text = "a\nbb\n\nccc";
        let lines = Lines::of(text);
        for offset in 0..text.len() {
            assert_eq!(lines.at(offset), line_of(text, offset), "offset {offset}");
        }
    }

    #[test]
    fn many_unknown_keys_are_named_up_to_a_limit_then_counted() {
        let text: String = (0..25).map(|i| format!("unknown{i} = 1\n")).collect();
        let parsed = parse(Path::new("c.toml"), &text).unwrap();
        assert_eq!(parsed.warnings.len(), MAX_UNKNOWN_WARNINGS + 1);
        assert!(parsed.warnings[0].contains("c.toml line 1: unknown key `unknown0`"));
        assert!(parsed.warnings[19].contains("line 20: unknown key `unknown19`"));
        assert_eq!(
            parsed.warnings.last().unwrap(),
            "c.toml: 5 more unknown keys are ignored"
        );
    }

    fn parse_ok(text: &str) -> Parsed {
        parse(Path::new("config.toml"), text).unwrap()
    }

    fn parse_err(text: &str) -> String {
        parse(Path::new("config.toml"), text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn reads_keys_with_their_lines() {
        let parsed = parse_ok(
            "# comment\norganizations = [\"contoso\"]\n\n[report]\nendpoint = \"https://r.example\"\n",
        );
        let found: Vec<(&str, usize)> = parsed
            .entries
            .iter()
            .map(|e| (e.key.name, e.line))
            .collect();
        assert_eq!(found, vec![("organizations", 2), ("report.endpoint", 5)]);
        assert!(parsed.warnings.is_empty());
    }

    #[test]
    fn dotted_and_inline_tables_work() {
        for text in [
            "report.endpoint = \"https://a\"\n",
            "report = { endpoint = \"https://a\" }\n",
        ] {
            let parsed = parse_ok(text);
            assert_eq!(parsed.entries.len(), 1, "{text}");
            assert_eq!(parsed.entries[0].key.name, "report.endpoint");
            assert_eq!(parsed.entries[0].raw, Raw::Text("https://a".into()));
        }
    }

    #[test]
    fn syntax_error_names_file_line_and_hint() {
        let err = parse_err("organizations = [\"contoso\"]\nexpected_tenant = oops\n");
        assert!(err.starts_with("config.toml line 2: invalid TOML"), "{err}");
        assert!(err.contains("\nhint: "), "{err}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let err = parse_err("\norganizations = 3\n");
        assert!(
            err.starts_with(
                "config.toml line 2: `organizations` must be a list of strings, not a number"
            ),
            "{err}"
        );
        assert!(
            err.contains("hint: write it like organizations = ["),
            "{err}"
        );
        let err = parse_err("[report]\nendpoint = [1]\n");
        assert!(
            err.contains("line 2: `report.endpoint` must be a string"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_warn_with_their_line() {
        let parsed = parse_ok("organisations = [\"contoso\"]\n[report]\nurl = \"x\"\n");
        assert!(parsed.entries.is_empty());
        assert_eq!(parsed.warnings.len(), 2);
        assert!(parsed.warnings[0].contains("line 1: unknown key `organisations`"));
        assert!(parsed.warnings[1].contains("line 3: unknown key `report.url`"));
    }

    #[test]
    fn byte_order_mark_is_accepted() {
        let parsed = parse_ok("\u{feff}organizations = [\"contoso\"]\n");
        assert_eq!(parsed.entries.len(), 1);
    }

    #[test]
    fn missing_optional_file_is_none_and_required_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.toml");
        assert!(read(&path, false).unwrap().is_none());
        let err = read(&path, true).unwrap_err().to_string();
        assert!(err.contains("does not exist"), "{err}");
    }

    /// Fuzz (#19): whatever the configuration file says, it is read or refused with a message
    /// that names the file and a fix, never a panic.
    #[test]
    fn fuzz_settings_toml() {
        let seeds: &[&[u8]] = &[
            b"[report]\nendpoint = \"https://cutover.example.com\"\nenrollment_token_file = \"enrollment-token\"\n\n[organizations]\nnames = [\"contoso\"]\nexpected_tenant = \"11111111-1111-1111-1111-111111111111\"\n",
            b"\xef\xbb\xbf[remotes]\nfix_legacy_hosts = true\nroots = ['~/src']\n",
        ];
        let dictionary: &[&[u8]] = &[
            b"[",
            b"]",
            b"=",
            b"\"",
            b"'",
            b"\n",
            b"true",
            b"[[x]]",
            b"{ a = 1 }",
            b"# c",
            b"1979-05-27T07:32:00Z",
            b"\"\"\"",
        ];
        crate::fuzz::run("settings TOML", seeds, dictionary, |bytes| {
            let Ok(text) = std::str::from_utf8(bytes) else {
                return;
            };
            if let Err(err) = parse(Path::new("config.toml"), text) {
                let shown = err.to_string();
                assert!(
                    shown.contains("config.toml") || shown.contains("hint"),
                    "{shown}"
                );
            }
        });
    }
}
