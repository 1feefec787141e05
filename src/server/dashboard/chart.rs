//! The overview's chart of reports per day.

use maud::{Markup, html};
use time::OffsetDateTime;

use crate::server::outcome::FleetOutcome;
use crate::server::store::{DAY_MS, Summary, millis};

/// Reports per day as stacked bars, drawn as SVG (no script, no external image).
pub(super) fn chart(summary: &Summary, now: OffsetDateTime) -> Markup {
    const DAYS: i64 = 30;
    const W: i64 = 600;
    const H: i64 = 120;
    let today = millis(now) / DAY_MS;
    let totals: Vec<(i64, i64)> = (0..DAYS)
        .map(|i| {
            let day = today - DAYS + 1 + i;
            let counts = summary.days.get(&day);
            let get = |k: FleetOutcome| counts.and_then(|c| c.get(&k)).copied().unwrap_or(0);
            (
                get(FleetOutcome::Done) + get(FleetOutcome::NothingToDo),
                get(FleetOutcome::ActionNeeded)
                    + get(FleetOutcome::Failed)
                    + get(FleetOutcome::NotChecked)
                    + get(FleetOutcome::Waiting),
            )
        })
        .collect();
    let max = totals.iter().map(|(a, b)| a + b).max().unwrap_or(0).max(1);
    let bar = W / DAYS;
    html! {
        svg.chart viewBox={"0 0 " (W) " " (H + 16)} role="img" aria-label="Reports per day: done and needing action" {
            @for (i, (good, bad)) in totals.iter().enumerate() {
                @let x = i as i64 * bar;
                @let good_h = good * H / max;
                @let bad_h = bad * H / max;
                rect.good x=(x) y=(H - good_h) width=(bar - 2) height=(good_h) { title { (good) " done" } }
                rect.bad x=(x) y=(H - good_h - bad_h) width=(bar - 2) height=(bad_h) { title { (bad) " not finished: needing action, failed, waiting for the switch or not fully checked" } }
            }
            text x="0" y=(H + 14) { "30 days ago" }
            text x=(W) y=(H + 14) text-anchor="end" { "today" }
        }
        p.legend { span.good { "■" } " done or nothing to do  " span.bad { "■" } " not finished: needing action, failed, waiting for the switch or not fully checked" }
    }
}
