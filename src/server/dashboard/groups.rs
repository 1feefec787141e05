//! Rollout groups and waves: each group's progress (expected, reported, waiting for the
//! switch, done, verified working, needing action, failed), its links to the overview and the
//! device list filtered to it, the exports per group, and for admins the wave start dates.

use axum::Form;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::devices::cell;
use super::{AppState, PageError, csv_download, page};
use crate::server::auth::{Admin, Role, Viewer};
use crate::server::outcome::FleetOutcome;
use crate::server::store::{DAY_MS, GroupProgress, iso_date, millis};

/// `?group=` of a link, percent-encoded (empty for no group).
pub(super) fn group_query(group: Option<&str>) -> String {
    match group {
        Some(group) => format!("group={}", utf8_percent_encode(group, NON_ALPHANUMERIC)),
        None => String::new(),
    }
}

/// A group's name for people; devices in no group are "No group".
fn name_of(group: &GroupProgress) -> &str {
    group.group.as_deref().unwrap_or("No group")
}

/// The progress bar and its words: "42% verified working".
pub(super) fn progress(group: &GroupProgress) -> Markup {
    html! {
        span.progress {
            meter min="0" max="100" value=(group.percent_done) {}
            " " (group.percent_done) "% verified working"
        }
    }
}

/// The wave's state at `now`: "open since 2026-12-01", "starts 2026-12-08", or nothing.
fn wave_state(group: &GroupProgress, now: i64) -> String {
    match group.starts_at {
        Some(start) if start <= now => format!("open since {}", iso_date(start / DAY_MS)),
        Some(start) => format!("starts {}", iso_date(start / DAY_MS)),
        None => String::new(),
    }
}

/// The table of groups (on the groups page, and the overview's waves).
pub(super) fn group_table(groups: &[GroupProgress], now: i64, admin_csrf: Option<&str>) -> Markup {
    html! {
        table.groups {
            thead { tr {
                th { "Group" } th { "Wave" } th.num { "Expected" } th.num { "Not reported" }
                th.num { "Devices" } th.num { "Waiting for the switch" } th.num { "Done" }
                th.num { "Verified working" } th.num { "Action needed" } th.num { "Failed" }
                th { "Progress" }
                @if admin_csrf.is_some() { th { "Wave start (UTC)" } }
            } }
            tbody {
                @for g in groups {
                    @let query = group_query(g.group.as_deref());
                    tr data-group=(name_of(g)) {
                        td {
                            @if g.group.is_some() {
                                a href={"/?" (query)} { (name_of(g)) }
                            } @else {
                                span.muted { (name_of(g)) }
                            }
                        }
                        td { (wave_state(g, now)) }
                        td.num { (g.expected) }
                        td.num.not-reported { (g.not_reported) }
                        td.num {
                            @if g.group.is_some() { a href={"/devices?" (query)} { (g.devices) } } @else { (g.devices) }
                        }
                        td.num { (g.outcome(FleetOutcome::Waiting)) }
                        td.num { (g.outcome(FleetOutcome::Done)) }
                        td.num.verified { (g.verified) }
                        td.num { (g.outcome(FleetOutcome::ActionNeeded)) }
                        td.num { (g.outcome(FleetOutcome::Failed)) }
                        td { (progress(g)) }
                        @if let (Some(csrf), Some(group)) = (admin_csrf, g.group.as_deref()) {
                            td {
                                form.inline method="post" action="/groups/wave" {
                                    input type="hidden" name="csrf" value=(csrf);
                                    input type="hidden" name="group" value=(group);
                                    input type="date" name="starts" aria-label={"Start of " (group)}
                                        value=(g.starts_at.map(|s| iso_date(s / DAY_MS)).unwrap_or_default());
                                    button type="submit" { "Set" }
                                }
                            }
                        } @else if admin_csrf.is_some() {
                            td {}
                        }
                    }
                }
            }
        }
    }
}

pub(super) async fn groups_page(
    viewer: Viewer,
    axum::extract::State(state): AppState,
) -> Result<Response, PageError> {
    let groups = state.store.groups().await.map_err(PageError::unavailable)?;
    let now = millis(state.now());
    let csrf = (viewer.role == Role::Admin).then(|| viewer.csrf.as_deref().unwrap_or(""));
    let body = html! {
        h1 { "Groups and waves" }
        p.muted {
            "A device's group is its agent's setting report.group, else the label of its enrollment token, else the group of the expected user it matches (the upload's Group, Wave, Department or Site column). "
            "A group with a start date is a wave. Progress is the share verified working of its devices and of its expected users who have not reported yet."
        }
        @if groups.is_empty() {
            p.muted { "No groups yet: upload the expected users with a group column, label the enrollment tokens, or set report.group on the devices." }
        } @else {
            (group_table(&groups, now, csrf))
            p { a.export href="/groups.csv" { "Export CSV" } }
        }
    };
    Ok(page("Groups", Some(&viewer.0), body))
}

pub(super) async fn groups_csv(
    _: Viewer,
    axum::extract::State(state): AppState,
) -> Result<Response, PageError> {
    let groups = state.store.groups().await.map_err(PageError::unavailable)?;
    let mut out = String::from(
        "group,wave_starts,expected,not_reported,devices,waiting,done,verified_working,action_needed,failed,percent_verified\r\n",
    );
    for g in &groups {
        let fields = [
            cell(g.group.as_deref().unwrap_or("")),
            cell(
                &g.starts_at
                    .map(|s| iso_date(s / DAY_MS))
                    .unwrap_or_default(),
            ),
            g.expected.to_string(),
            g.not_reported.to_string(),
            g.devices.to_string(),
            g.outcome(FleetOutcome::Waiting).to_string(),
            g.outcome(FleetOutcome::Done).to_string(),
            g.verified.to_string(),
            g.outcome(FleetOutcome::ActionNeeded).to_string(),
            g.outcome(FleetOutcome::Failed).to_string(),
            g.percent_done.to_string(),
        ];
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    Ok(csv_download("ado-cutover-groups.csv", out))
}

#[derive(serde::Deserialize)]
pub(super) struct GroupFilter {
    group: Option<String>,
}

/// The expected users who have not reported, of one group or all, as CSV: whom to remind.
pub(super) async fn not_reported_csv(
    _: Viewer,
    axum::extract::State(state): AppState,
    Query(filter): Query<GroupFilter>,
) -> Result<Response, PageError> {
    let group = filter.group.as_deref().filter(|g| !g.is_empty());
    let mut out = String::from("user,group\r\n");
    let mut offset = 0;
    loop {
        let page = state
            .store
            .not_reported(group, 5000, offset)
            .await
            .map_err(PageError::unavailable)?;
        for (user, group) in &page {
            out.push_str(&format!(
                "{},{}\r\n",
                cell(user),
                cell(group.as_deref().unwrap_or(""))
            ));
        }
        if page.len() < 5000 {
            break;
        }
        offset += 5000;
    }
    Ok(csv_download("ado-cutover-not-reported.csv", out))
}

#[derive(serde::Deserialize)]
pub(super) struct WaveForm {
    csrf: String,
    group: String,
    /// `YYYY-MM-DD`, or empty: not a wave any more.
    starts: String,
}

pub(super) async fn set_wave(
    admin: Admin,
    axum::extract::State(state): AppState,
    Form(form): Form<WaveForm>,
) -> Result<Response, PageError> {
    if !admin.csrf_ok(&form.csrf) {
        return Err(PageError::Forbidden);
    }
    let starts = match form.starts.trim() {
        "" => None,
        text => Some(day_start(text).ok_or_else(|| PageError::Refused {
            status: StatusCode::BAD_REQUEST,
            who: Some(admin.0.clone()),
            what: format!(
                "`{text}` is not a date. Give the wave's first day as YYYY-MM-DD (e.g. 2026-12-01), or leave it empty to make the group a plain group again."
            ),
        })?),
    };
    let Some(group) = crate::server::expected::group_name(&form.group) else {
        return Err(PageError::Refused {
            status: StatusCode::BAD_REQUEST,
            who: Some(admin.0.clone()),
            what: "The form named no group. Use the form on the groups page.".into(),
        });
    };
    let now = millis(state.now());
    state
        .store
        .set_wave(&group, starts, &admin.who, now)
        .await
        .map_err(PageError::unavailable)?;
    let (action, detail) = match starts {
        Some(start) => ("wave-set", format!("starts {}", iso_date(start / DAY_MS))),
        None => ("wave-cleared", "no start date".to_string()),
    };
    let entry = admin.audit(now, action, &group, &detail);
    state
        .store
        .add_audit(&entry)
        .await
        .map_err(PageError::unavailable)?;
    Ok(Redirect::to("/groups").into_response())
}

/// Midnight UTC of `YYYY-MM-DD`, in Unix milliseconds.
pub(crate) fn day_start(text: &str) -> Option<i64> {
    let mut parts = text.splitn(3, '-');
    let year: i32 = parts.next()?.parse().ok()?;
    let month: u8 = parts.next()?.parse().ok()?;
    let day: u8 = parts.next()?.parse().ok()?;
    if !(2000..=2200).contains(&year) {
        return None;
    }
    let date =
        time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp() * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wave_dates_are_days_in_utc() {
        assert_eq!(day_start("2026-12-01"), Some(1_796_083_200_000));
        assert_eq!(
            iso_date(day_start("2026-12-01").unwrap() / DAY_MS),
            "2026-12-01"
        );
        for bad in [
            "2026-13-01",
            "2026-02-30",
            "tomorrow",
            "1-1-1",
            "2026-12",
            "",
        ] {
            assert_eq!(day_start(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_wave_is_open_from_its_first_day() {
        let start = day_start("2026-12-01").unwrap();
        let wave = GroupProgress {
            group: Some("wave 1".into()),
            starts_at: Some(start),
            ..GroupProgress::default()
        };
        assert!(!wave.open(start - 1) && wave.open(start));
        assert_eq!(wave_state(&wave, start - 1), "starts 2026-12-01");
        assert_eq!(wave_state(&wave, start + DAY_MS), "open since 2026-12-01");
        assert_eq!(wave_state(&GroupProgress::default(), start), "");
    }
}
