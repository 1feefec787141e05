//! The statements that store a report, shared by both writers. In order: the report (no row: a
//! duplicate), the day's count, the device row (no row: an older report than the device's
//! latest, which then only counts), and the latest report's task statuses, problems and
//! organizations.
//!
//! The SQLite writer runs them once per report. The PostgreSQL writer runs each for a whole
//! batch: a statement's one `VALUES (...)` tuple is repeated per report by [`expand`] (so the
//! batched form is the same statement, not a second copy), and the few statements keyed by
//! `WHERE device_id = $1 AND user_name = $2` have a batched twin in [`batch`] that differs only
//! in that clause. Counters take a delta (`$3`), so a batch adds its reports in one row update.

pub(crate) const REPORT: &str = "INSERT INTO reports (report_id, device_id, user_name, hostname, mode, outcome, agent_version, finished_at, received_at, body)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (report_id) DO NOTHING";
/// Reports per day and outcome; `$3` is how many to add.
pub(crate) const DAY: &str = "INSERT INTO report_days (day, outcome, reports) VALUES ($1, $2, $3)
         ON CONFLICT (day, outcome) DO UPDATE SET reports = report_days.reports + excluded.reports";
pub(crate) const DEVICE: &str = "INSERT INTO devices (device_id, user_name, upn, hostname, os, agent_version, mode, outcome, reason, last_report_id, first_seen, last_seen, reports, enrollment_label)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, 1, $12)
         ON CONFLICT (device_id, user_name) DO UPDATE SET
           upn = COALESCE(excluded.upn, devices.upn), hostname = excluded.hostname, os = excluded.os,
           agent_version = excluded.agent_version, mode = excluded.mode,
           outcome = CASE WHEN excluded.outcome = 'nothing-to-do' AND devices.outcome = 'done'
                          THEN 'done' ELSE excluded.outcome END,
           reason = excluded.reason, last_report_id = excluded.last_report_id,
           first_seen = CASE WHEN devices.first_seen < excluded.first_seen THEN devices.first_seen ELSE excluded.first_seen END,
           last_seen = excluded.last_seen, reports = devices.reports + 1,
           enrollment_label = excluded.enrollment_label
         WHERE excluded.last_seen >= devices.last_seen";
pub(crate) const OLDER: &str = "UPDATE devices SET reports = reports + 1,
           first_seen = CASE WHEN first_seen < $1 THEN first_seen ELSE $1 END
         WHERE device_id = $2 AND user_name = $3";
/// The tasks a device finished in its previous latest report: a later "ok" keeps "done".
pub(crate) const DONE_TASKS: &str =
    "SELECT task_id FROM task_status WHERE device_id = $1 AND user_name = $2 AND status = 'done'";
/// Before a device's task statuses are replaced: they no longer count.
pub(crate) const UNCOUNT_TASKS: &str = "UPDATE task_counts SET devices = devices - 1
         WHERE EXISTS (SELECT 1 FROM task_status t WHERE t.device_id = $1 AND t.user_name = $2
                       AND t.task_id = task_counts.task_id AND t.status = task_counts.status)";
/// Counts that reach zero go, so per-task tables list only what some device has.
pub(crate) const PRUNE_COUNTS: &str = "DELETE FROM task_counts WHERE devices <= 0
         AND EXISTS (SELECT 1 FROM task_status t WHERE t.device_id = $1 AND t.user_name = $2
                     AND t.task_id = task_counts.task_id AND t.status = task_counts.status)";
pub(crate) const CLEAR_TASKS: &str =
    "DELETE FROM task_status WHERE device_id = $1 AND user_name = $2";
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

/// The batched twins (PostgreSQL) of the statements keyed by one device and user: the same
/// work for every device of a batch, each device and user one `VALUES` tuple.
pub(crate) mod batch {
    /// Reports older than their device's latest: counted, and the first sighting kept.
    pub(crate) const OLDER: &str = "UPDATE devices SET reports = devices.reports + 1,
           first_seen = LEAST(devices.first_seen, v.finished)
         FROM (VALUES ($1, $2, $3)) AS v(device_id, user_name, finished)
         WHERE devices.device_id = v.device_id AND devices.user_name = v.user_name";
    /// The task statuses the devices have now (to carry "done" and to take out of the counts).
    pub(crate) const TASKS: &str = "SELECT device_id, user_name, task_id, status FROM task_status
         WHERE (device_id, user_name) IN (VALUES ($1, $2))";
    pub(crate) const CLEAR_TASKS: &str =
        "DELETE FROM task_status WHERE (device_id, user_name) IN (VALUES ($1, $2))";
    pub(crate) const CLEAR_PROBLEMS: &str =
        "DELETE FROM problems WHERE (device_id, user_name) IN (VALUES ($1, $2))";
    /// Counts a batch took to zero.
    pub(crate) const PRUNE_COUNTS: &str = "DELETE FROM task_counts WHERE devices <= 0";
    pub(crate) const STALE_ORGS: &str =
        "DELETE FROM device_orgs USING (VALUES ($1, $2, $3)) AS v(device_id, user_name, report_id)
         WHERE device_orgs.device_id = v.device_id AND device_orgs.user_name = v.user_name
           AND device_orgs.report_id <> v.report_id";
    pub(crate) const VERIFIED: &str = concat!(
        set_verified!(),
        " WHERE (device_id, user_name) IN (VALUES ($1, $2))"
    );
    pub(crate) const KEYS: &str =
        "SELECT device_id, user_name, secret, first_report FROM device_keys
         WHERE (device_id, user_name) IN (VALUES ($1, $2))";
    /// Which devices of a batch the device statement changed (their report is the latest).
    pub(crate) const RETURNING_DEVICE: &str = " RETURNING device_id, user_name";
    pub(crate) const RETURNING_REPORT: &str = " RETURNING report_id";
}

/// The most parameters one statement takes (PostgreSQL's limit is 65,535).
const MAX_PARAMETERS: usize = 60_000;

/// How many `VALUES` tuples of `width` parameters one statement can take.
pub(crate) fn tuples_per_statement(width: usize) -> usize {
    (MAX_PARAMETERS / width.max(1)).max(1)
}

/// `statement` with its one `VALUES (...)` tuple written `count` times, the parameters of the
/// n-th copy renumbered after those of the copies before it (`$1, $2` then `$3, $4`). Returns
/// the statement and its parameters per tuple. Only the tuple may hold parameters; every
/// statement this is used on is checked by a test.
pub(crate) fn expand(statement: &str, count: usize) -> (String, usize) {
    let Some(at) = statement.find("VALUES (") else {
        return (statement.to_string(), 0);
    };
    let open = at + "VALUES ".len();
    let Some(length) = statement[open..].find(')') else {
        return (statement.to_string(), 0);
    };
    let close = open + length;
    let tuple = &statement[open..=close];
    let width = parameters(tuple).max().unwrap_or(0);
    let mut out = String::with_capacity(statement.len() + count * tuple.len());
    out.push_str(&statement[..open]);
    for copy in 0..count {
        if copy > 0 {
            out.push_str(", ");
        }
        renumber(tuple, copy * width, &mut out);
    }
    out.push_str(&statement[close + 1..]);
    (out, width)
}

/// The parameter numbers (`$n`) in `text`.
fn parameters(text: &str) -> impl Iterator<Item = usize> + '_ {
    text.split('$').skip(1).filter_map(|rest| {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    })
}

/// `text` with every `$n` written as `$(n + offset)`.
fn renumber(text: &str, offset: usize, out: &mut String) {
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if let Ok(n) = rest[..digits].parse::<usize>() {
            out.push_str(&(n + offset).to_string());
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every statement the PostgreSQL writer expands: parameters only inside the tuple, or the
    /// copies would share them.
    const EXPANDED: [&str; 16] = [
        REPORT,
        DAY,
        DEVICE,
        COUNT_TASK,
        TASK,
        PROBLEM,
        ORG,
        ENROLL,
        batch::OLDER,
        batch::TASKS,
        batch::CLEAR_TASKS,
        batch::CLEAR_PROBLEMS,
        batch::STALE_ORGS,
        batch::VERIFIED,
        batch::KEYS,
        batch::PRUNE_COUNTS,
    ];

    #[test]
    fn expanded_statements_hold_parameters_only_in_their_tuple() {
        for statement in EXPANDED {
            let (one, width) = expand(statement, 1);
            assert_eq!(one, statement, "one copy is the statement itself");
            let (three, _) = expand(statement, 3);
            let numbers: Vec<usize> = parameters(&three).collect();
            let highest = numbers.iter().copied().max().unwrap_or(0);
            assert_eq!(highest, 3 * width, "{three}");
            for n in 1..=highest {
                assert!(numbers.contains(&n), "${n} missing in {three}");
            }
        }
    }

    #[test]
    fn expand_repeats_the_tuple_and_renumbers_it() {
        let (sql, width) = expand(DEVICE, 2);
        assert_eq!(width, 12);
        assert!(
            sql.contains(
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, 1, $12), \
                 ($13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $23, 1, $24)\n"
            ),
            "{sql}"
        );
        assert!(sql.ends_with("WHERE excluded.last_seen >= devices.last_seen"));
        let (sql, width) = expand(batch::KEYS, 2);
        assert_eq!(width, 2);
        assert!(sql.ends_with("IN (VALUES ($1, $2), ($3, $4))"), "{sql}");
        assert_eq!(expand("SELECT 1", 5), ("SELECT 1".to_string(), 0));
    }

    #[test]
    fn a_statement_takes_at_most_the_parameter_limit() {
        assert_eq!(tuples_per_statement(12), 5_000);
        assert_eq!(tuples_per_statement(0), 60_000);
        assert!(tuples_per_statement(5) * 5 <= 65_535);
    }
}
