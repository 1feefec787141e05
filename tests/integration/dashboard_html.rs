//! The dashboard overview's HTML, pinned as a snapshot: a fixed fleet at a fixed time, so any
//! change to what an admin sees on the first page shows up in review
//! (`snapshots/integration__dashboard_html__overview.snap`; `cargo insta review` accepts a
//! change on purpose). Only the session's CSRF token is masked.
#![cfg(feature = "server")]

use crate::support;

use ado_cutover::report::{Organization, Outcome, Status, Switch};
use support::server::{ADMIN, ENROLLMENT, TestServer, client, sample_report};
use time::macros::datetime;

#[test]
fn overview() {
    let server = TestServer::start(false);
    let now = datetime!(2026-11-29 12:00 UTC);
    *server.now.lock().unwrap() = now;
    let fleet = [
        ("pc-1", "ana", Outcome::Done, 0),
        ("pc-2", "ben", Outcome::NothingToDo, 1),
        ("pc-3", "cem", Outcome::ActionNeeded, 2),
        ("pc-4", "dia", Outcome::Failed, 3),
        // Not seen for more than a week: stale.
        ("pc-5", "eve", Outcome::ActionNeeded, 9),
    ];
    for (host, user, outcome, days_ago) in fleet {
        let at = now - time::Duration::days(days_ago);
        let mut report = sample_report(host, user, outcome, at, &format!("{host} could not"));
        // Fixed ids, so nothing in the page changes from one run to the next.
        report.report_id = uuid::Uuid::from_u128(days_ago as u128 + 1);
        // ana is verified working on contoso, dia failed its verification, ben waits for
        // fabrikam's switch.
        let org = |name: &str, switch, verified| Organization {
            name: name.into(),
            switch,
            verified,
        };
        report.organizations = match host {
            "pc-1" => vec![org("contoso", Switch::Switched, Some(Status::Ok))],
            "pc-2" => vec![org("fabrikam", Switch::Waiting, None)],
            "pc-4" => vec![org("contoso", Switch::Switched, Some(Status::Failed))],
            _ => Vec::new(),
        };
        let answer = client()
            .post(format!("{}/api/v1/reports", server.base))
            .header("Authorization", &format!("Bearer {ENROLLMENT}"))
            .header("Content-Type", "application/json")
            .send(&serde_json::to_vec(&report).unwrap()[..])
            .unwrap();
        assert_eq!(answer.status().as_u16(), 202);
    }
    let upload = client()
        .post(format!("{}/login", server.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(format!("token={ADMIN}"))
        .unwrap();
    assert_eq!(upload.status().as_u16(), 303, "signed in");
    let cookie = upload.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let mut page = client()
        .get(format!("{}/", server.base))
        .header("Cookie", &cookie)
        .call()
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.body_mut().read_to_string().unwrap();
    // One element per line, so a change reads as a small diff.
    let html = html.replace("><", ">\n<");
    insta::with_settings!({filters => vec![(r#"name="csrf" value="[0-9a-f]{64}""#, r#"name="csrf" value="[csrf]""#)]}, {
        insta::assert_snapshot!(html);
    });
}
