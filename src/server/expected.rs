//! The admins' list of expected users, as uploaded: a CSV export of the organization's users
//! (Entra ID's "Download users", an Active Directory export) or one name per line.
//!
//! Each row gives a user principal name, an e-mail address, an account name (`DOMAIN\user` or
//! `user`), or several of them; a device's report matches the row by any of them. A row with none
//! is not dropped silently: it is listed, with its line, so the admin can fix the file.
//!
//! An optional group column (a department, a rollout wave, a site) puts the user into a group:
//! the dashboard shows progress per group and filters every view by it.

/// One expected user. `key` is the first of UPN, e-mail and account that the row gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub key: String,
    pub upn: Option<String>,
    pub email: Option<String>,
    pub account: Option<String>,
    /// The row's group, as written (trimmed); `None` when the upload has no group column or
    /// the cell is empty.
    pub group: Option<String>,
}

/// What an upload held.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Upload {
    pub users: Vec<Expected>,
    /// `(line, why)` for each row that named nobody.
    pub unreadable: Vec<(usize, String)>,
}

/// Column names (lower case, without spaces) of the identities in known exports.
const UPN_COLUMNS: &[&str] = &["userprincipalname", "upn"];
const EMAIL_COLUMNS: &[&str] = &["mail", "email", "emailaddress", "e-mail"];
const ACCOUNT_COLUMNS: &[&str] = &[
    "samaccountname",
    "onpremisessamaccountname",
    "username",
    "user",
    "account",
    "accountname",
];

/// Names of a group column, the first found wins: an explicit group, then a wave, a
/// department, a site.
const GROUP_COLUMNS: &[&str] = &[
    "group",
    "wave",
    "rolloutwave",
    "department",
    "site",
    "office",
];

/// The longest group name kept (longer names are cut at a character boundary).
pub const GROUP_MAX: usize = 100;

/// Reads an upload. Blank lines are skipped; a header row is recognised by its column names.
pub fn parse(text: &str) -> Upload {
    let mut upload = Upload::default();
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line))
        .filter(|(_, line)| !line.trim().is_empty())
        .peekable();
    let header = lines.peek().and_then(|(_, first)| columns(&cells(first)));
    if header.is_some() {
        lines.next();
    }
    for (line, text) in lines {
        let row = cells(text);
        // A row that does not follow the header (a bare address pasted below it) is read as
        // a row without one.
        let found = match &header {
            Some(columns) => from_columns(&row, columns).or_else(|| from_cells(&row)),
            None => from_cells(&row),
        };
        match found {
            Some(user) => upload.users.push(user),
            None => upload.unreadable.push((
                line,
                "no user principal name, e-mail address or account name in it".to_string(),
            )),
        }
    }
    upload.users.sort_by(|a, b| a.key.cmp(&b.key));
    upload.users.dedup_by(|a, b| a.key == b.key);
    upload
}

/// Where the identities are in a header row, if it is one.
struct Columns {
    upn: Option<usize>,
    email: Option<usize>,
    account: Option<usize>,
    group: Option<usize>,
}

fn columns(header: &[String]) -> Option<Columns> {
    let names: Vec<String> = header
        .iter()
        .map(|cell| {
            cell.to_ascii_lowercase()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect()
        })
        .collect();
    let find = |wanted: &[&str]| {
        names
            .iter()
            .position(|name| wanted.contains(&name.as_str()))
    };
    let columns = Columns {
        upn: find(UPN_COLUMNS),
        email: find(EMAIL_COLUMNS),
        account: find(ACCOUNT_COLUMNS),
        // In the order of GROUP_COLUMNS, not of the file: "Group" beats "Department".
        group: GROUP_COLUMNS
            .iter()
            .find_map(|wanted| names.iter().position(|name| name == wanted)),
    };
    (columns.upn.is_some() || columns.email.is_some() || columns.account.is_some())
        .then_some(columns)
}

fn from_columns(row: &[String], columns: &Columns) -> Option<Expected> {
    let cell = |i: Option<usize>| i.and_then(|i| row.get(i)).map(String::as_str);
    let mut user = build(
        cell(columns.upn).and_then(address),
        cell(columns.email).and_then(address),
        cell(columns.account).and_then(account),
    )?;
    user.group = cell(columns.group).and_then(group_name);
    Some(user)
}

/// A group name as people wrote it: trimmed, control characters dropped, at most
/// [`GROUP_MAX`] bytes; `None` when nothing is left.
pub fn group_name(cell: &str) -> Option<String> {
    let clean: String = cell.chars().filter(|c| !c.is_control()).collect();
    let clean = clean.trim();
    let mut end = clean.len().min(GROUP_MAX);
    while !clean.is_char_boundary(end) {
        end -= 1;
    }
    let name = clean[..end].trim_end();
    (!name.is_empty()).then(|| name.to_string())
}

/// A row without a header: the first address is the UPN, a `DOMAIN\user` or a lone word is an
/// account name.
fn from_cells(row: &[String]) -> Option<Expected> {
    if let Some(upn) = row.iter().find_map(|c| address(c)) {
        return build(Some(upn), None, None);
    }
    match row {
        [only] => build(None, None, account(only)),
        _ => row
            .iter()
            .find(|c| c.contains('\\'))
            .and_then(|c| build(None, None, account(c))),
    }
}

fn build(upn: Option<String>, email: Option<String>, account: Option<String>) -> Option<Expected> {
    let key = upn
        .clone()
        .or_else(|| email.clone())
        .or_else(|| account.clone())?;
    Some(Expected {
        key,
        upn,
        email,
        account,
        group: None,
    })
}

/// A lower-cased address (`name@domain`), if the cell holds one.
fn address(cell: &str) -> Option<String> {
    let cell = cell.trim();
    let (name, domain) = cell.split_once('@')?;
    let ok = !name.is_empty()
        && !domain.is_empty()
        && !cell.contains(char::is_whitespace)
        && cell.len() <= 255;
    ok.then(|| cell.to_ascii_lowercase())
}

/// The lower-cased account name of `DOMAIN\user` or `user`, if the cell holds one.
fn account(cell: &str) -> Option<String> {
    let cell = cell.trim();
    let name = cell.rsplit('\\').next().unwrap_or(cell);
    let ok = !name.is_empty()
        && name.len() <= 104
        && !name.contains('@')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '$'));
    ok.then(|| name.to_lowercase())
}

/// The cells of a CSV (comma, semicolon or tab separated) line, unquoted.
fn cells(line: &str) -> Vec<String> {
    let separator = [',', ';', '\t']
        .into_iter()
        .max_by_key(|s| line.matches(*s).count())
        .filter(|s| line.contains(*s));
    let Some(separator) = separator else {
        return vec![line.trim().trim_matches('"').to_string()];
    };
    let mut out = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            c if c == separator && !quoted => out.push(std::mem::take(&mut cell)),
            c => cell.push(c),
        }
    }
    out.push(cell);
    out.into_iter().map(|c| c.trim().to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(upload: &Upload) -> Vec<&str> {
        upload.users.iter().map(|u| u.key.as_str()).collect()
    }

    #[test]
    fn an_entra_export_gives_upn_and_mail() {
        let csv = "userPrincipalName,displayName,surname,mail,givenName\n\
                   Alice@Contoso.com,Alice,A,alice.a@contoso.com,Alice\n\
                   \"bob@contoso.com\",\"Bob, the builder\",B,,Bob\n\
                   ,No One,,,\n";
        let upload = parse(csv);
        assert_eq!(keys(&upload), ["alice@contoso.com", "bob@contoso.com"]);
        assert_eq!(
            upload.users[0].email.as_deref(),
            Some("alice.a@contoso.com")
        );
        assert_eq!(upload.unreadable.len(), 1);
        assert_eq!(upload.unreadable[0].0, 4, "the line of the empty row");
    }

    #[test]
    fn an_active_directory_export_gives_account_names() {
        let csv = "SamAccountName;UserPrincipalName\nerin;\nCONTOSO\\frank;frank@contoso.com\n";
        let upload = parse(csv);
        assert_eq!(keys(&upload), ["erin", "frank@contoso.com"]);
        assert_eq!(upload.users[1].account.as_deref(), Some("frank"));
        assert!(upload.unreadable.is_empty());
    }

    #[test]
    fn a_group_column_puts_users_into_groups() {
        let csv = "userPrincipalName,Department,Wave\n\
                   alice@contoso.com,Finance, Wave 1 \n\
                   bob@contoso.com,Sales,\n\
                   carol@contoso.com\n";
        let upload = parse(csv);
        assert_eq!(
            keys(&upload),
            ["alice@contoso.com", "bob@contoso.com", "carol@contoso.com"]
        );
        let groups: Vec<_> = upload.users.iter().map(|u| u.group.as_deref()).collect();
        // "Wave" comes before "Department" whatever the column order; an empty cell is no group.
        assert_eq!(groups, [Some("Wave 1"), None, None]);
        let upload = parse("Mail;Site\nerin@contoso.com;Berlin\n");
        assert_eq!(upload.users[0].group.as_deref(), Some("Berlin"));
    }

    #[test]
    fn group_names_are_trimmed_cleaned_and_bounded() {
        assert_eq!(group_name("  Wave\u{7} 2 "), Some("Wave 2".into()));
        assert_eq!(group_name(" \t "), None);
        let long = "é".repeat(80);
        let cut = group_name(&long).unwrap();
        assert!(cut.len() <= GROUP_MAX && cut.chars().all(|c| c == 'é'));
    }

    #[test]
    fn one_name_per_line_in_any_form() {
        let upload = parse("alice@contoso.com\n\nCONTOSO\\Bob\ncarol\nnot a name at all\n");
        assert_eq!(keys(&upload), ["alice@contoso.com", "bob", "carol"]);
        assert_eq!(upload.unreadable, [(5, upload.unreadable[0].1.clone())]);
    }

    #[test]
    fn the_old_form_still_works_a_csv_whose_cells_hold_addresses() {
        let upload = parse("Name,Email\nErin,erin@contoso.com\n");
        assert_eq!(keys(&upload), ["erin@contoso.com"]);
        let text = "Name,Email,Access level\n\"Alice A\",Alice@Contoso.com,Basic\nbob@contoso.com\n\n\"x\",no email,Basic\nbob@contoso.com\n";
        let upload = parse(text);
        assert_eq!(keys(&upload), ["alice@contoso.com", "bob@contoso.com"]);
        assert_eq!(upload.unreadable.len(), 1);
        assert_eq!(upload.unreadable[0].0, 5);
    }

    /// Fuzz (#19): whatever an admin uploads as the expected users, each row is taken or named
    /// as unreadable with its line, never a panic.
    #[test]
    fn fuzz_expected_users() {
        let seeds: &[&[u8]] = &[
            b"userPrincipalName,displayName,mail\nalice@contoso.com,Alice,alice@contoso.com\n\"bob@contoso.com\",\"Bob, B\",\n",
            b"CONTOSO\\carol\ndave@contoso.com\n",
        ];
        let dictionary: &[&[u8]] = &[
            b",",
            b"\"",
            b"\n",
            b"\r\n",
            b"@",
            b"\\",
            b"userPrincipalName",
            b"SamAccountName",
            b"\xef\xbb\xbf",
        ];
        crate::fuzz::run("expected users", seeds, dictionary, |bytes| {
            let text = String::from_utf8_lossy(bytes);
            let upload = parse(&text);
            let lines = text.lines().count().max(1);
            assert!(upload.unreadable.iter().all(|(line, _)| *line <= lines + 1));
        });
    }
}
