//! How large a report may be: every field and count has a limit, the server refuses a report
//! over any of them (422) and the agent makes every report fit before it sends it ([`fit`]), so
//! no report is refused for its size. The OpenAPI document states the same limits.

use super::{Item, Report};

/// Host, user and device names, the UPN, the OS version.
pub const NAME: usize = 255;
/// The agent's version, the OS family, `upn_source`.
pub const SHORT: usize = 64;
/// The CPU architecture.
pub const ARCH: usize = 32;
/// Task ids and item kinds.
pub const ID: usize = 64;
/// A task's summary, an item's target and detail.
pub const TEXT: usize = 4096;
/// The device's group (`report.group`), as the server's group names.
pub const GROUP: usize = 100;
/// Tasks in one report.
pub const TASKS: usize = 64;
/// Items in one report, all tasks together.
pub const ITEMS: usize = 10_000;
/// Organizations in one report.
pub const ORGANIZATIONS: usize = 200;
/// Entries in a report's inventory.
pub const INVENTORY: usize = 2_000;
/// The longest text the server files a report's rows under (a problem's detail, an inventory
/// entry's target; what it groups and looks up by): PostgreSQL refuses an index entry over
/// 2,704 bytes, and a longer one made it refuse the whole report. The report keeps the whole.
pub const KEY_TEXT: usize = 1024;
/// The JSON size [`fit`] keeps a report under: below the server's default body limit (1 MiB),
/// with room to spare.
pub const BODY: usize = 900 * 1024;

/// The first limit `report` is over, in words (`None`: it fits).
pub fn check(report: &Report) -> Option<String> {
    let fields: [(&str, &str, usize); 8] = [
        ("agent_version", &report.agent_version, SHORT),
        ("device.hostname", &report.device.hostname, NAME),
        ("device.device_id", &report.device.device_id, NAME),
        ("device.os", &report.device.os, SHORT),
        ("device.os_version", &report.device.os_version, NAME),
        ("device.arch", &report.device.arch, ARCH),
        ("user.name", &report.user.name, NAME),
        (
            "user.upn",
            report.user.upn.as_deref().unwrap_or_default(),
            NAME,
        ),
    ];
    for (field, value, limit) in fields {
        if value.len() > limit {
            return Some(format!("{field} is longer than {limit} bytes"));
        }
    }
    if report.user.upn_source.as_deref().unwrap_or_default().len() > SHORT {
        return Some(format!("user.upn_source is longer than {SHORT} bytes"));
    }
    if report.group.as_deref().unwrap_or_default().len() > GROUP {
        return Some(format!("group is longer than {GROUP} bytes"));
    }
    if report.tasks.len() > TASKS {
        return Some(format!("the report has more than {TASKS} tasks"));
    }
    if report.organizations.len() > ORGANIZATIONS {
        return Some(format!(
            "the report has more than {ORGANIZATIONS} organizations"
        ));
    }
    if report.organizations.iter().any(|o| o.name.len() > NAME) {
        return Some(format!(
            "an organization's name is longer than {NAME} bytes"
        ));
    }
    let inventory = report.inventory.as_deref().unwrap_or_default();
    if inventory.len() > INVENTORY {
        return Some(format!("the inventory has more than {INVENTORY} entries"));
    }
    if inventory
        .iter()
        .any(|f| f.organization.len() > NAME || f.kind.len() > ID || f.target.len() > TEXT)
    {
        return Some(format!(
            "an inventory entry is longer than its limit ({NAME} bytes for the organization, {ID} for the kind, {TEXT} for the target)"
        ));
    }
    let items: usize = report.tasks.iter().map(|t| t.items.len()).sum();
    if items > ITEMS {
        return Some(format!("the report has more than {ITEMS} items"));
    }
    let long = report.tasks.iter().any(|t| {
        t.id.len() > ID
            || t.summary.len() > TEXT
            || t.items
                .iter()
                .any(|i| i.kind.len() > ID || i.target.len() > TEXT || i.detail.len() > TEXT)
    });
    long.then(|| format!("a task or item field is longer than its limit ({ID} bytes for ids and kinds, {TEXT} for texts)"))
}

/// Makes `report` fit every limit and [`BODY`]: long texts are cut (at a character boundary,
/// marked with `…`), and a task with too many items keeps the first ones and says how many
/// more there were. The report on disk stays whole; this is what is sent.
pub fn fit(report: &mut Report) {
    let listed = report.inventory.as_ref().map_or(0, Vec::len);
    fit_within_limits(report);
    // Said in the report, so the server keeps open what the list no longer shows.
    let sent = report.inventory.as_ref().map_or(0, Vec::len);
    let left_out = u32::try_from(listed - sent).unwrap_or(u32::MAX);
    report.inventory_left_out = report.inventory_left_out.saturating_add(left_out);
}

/// [`fit`]'s cutting.
fn fit_within_limits(report: &mut Report) {
    cut(&mut report.agent_version, SHORT);
    cut(&mut report.device.hostname, NAME);
    cut(&mut report.device.os, SHORT);
    cut(&mut report.device.os_version, NAME);
    cut(&mut report.device.arch, ARCH);
    cut(&mut report.user.name, NAME);
    if let Some(upn) = &mut report.user.upn {
        cut(upn, NAME);
    }
    if let Some(source) = &mut report.user.upn_source {
        cut(source, SHORT);
    }
    if let Some(group) = &mut report.group {
        cut(group, GROUP);
    }
    report.tasks.truncate(TASKS);
    report.organizations.truncate(ORGANIZATIONS);
    for org in &mut report.organizations {
        cut(&mut org.name, NAME);
    }
    if let Some(inventory) = &mut report.inventory {
        inventory.truncate(INVENTORY);
        for found in inventory {
            cut(&mut found.organization, NAME);
            cut(&mut found.kind, ID);
            cut(&mut found.target, TEXT);
        }
    }
    for task in &mut report.tasks {
        cut(&mut task.id, ID);
        cut(&mut task.summary, TEXT);
        for item in &mut task.items {
            cut(&mut item.kind, ID);
            cut(&mut item.target, TEXT);
            cut(&mut item.detail, TEXT);
        }
    }
    let mut per_task = ITEMS / report.tasks.len().max(1);
    let mut inventory = INVENTORY;
    loop {
        for task in &mut report.tasks {
            keep_first(&mut task.items, per_task);
        }
        if let Some(found) = &mut report.inventory {
            found.truncate(inventory);
        }
        let size = serde_json::to_vec(report).map_or(usize::MAX, |json| json.len());
        if size <= BODY || (per_task <= 1 && inventory <= 1) {
            break;
        }
        per_task = (per_task / 2).max(1);
        inventory /= 2;
    }
}

/// Keeps the first `keep` items (one of them the note of how many more there were).
fn keep_first(items: &mut Vec<Item>, keep: usize) {
    if items.len() <= keep {
        return;
    }
    let keep = keep.max(1);
    let dropped = items.len() - (keep - 1);
    let like = items[keep - 1].clone();
    items.truncate(keep - 1);
    items.push(Item {
        kind: "more-items".into(),
        target: format!("{dropped} more"),
        status: like.status,
        detail: format!(
            "{dropped} more items like these are left out to keep the report within the server's limits; `ado-cutover report` on this computer shows them all"
        ),
    });
}

/// Cuts `text` to at most `limit` bytes at a character boundary, ending in `…` when cut.
/// `text`, cut at a character boundary to at most `limit` bytes, the cut marked with "…".
pub fn shortened(text: &str, limit: usize) -> String {
    let mut text = text.to_string();
    cut(&mut text, limit);
    text
}

fn cut(text: &mut String, limit: usize) {
    if text.len() <= limit {
        return;
    }
    let mark = "…";
    let mut end = limit.saturating_sub(mark.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(mark);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Device, Mode, Outcome, Status, TaskReport, User};

    fn report(items: usize, detail: &str) -> Report {
        Report {
            schema_version: crate::report::SCHEMA_VERSION,
            report_id: uuid::Uuid::nil(),
            agent_version: "0.1.0".into(),
            mode: Mode::Run,
            started_at: time::OffsetDateTime::UNIX_EPOCH,
            finished_at: time::OffsetDateTime::UNIX_EPOCH,
            device: Device {
                hostname: "pc".into(),
                os: "linux".into(),
                os_version: "12".into(),
                arch: "x86_64".into(),
                device_id: "id".into(),
            },
            user: User {
                name: "ana".into(),
                upn: None,
                upn_source: None,
            },
            outcome: Outcome::ActionNeeded,
            organizations: Vec::new(),
            group: None,
            inventory: None,
            inventory_left_out: 0,
            tasks: vec![TaskReport {
                id: "credentials".into(),
                status: Status::NeedsUser,
                summary: "s".into(),
                items: (0..items)
                    .map(|i| Item {
                        kind: "credential".into(),
                        target: format!("t{i}"),
                        status: Status::NeedsUser,
                        detail: detail.into(),
                    })
                    .collect(),
            }],
        }
    }

    #[test]
    fn a_report_within_the_limits_is_left_as_it_is() {
        let mut small = report(3, "fine");
        let before = small.clone();
        fit(&mut small);
        assert_eq!(small, before);
        assert_eq!(check(&small), None);
    }

    #[test]
    fn long_texts_are_cut_at_a_character_boundary_and_marked() {
        let mut long = report(2, &"é".repeat(5000));
        long.device.os_version = "x".repeat(1000);
        assert!(check(&long).is_some());
        fit(&mut long);
        assert_eq!(check(&long), None);
        let detail = &long.tasks[0].items[0].detail;
        assert!(
            detail.len() <= TEXT && detail.ends_with('…'),
            "{}",
            detail.len()
        );
        assert_eq!(long.device.os_version.len(), NAME);
    }

    #[test]
    fn too_many_or_too_large_items_are_summarised_with_a_count_and_fit_the_body() {
        let mut many = report(25_000, "d");
        fit(&mut many);
        assert_eq!(check(&many), None);
        let items = &many.tasks[0].items;
        assert!(items.len() <= ITEMS);
        let note = items.last().unwrap();
        assert_eq!(note.kind, "more-items");
        assert_eq!(
            note.target,
            format!("{} more", 25_000 - (items.len() - 1)),
            "the count of what was left out is exact"
        );
        let mut heavy = report(5_000, &"x".repeat(4000));
        fit(&mut heavy);
        assert!(serde_json::to_vec(&heavy).unwrap().len() <= BODY);
        assert_eq!(check(&heavy), None);
    }

    #[test]
    fn an_inventory_cut_to_fit_says_how_many_entries_it_left_out() {
        let entry = |n: usize, target: &str| crate::report::Found {
            category: crate::report::Category::LocalWork,
            organization: "contoso".into(),
            target: format!("{target}{n}"),
            kind: "unpushed-commits".into(),
        };
        let mut whole = report(1, "d");
        whole.inventory = Some((0..10).map(|n| entry(n, "repo")).collect());
        fit(&mut whole);
        assert_eq!(whole.inventory_left_out, 0, "a whole list says nothing");
        assert!(
            !serde_json::to_string(&whole)
                .unwrap()
                .contains("inventory_left_out")
        );

        let mut long = report(1, "d");
        long.inventory = Some((0..INVENTORY + 37).map(|n| entry(n, "repo")).collect());
        fit(&mut long);
        assert_eq!(long.inventory.as_ref().unwrap().len(), INVENTORY);
        assert_eq!(long.inventory_left_out, 37);

        // Entries too large for the body together are halved until it fits: all counted.
        let mut heavy = report(1, "d");
        let path = "p".repeat(TEXT - 10);
        heavy.inventory = Some((0..1_000).map(|n| entry(n, &path)).collect());
        fit(&mut heavy);
        let sent = heavy.inventory.as_ref().unwrap().len();
        assert!(sent < 1_000 && serde_json::to_vec(&heavy).unwrap().len() <= BODY);
        assert_eq!(heavy.inventory_left_out as usize, 1_000 - sent);
        assert_eq!(check(&heavy), None);
    }
}
