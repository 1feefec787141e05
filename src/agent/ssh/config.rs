//! The one block ado-cutover keeps in `~/.ssh/config`, and what it notices in the rest.
//!
//! ssh takes the first value it finds for most options, and offers `IdentityFile`s in the order
//! it meets them; Azure DevOps judges the first key offered. So the block goes first in the
//! file, names the new key with `IdentitiesOnly yes`, and ends with `Host *`, so lines the user
//! had before their first `Host` still apply to every host. Every other line stays byte for
//! byte, with the file's own line endings. A second run finds the block by its markers and
//! rewrites only the block.

use std::path::{Path, PathBuf};

use crate::agent::hosts;

/// The block's first line.
pub(crate) const BEGIN: &str = "# >>> ado-cutover: Azure DevOps SSH key >>>";
/// The block's last line.
pub(crate) const END: &str = "# <<< ado-cutover <<<";

/// The block for the key at `identity`, one line per element.
pub(crate) fn block(identity: &Path) -> Vec<String> {
    vec![
        BEGIN.to_string(),
        "# Written by ado-cutover; `ado-cutover undo` puts this file back as it was.".into(),
        format!("Host {} {}", hosts::SSH_DEV_AZURE, hosts::VS_SSH),
        format!("    IdentityFile {}", quote(identity)),
        "    IdentitiesOnly yes".into(),
        "# The lines after this block apply to every host, as before.".into(),
        "Host *".into(),
        END.to_string(),
    ]
}

/// A path as ssh reads it: forward slashes, in double quotes when it has a space.
fn quote(path: &Path) -> String {
    let text = path.to_string_lossy().replace('\\', "/");
    if text.contains(' ') {
        format!("\"{text}\"")
    } else {
        text
    }
}

/// Where the block is: the indices of its first and last line.
fn find(lines: &[&str]) -> Result<Option<(usize, usize)>, String> {
    let begin = lines.iter().position(|l| l.trim_end() == BEGIN);
    let end = lines.iter().position(|l| l.trim_end() == END);
    match (begin, end) {
        (None, None) => Ok(None),
        (Some(b), Some(e)) if b < e => Ok(Some((b, e))),
        _ => Err(format!(
            "its ado-cutover block is damaged (a `{BEGIN}` or `{END}` line is missing)"
        )),
    }
}

/// The file's lines, split at `\n` only: each keeps its own `\r` (a file may mix line endings,
/// and splitting a mixed file at `\r\n` would hide the block's markers inside one long "line"
/// and add a second block on the next run). Also the line ending for lines we add: `\r\n`
/// when the file has any.
fn split(text: &str) -> (Vec<&str>, &'static str) {
    let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let lines = if text.is_empty() {
        Vec::new()
    } else {
        text.strip_suffix('\n')
            .unwrap_or(text)
            .split('\n')
            .collect()
    };
    (lines, newline)
}

/// `lines` as a file: joined at `\n` (each line keeps its own `\r`). The last line ends as it
/// did (`ended`: the file ended with a line break), else with a line break in the file's style.
fn join(lines: &[std::borrow::Cow<'_, str>], newline: &str, ended: bool) -> String {
    let mut text = lines.join("\n");
    match lines.last() {
        Some(last) if ended || last.ends_with('\r') => text.push('\n'),
        Some(_) => text.push_str(newline),
        None => {}
    }
    text
}

/// `current` with the block for `identity` in place: refreshed where it is, or added first.
/// An `Err` (a damaged block) means the file is left alone.
pub(crate) fn with_block(current: &str, identity: &Path) -> Result<String, String> {
    use std::borrow::Cow;
    let (lines, newline) = split(current);
    let cr = if newline == "\r\n" { "\r" } else { "" };
    let new: Vec<Cow<'_, str>> = block(identity)
        .into_iter()
        .map(|line| Cow::Owned(line + cr))
        .collect();
    fn old<'a>(range: &[&'a str]) -> Vec<Cow<'a, str>> {
        range.iter().map(|l| Cow::Borrowed(*l)).collect()
    }
    let out = match find(&lines)? {
        Some((begin, end)) => [old(&lines[..begin]), new, old(&lines[end + 1..])].concat(),
        None => [new, old(&lines)].concat(),
    };
    Ok(join(&out, newline, current.ends_with('\n')))
}

/// The text without the block (the check that the block is the only change made).
#[cfg(test)]
pub(crate) fn without_block(current: &str) -> Result<String, String> {
    let (lines, newline) = split(current);
    let Some((begin, end)) = find(&lines)? else {
        return Ok(current.to_string());
    };
    let kept: Vec<std::borrow::Cow<'_, str>> = lines[..begin]
        .iter()
        .chain(&lines[end + 1..])
        .map(|l| std::borrow::Cow::Borrowed(*l))
        .collect();
    Ok(join(&kept, newline, current.ends_with('\n')))
}

/// The key the block names, if there is a block.
pub(crate) fn identity(current: &str) -> Option<PathBuf> {
    let (lines, _) = split(current);
    let (begin, end) = find(&lines).ok()??;
    lines[begin..end].iter().find_map(|line| {
        let (key, value) = option(line)?;
        key.eq_ignore_ascii_case("identityfile")
            .then(|| PathBuf::from(value.trim_matches('"')))
    })
}

/// `Keyword value` or `Keyword=value`, comments and blank lines skipped.
fn option(line: &str) -> Option<(&str, &str)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let split = line.find(|c: char| c.is_whitespace() || c == '=')?;
    let (key, rest) = line.split_at(split);
    let value = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '=');
    Some((key, value.trim()))
}

/// A line outside the block worth telling the user about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Leftover {
    /// 1-based, in the file as it is now.
    pub line: usize,
    pub text: String,
    pub why: &'static str,
}

/// Lines from the old guidance that weaken or confuse SSH to Azure DevOps.
pub(crate) fn leftovers(current: &str) -> Vec<Leftover> {
    let (lines, _) = split(current);
    let block = find(&lines).ok().flatten();
    let mut in_ado_host = false;
    let mut found = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        if block.is_some_and(|(b, e)| (b..=e).contains(&index)) {
            continue;
        }
        let Some((key, value)) = option(line) else {
            continue;
        };
        let key = key.to_ascii_lowercase();
        if key == "host" || key == "match" {
            in_ado_host = key == "host"
                && value.split_whitespace().any(|pattern| {
                    pattern.eq_ignore_ascii_case(hosts::SSH_DEV_AZURE)
                        || pattern.eq_ignore_ascii_case(hosts::VS_SSH)
                });
            continue;
        }
        let why = match key.as_str() {
            "hostkeyalgorithms" | "pubkeyacceptedalgorithms" | "pubkeyacceptedkeytypes"
                if value.to_ascii_lowercase().contains("ssh-rsa") =>
            {
                "it re-enables SHA-1 `ssh-rsa` signatures, which Azure DevOps no longer accepts and the new key does not need; you can remove the line"
            }
            "identityfile" if in_ado_host => {
                "an older key for Azure DevOps; ssh now offers the new key first, so you can remove this line once the new key works"
            }
            _ => continue,
        };
        found.push(Leftover {
            line: index + 1,
            text: line.trim().to_string(),
            why,
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "/home/jo/.ssh/id_rsa_azure_devops";

    #[test]
    fn adds_the_block_first_and_keeps_every_other_byte() {
        let before = "ServerAliveInterval 60\n\nHost github.com\n  User git\n";
        let after = with_block(before, Path::new(KEY)).unwrap();
        assert!(after.starts_with(BEGIN), "{after}");
        assert!(after.ends_with(before), "{after}");
        assert!(after.contains(&format!("    IdentityFile {KEY}\n")));
        assert_eq!(identity(&after), Some(PathBuf::from(KEY)));
        assert_eq!(without_block(&after).unwrap(), before);
        // A second time changes nothing.
        assert_eq!(with_block(&after, Path::new(KEY)).unwrap(), after);
    }

    #[test]
    fn refreshes_the_block_in_place_with_the_files_line_endings() {
        let before = "Host a\r\n  User x\r\n";
        let first = with_block(before, Path::new("C:\\Users\\Jo Doe\\.ssh\\old")).unwrap();
        assert!(first.contains("IdentityFile \"C:/Users/Jo Doe/.ssh/old\"\r\n"));
        let moved = format!("Host b\r\n{first}");
        let second = with_block(&moved, Path::new(KEY)).unwrap();
        assert!(second.starts_with("Host b\r\n# >>>"), "{second}");
        assert!(second.contains(KEY) && !second.contains("old"));
        assert!(!second.replace("\r\n", "").contains('\n'), "CRLF kept");
        assert!(second.ends_with("Host a\r\n  User x\r\n"));
    }

    #[test]
    fn a_damaged_block_is_left_alone() {
        let damaged = format!("{BEGIN}\nHost x\n");
        assert!(with_block(&damaged, Path::new(KEY)).is_err());
        assert_eq!(identity(&damaged), None);
    }

    #[test]
    fn flags_old_guidance_and_older_keys_but_not_its_own_block() {
        let text = with_block(
            "Host ssh.dev.azure.com\n  IdentityFile ~/.ssh/id_rsa\n  HostkeyAlgorithms +ssh-rsa\n  PubkeyAcceptedAlgorithms=+ssh-rsa\nHost github.com\n  IdentityFile ~/.ssh/gh\n",
            Path::new(KEY),
        )
        .unwrap();
        let found = leftovers(&text);
        let texts: Vec<&str> = found.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "IdentityFile ~/.ssh/id_rsa",
                "HostkeyAlgorithms +ssh-rsa",
                "PubkeyAcceptedAlgorithms=+ssh-rsa"
            ]
        );
        assert_eq!(found[0].line, block(Path::new(KEY)).len() + 2);
    }

    /// Found by the fuzzer (#19): a file written with `\n` that later gained one `\r\n` line
    /// (an editor on Windows) used to be split at `\r\n`, which hid the block inside one long
    /// "line", so every run added another block.
    #[test]
    fn mixed_line_endings_keep_one_block() {
        let key = Path::new("/home/alice/.ssh/id_rsa_azure_devops");
        let first = with_block("Host github.com\n  User git\n", key).unwrap();
        let edited = format!("{first}Host example.com\r\n");
        let second = with_block(&edited, key).unwrap();
        assert_eq!(second.matches(BEGIN).count(), 1, "{second:?}");
        assert!(
            second.ends_with("Host github.com\n  User git\nHost example.com\r\n"),
            "{second:?}"
        );
        assert_eq!(
            with_block(&second, key).unwrap(),
            second,
            "refreshed once, then stable"
        );
        assert_eq!(identity(&edited).as_deref(), Some(key));
        // A stray `\r` at the end of the last line keeps the block findable too.
        let stray = with_block("Host a\n  User b\r", key).unwrap();
        assert_eq!(identity(&stray).as_deref(), Some(key));
        let again = with_block(&stray, key).unwrap();
        assert_eq!(again.matches(BEGIN).count(), 1, "{again:?}");
        assert_eq!(with_block(&again, key).unwrap(), again, "then stable");
    }

    /// Fuzz (#19): whatever `~/.ssh/config` holds, the block goes in and comes out again
    /// leaving the file as it was, and names the key it was given.
    #[test]
    fn fuzz_ssh_config() {
        let key = Path::new("/home/alice/.ssh/id_rsa_azure_devops");
        let with = with_block("Host github.com\n  User git\n", key).unwrap();
        let seeds: &[&[u8]] = &[
            b"Host *\n  ServerAliveInterval 60\n\nHost ssh.dev.azure.com\n  IdentityFile ~/.ssh/id_rsa\n  HostkeyAlgorithms +ssh-rsa\n  PubkeyAcceptedKeyTypes +ssh-rsa\n",
            b"Match host *.visualstudio.com\n\tIdentityFile=\"~/.ssh/old key\"\n",
            with.as_bytes(),
        ];
        let dictionary: &[&[u8]] = &[
            b"Host ",
            b"Match ",
            b"IdentityFile ",
            b"ssh.dev.azure.com",
            b"vs-ssh.visualstudio.com",
            b"+ssh-rsa",
            b"\n",
            b"\t",
            b"=",
            b"\"",
            b"# ",
            b"Include ",
        ];
        crate::fuzz::run("~/.ssh/config", seeds, dictionary, |bytes| {
            let Ok(text) = std::str::from_utf8(bytes) else {
                return;
            };
            let _ = leftovers(text);
            let _ = identity(text);
            let Ok(added) = with_block(text, key) else {
                return;
            };
            assert_eq!(identity(&added).as_deref(), Some(key), "{added}");
            let removed = without_block(&added).expect("the block just added comes out");
            if without_block(text).ok().as_deref() == Some(text) {
                // As it was; a last line without a line break gets one.
                let ended = [text, "\n", text, "\r\n"];
                assert!(
                    removed == text
                        || removed == ended[..2].concat()
                        || removed == ended[2..].concat(),
                    "a file without the block is as it was: {removed:?}"
                );
            }
        });
    }
}
