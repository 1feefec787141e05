//! The statements that store a report, shared by both writers. In order: the report (no row: a
//! duplicate), the device row (no row: an older report than the device's latest, which then
//! only counts), and the latest report's task statuses, problems and organizations; once a
//! batch, the counters ([`DAY`], [`COUNT_TASK`]).
//!
//! The SQLite writer runs them once per report. The PostgreSQL writer runs each once for a
//! whole batch: [`unnest`] turns a statement's one `VALUES (...)` tuple into a `SELECT` over
//! arrays, one per parameter (so the batched form is the same statement, not a second copy, and
//! one prepared statement serves batches of any size). The few statements keyed by
//! `WHERE device_id = $1 AND user_name = $2` have a batched twin in [`batch`] that differs only
//! in that clause. Counters take a delta (`$3`), so a batch adds its reports in one row update.

pub(crate) const REPORT: &str = "INSERT INTO reports (report_id, device_id, user_name, hostname, mode, outcome, agent_version, finished_at, received_at, body)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (report_id) DO NOTHING";
/// Reports per day and outcome; `$3` is how many to add.
pub(crate) const DAY: &str = "INSERT INTO report_days (day, outcome, reports) VALUES ($1, $2, $3)
         ON CONFLICT (day, outcome) DO UPDATE SET reports = report_days.reports + excluded.reports";
/// The device row from its latest report. `outcome_since` moves only when the outcome does
/// (a later "nothing to do" keeps "done", and its date). `$14` is the verification when the
/// report alone decides it (`Row::verification`), else NULL: the device keeps its own, and
/// [`VERIFIED`] counts it when the report names organizations.
pub(crate) const DEVICE: &str = "INSERT INTO devices (device_id, user_name, upn, hostname, os, agent_version, mode, outcome, reason, last_report_id, first_seen, last_seen, reports, enrollment_label, report_group, outcome_since, verified)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, 1, $12, $13, $11, $14)
         ON CONFLICT (device_id, user_name) DO UPDATE SET
           upn = COALESCE(excluded.upn, devices.upn), hostname = excluded.hostname, os = excluded.os,
           agent_version = excluded.agent_version, mode = excluded.mode,
           outcome = CASE WHEN excluded.outcome = 'nothing-to-do' AND devices.outcome = 'done'
                          THEN 'done' ELSE excluded.outcome END,
           outcome_since = CASE WHEN devices.outcome = excluded.outcome
                                  OR (excluded.outcome = 'nothing-to-do' AND devices.outcome = 'done')
                                THEN devices.outcome_since ELSE excluded.last_seen END,
           reason = excluded.reason, last_report_id = excluded.last_report_id,
           first_seen = CASE WHEN devices.first_seen < excluded.first_seen THEN devices.first_seen ELSE excluded.first_seen END,
           last_seen = excluded.last_seen, reports = devices.reports + 1,
           enrollment_label = excluded.enrollment_label, report_group = excluded.report_group,
           verified = COALESCE(excluded.verified, devices.verified)
         WHERE excluded.last_seen >= devices.last_seen";
pub(crate) const OLDER: &str = "UPDATE devices SET reports = reports + 1,
           first_seen = CASE WHEN first_seen < $1 THEN first_seen ELSE $1 END
         WHERE device_id = $2 AND user_name = $3";
/// Takes out a device's task statuses, returning them (to carry "done" and to take them out
/// of the counts).
pub(crate) const CLEAR_TASKS: &str =
    "DELETE FROM task_status WHERE device_id = $1 AND user_name = $2
         RETURNING task_id, status";
/// Counts a batch took to zero go, so per-task tables list only what some device has.
pub(crate) const PRUNE_COUNTS: &str = "DELETE FROM task_counts WHERE devices <= 0";
/// Devices per task and status; `$3` is how many to add (or take away).
pub(crate) const COUNT_TASK: &str =
    "INSERT INTO task_counts (task_id, status, devices) VALUES ($1, $2, $3)
         ON CONFLICT (task_id, status) DO UPDATE SET devices = task_counts.devices + excluded.devices";
pub(crate) const CLEAR_PROBLEMS: &str =
    "DELETE FROM problems WHERE device_id = $1 AND user_name = $2";
pub(crate) const TASK: &str =
    "INSERT INTO task_status (device_id, user_name, task_id, status) VALUES ($1, $2, $3, $4)";
pub(crate) const PROBLEM: &str = "INSERT INTO problems (device_id, user_name, task_id, status, detail) VALUES ($1, $2, $3, $4, $5)";
/// An organization of the latest report: a report that did not verify it keeps the last
/// verification.
pub(crate) const ORG: &str = "INSERT INTO device_orgs (device_id, user_name, org, switch, verified, report_id)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (device_id, user_name, org) DO UPDATE SET switch = excluded.switch,
           verified = COALESCE(excluded.verified, device_orgs.verified), report_id = excluded.report_id";
/// A device's first report gives it its key, unless another report was first.
pub(crate) const ENROLL: &str =
    "INSERT INTO device_keys (device_id, user_name, secret, first_report, created_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (device_id, user_name) DO NOTHING";
pub(crate) const KEY: &str =
    "SELECT secret, first_report FROM device_keys WHERE device_id = $1 AND user_name = $2";
/// Organizations the latest report no longer names.
pub(crate) const STALE_ORGS: &str =
    "DELETE FROM device_orgs WHERE device_id = $1 AND user_name = $2 AND report_id <> $3";

/// The device's verification over its organizations: `ok` only when every verified one is.
macro_rules! set_verified {
    () => {
        "UPDATE devices SET verified = (
           SELECT CASE WHEN COUNT(*) = 0 THEN NULL
                       WHEN SUM(CASE WHEN o.verified = 'ok' THEN 1 ELSE 0 END) = COUNT(*) THEN 'ok'
                       WHEN SUM(CASE WHEN o.verified = 'failed' THEN 1 ELSE 0 END) > 0 THEN 'failed'
                       WHEN SUM(CASE WHEN o.verified = 'needs-user' THEN 1 ELSE 0 END) > 0 THEN 'needs-user'
                       ELSE 'skipped' END
           FROM device_orgs o WHERE o.device_id = devices.device_id AND o.user_name = devices.user_name
             AND o.verified IS NOT NULL)"
    };
}
pub(crate) const VERIFIED: &str =
    concat!(set_verified!(), " WHERE device_id = $1 AND user_name = $2");

/// The device's group: its own setting, else its enrollment token's label, else the group of
/// the expected user it matches by UPN, else by e-mail address, else by account name (the
/// readiness rule). Three index lookups; one subquery with the three joined by `OR` needed a
/// sort per report.
macro_rules! group_of {
    () => {
        "COALESCE(report_group, enrollment_label,
           (SELECT e.grp FROM expected_users e WHERE e.upn = devices.upn),
           (SELECT e.grp FROM expected_users e WHERE e.email = devices.upn AND e.grp IS NOT NULL
            ORDER BY e.upn LIMIT 1),
           (SELECT e.grp FROM expected_users e WHERE e.account = lower(devices.user_name)
              AND e.grp IS NOT NULL ORDER BY e.upn LIMIT 1))"
    };
}
/// Sets the group where it changes, and only there: on PostgreSQL every `UPDATE` of a row
/// writes a new version of it and of its index entries, so a device whose group stays the same
/// (nearly every report) is not written again.
macro_rules! set_group {
    ($where:literal) => {
        concat!(
            "UPDATE devices SET group_name = ",
            group_of!(),
            " WHERE ",
            $where,
            " AND group_name IS DISTINCT FROM ",
            group_of!()
        )
    };
}
pub(crate) const GROUP: &str = set_group!("device_id = $1 AND user_name = $2");
/// Every device's group again, after the expected users changed.
pub(crate) const ALL_GROUPS: &str = set_group!("1 = 1");

/// The device's inventory is taken at this time, unless a later report's was (one delivered
/// late from a spool changes nothing): (device, user, time).
pub(crate) const INVENTORY_TAKEN: &str =
    "INSERT INTO inventory_taken (device_id, user_name, taken_at) VALUES ($1, $2, $3)
         ON CONFLICT (device_id, user_name) DO UPDATE SET taken_at = excluded.taken_at
         WHERE inventory_taken.taken_at <= excluded.taken_at";
/// The device's open entries close; those its new list still has open again with
/// [`INVENTORY_ENTRY`].
pub(crate) const INVENTORY_CLOSE: &str = "UPDATE inventory SET closed_at = $1
         WHERE device_id = $2 AND user_name = $3 AND closed_at IS NULL";
/// One entry of a new list: (device, user, organization, category, target, kind, person, time).
pub(crate) const INVENTORY_ENTRY: &str = "INSERT INTO inventory (device_id, user_name,
           organization, category, target, kind, person, first_seen, last_seen, closed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, NULL)
         ON CONFLICT (device_id, user_name, organization, category, target) DO UPDATE SET
           kind = excluded.kind, person = excluded.person, last_seen = excluded.last_seen,
           closed_at = NULL";

/// The batched twins (PostgreSQL) of the statements keyed by one device and user: the same
/// work for every device of a batch, each device and user one `VALUES` tuple.
pub(crate) mod batch {
    /// Reports older than their device's latest: counted, and the first sighting kept.
    pub(crate) const OLDER: &str = "UPDATE devices SET reports = devices.reports + 1,
           first_seen = LEAST(devices.first_seen, v.finished)
         FROM (VALUES ($1, $2, $3)) AS v(device_id, user_name, finished)
         WHERE devices.device_id = v.device_id AND devices.user_name = v.user_name";
    /// Takes out the task statuses the devices have now, returning them (to carry "done" and
    /// to take them out of the counts).
    pub(crate) const CLEAR_TASKS: &str = "DELETE FROM task_status
         WHERE (device_id, user_name) IN (VALUES ($1, $2))
         RETURNING device_id, user_name, task_id, status";
    pub(crate) const CLEAR_PROBLEMS: &str =
        "DELETE FROM problems WHERE (device_id, user_name) IN (VALUES ($1, $2))";
    pub(crate) const STALE_ORGS: &str =
        "DELETE FROM device_orgs USING (VALUES ($1, $2, $3)) AS v(device_id, user_name, report_id)
         WHERE device_orgs.device_id = v.device_id AND device_orgs.user_name = v.user_name
           AND device_orgs.report_id <> v.report_id";
    pub(crate) const VERIFIED: &str = concat!(
        set_verified!(),
        " WHERE (device_id, user_name) IN (VALUES ($1, $2))"
    );
    pub(crate) const GROUP: &str = set_group!("(device_id, user_name) IN (VALUES ($1, $2))");
    pub(crate) const KEYS: &str =
        "SELECT device_id, user_name, secret, first_report FROM device_keys
         WHERE (device_id, user_name) IN (VALUES ($1, $2))";
    pub(crate) const INVENTORY_CLOSE: &str = "UPDATE inventory SET closed_at = v.taken_at
         FROM (VALUES ($1, $2, $3)) AS v(device_id, user_name, taken_at)
         WHERE inventory.device_id = v.device_id AND inventory.user_name = v.user_name
           AND inventory.closed_at IS NULL";
    /// Which devices of a batch take their inventory (none took a later one).
    pub(crate) const RETURNING_TAKEN: &str = " RETURNING device_id, user_name";
    /// Which devices of a batch the device statement changed (their report is the latest).
    pub(crate) const RETURNING_DEVICE: &str = " RETURNING device_id, user_name";
    pub(crate) const RETURNING_REPORT: &str = " RETURNING report_id";
}

/// `statement` made to take whole columns: its one `VALUES (...)` tuple becomes a `SELECT`
/// over `UNNEST` of one array parameter per parameter of the tuple (`$n` of type `types[n-1]`),
/// so one statement, prepared once, stores a batch of any size. Only the tuple may hold
/// parameters; every statement this is used on is checked by a test.
pub(crate) fn unnest(statement: &str, types: &[&str]) -> String {
    let Some(at) = statement.find("VALUES (") else {
        return statement.to_string();
    };
    let open = at + "VALUES ".len();
    let Some(length) = statement[open..].find(')') else {
        return statement.to_string();
    };
    let close = open + length;
    let inner = &statement[open + 1..close];
    let mut select = String::new();
    renumber(inner, "u.c", &mut select);
    let arrays: Vec<String> = types
        .iter()
        .enumerate()
        .map(|(i, kind)| format!("${}::{kind}[]", i + 1))
        .collect();
    let columns: Vec<String> = (1..=types.len()).map(|i| format!("c{i}")).collect();
    format!(
        "{}SELECT {select} FROM UNNEST({}) AS u({}){}",
        &statement[..at],
        arrays.join(", "),
        columns.join(", "),
        &statement[close + 1..]
    )
}

/// Statements sent as one, each with how many parameters it takes (`$1` to `$n`, as
/// [`unnest`] numbers them): all but the last become data-modifying `WITH` parts of the last,
/// and each one's parameters are numbered after those of the ones before it. One round trip
/// instead of several: for statements on different tables that do not read what the others
/// change (all of them see the database as it was before the statement).
pub(crate) fn together(parts: &[(&str, usize)]) -> String {
    let Some(((last, _), before)) = parts.split_last() else {
        return String::new();
    };
    let mut text = String::new();
    let mut offset = 0;
    for (i, (statement, parameters)) in before.iter().enumerate() {
        text.push_str(if i == 0 { "WITH " } else { ", " });
        text.push_str(&format!("part{} AS (", i + 1));
        shifted(statement, offset, &mut text);
        text.push(')');
        offset += parameters;
    }
    if !before.is_empty() {
        text.push(' ');
    }
    shifted(last, offset, &mut text);
    text
}

/// `text` with every `$n` written as `$(n + by)`.
fn shifted(text: &str, by: usize, out: &mut String) {
    each_parameter(text, out, |n, out| {
        out.push_str(&format!("${}", n + by));
    });
}

/// `text` with every `$n` written as `{prefix}n`.
fn renumber(text: &str, prefix: &str, out: &mut String) {
    each_parameter(text, out, |n, out| {
        out.push_str(prefix);
        out.push_str(&n.to_string());
    });
}

/// Copies `text` to `out`, writing each parameter `$n` with `write`.
fn each_parameter(text: &str, out: &mut String, write: impl Fn(usize, &mut String)) {
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        match rest[..digits].parse() {
            Ok(n) => write(n, out),
            // A `$` without a number (none of the statements has one) stays as it is.
            Err(_) => out.push('$'),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parameter numbers (`$n`) in `text`.
    fn parameters(text: &str) -> impl Iterator<Item = usize> + '_ {
        text.split('$').skip(1).filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
    }

    /// Every statement the PostgreSQL writer runs over columns, with the types it binds.
    const UNNESTED: [(&str, &[&str]); 18] = [
        (REPORT, &["text"; 10]),
        (DAY, &["int8", "text", "int8"]),
        (
            DEVICE,
            &[
                "text", "text", "text", "text", "text", "text", "text", "text", "text", "text",
                "int8", "text", "text", "text",
            ],
        ),
        (COUNT_TASK, &["text", "text", "int8"]),
        (TASK, &["text"; 4]),
        (PROBLEM, &["text"; 5]),
        (ORG, &["text"; 6]),
        (ENROLL, &["text", "text", "text", "text", "int8"]),
        (batch::OLDER, &["text", "text", "int8"]),
        (batch::CLEAR_TASKS, &["text"; 2]),
        (batch::CLEAR_PROBLEMS, &["text"; 2]),
        (batch::STALE_ORGS, &["text"; 3]),
        (batch::VERIFIED, &["text"; 2]),
        (batch::GROUP, &["text"; 2]),
        (batch::KEYS, &["text"; 2]),
        (INVENTORY_TAKEN, &["text", "text", "int8"]),
        (batch::INVENTORY_CLOSE, &["text", "text", "int8"]),
        (
            INVENTORY_ENTRY,
            &[
                "text", "text", "text", "text", "text", "text", "text", "int8",
            ],
        ),
    ];

    #[test]
    fn unnested_statements_take_one_array_per_parameter_and_no_other() {
        for (statement, types) in UNNESTED {
            let tuple_width = parameters(statement).max().unwrap();
            assert_eq!(tuple_width, types.len(), "{statement}");
            let columns = unnest(statement, types);
            let numbers: Vec<usize> = parameters(&columns).collect();
            assert_eq!(
                numbers,
                (1..=types.len()).collect::<Vec<_>>(),
                "each array once, in order, and no parameter left outside: {columns}"
            );
            assert!(!columns.contains("VALUES"), "{columns}");
        }
    }

    #[test]
    fn statements_together_number_their_parameters_one_after_another() {
        let problems = unnest(batch::CLEAR_PROBLEMS, &["text"; 2]);
        let group = unnest(batch::GROUP, &["text"; 2]);
        let tasks = unnest(TASK, &["text"; 4]);
        let text = together(&[(&problems, 2), (&group, 2), (&tasks, 4)]);
        assert_eq!(
            parameters(&text).collect::<Vec<_>>(),
            (1..=8).collect::<Vec<_>>(),
            "{text}"
        );
        assert!(
            text.starts_with("WITH part1 AS (DELETE FROM problems"),
            "{text}"
        );
        assert!(text.contains("), part2 AS (UPDATE devices"), "{text}");
        assert!(text.contains(") INSERT INTO task_status"), "{text}");
        // The last statement's arrays are the last parameters, each its own.
        assert!(text.contains("UNNEST($5::text[], $6::text[], $7::text[], $8::text[])"));
        // One statement alone is itself.
        assert_eq!(together(&[(&tasks, 4)]), tasks);
    }

    #[test]
    fn unnest_turns_the_tuple_into_a_select_over_arrays() {
        let types = [
            "text", "text", "text", "text", "text", "text", "text", "text", "text", "text", "int8",
            "text", "text", "text",
        ];
        let device = unnest(DEVICE, &types);
        assert!(
            device.contains(
                "SELECT u.c1, u.c2, u.c3, u.c4, u.c5, u.c6, u.c7, u.c8, u.c9, u.c10, u.c11, u.c11, 1, u.c12, u.c13, u.c11, u.c14 \
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                 $7::text[], $8::text[], $9::text[], $10::text[], $11::int8[], $12::text[], $13::text[], $14::text[]) \
                 AS u(c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14)\n"
            ),
            "{device}"
        );
        assert!(device.starts_with("INSERT INTO devices ("));
        assert!(device.ends_with("WHERE excluded.last_seen >= devices.last_seen"));
        assert!(
            unnest(batch::KEYS, &["text", "text"]).ends_with(
                "IN (SELECT u.c1, u.c2 FROM UNNEST($1::text[], $2::text[]) AS u(c1, c2))"
            )
        );
        assert_eq!(unnest("SELECT 1", &[]), "SELECT 1");
    }
}
