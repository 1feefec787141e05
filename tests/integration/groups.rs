//! Rollout groups and waves (#23) against a real server, on SQLite and PostgreSQL: a device's
//! group comes from its agent's `report.group`, else its enrollment token's label, else the
//! expected user it matches (also for devices that reported before the upload); per-group
//! progress, filters and exports give exact numbers; a wave's start date is set from the
//! dashboard, audited, and shown on the overview; hostile group names stay text.
#![cfg(feature = "server")]

use crate::support;

use ado_cutover::report::{Organization, Outcome, Report, Status, Switch};
use serde_json::{Value, json};
use support::server::{ADMIN, TestServer, backends, client, post_report_as_agent, sample_report};
use time::OffsetDateTime;

fn api(server: &TestServer, path: &str) -> Value {
    let mut answer = client()
        .get(format!("{}{path}", server.base))
        .header("Authorization", &format!("Bearer {ADMIN}"))
        .call()
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200, "{path}");
    serde_json::from_str(&answer.body_mut().read_to_string().unwrap()).unwrap()
}

/// A report from `user`'s machine: `outcome`, verified working when `verified`, waiting for the
/// switch when `waiting`, naming `group` when its agent has `report.group`.
fn report(user: &str, outcome: Outcome, verified: bool, group: Option<&str>) -> Report {
    let mut report = sample_report(
        &format!("pc-{user}"),
        user,
        outcome,
        OffsetDateTime::now_utc(),
        "detail",
    );
    report.organizations = vec![Organization {
        name: "contoso".into(),
        switch: if outcome == Outcome::NothingToDo && !verified {
            Switch::Waiting
        } else {
            Switch::Switched
        },
        verified: verified.then_some(Status::Ok),
    }];
    report.group = group.map(str::to_string);
    report
}

fn by_group(groups: &Value, name: Option<&str>) -> Value {
    groups
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == json!(name))
        .unwrap_or_else(|| panic!("no group {name:?} in {groups}"))
        .clone()
}

fn hosts(devices: &Value) -> Vec<String> {
    let mut hosts: Vec<String> = devices
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["hostname"].as_str().unwrap().to_string())
        .collect();
    hosts.sort();
    hosts
}

#[test]
fn devices_fall_into_groups_and_waves_show_their_progress() {
    for postgres in backends() {
        let server = TestServer::start(postgres);
        let (cookie, csrf) = server.sign_in();

        // An enrollment token for the pilot, made on the dashboard.
        let (status, page) = server.post_as(
            "/tokens",
            &cookie,
            &format!("csrf={csrf}&kind=enrollment&label=pilot&expires=90d"),
        );
        assert_eq!(status, 200);
        let pilot = page
            .split("<pre id=\"new-token\">")
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .unwrap()
            .to_string();
        let keys = Default::default();
        let send = |token: &str, report: &Report| {
            let (status, answer) = post_report_as_agent(&server.base, token, report, &keys);
            assert_eq!(status, 202, "{answer}");
        };

        // Before the upload: alice (done, verified), dave (waiting).
        let enrollment = support::server::ENROLLMENT;
        send(enrollment, &report("alice", Outcome::Done, true, None));
        send(
            enrollment,
            &report("dave", Outcome::NothingToDo, false, None),
        );
        let groups = api(&server, "/api/v1/groups");
        assert_eq!(groups.as_array().unwrap().len(), 1, "{groups}");
        assert_eq!(by_group(&groups, None)["devices"], 2);

        // The upload: a group column (Wave wins over Department); dave has no group.
        let csv = "userPrincipalName,Department,Wave\n\
                   alice@contoso.com,Finance,wave 1\n\
                   bob@contoso.com,Finance,wave 1\n\
                   carol@contoso.com,Sales,wave 2\n\
                   erin@contoso.com,Sales,wave 2\n\
                   dave@contoso.com,,\n";
        let form: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("csrf", &csrf)
            .append_pair("upns", csv)
            .finish();
        let (status, _) = server.post_as("/expected-users", &cookie, &form);
        assert!(status == 303 || status == 200, "{status}");

        // After it: carol's agent names its own group (it wins over the upload's), erin
        // reports with the pilot token (its label wins over the upload's), frank is not
        // expected and reports with the pilot token.
        send(
            enrollment,
            &report("carol", Outcome::Failed, false, Some("Berlin")),
        );
        send(&pilot, &report("erin", Outcome::ActionNeeded, false, None));
        send(&pilot, &report("frank", Outcome::Done, true, None));

        let groups = api(&server, "/api/v1/groups");
        let names: Vec<Value> = groups
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["group"].clone())
            .collect();
        assert_eq!(
            names,
            [
                json!("Berlin"),
                json!("pilot"),
                json!("wave 1"),
                json!("wave 2"),
                Value::Null
            ],
            "named groups by name, then the devices in none"
        );
        let wave1 = by_group(&groups, Some("wave 1"));
        // alice reported before the upload and was put into her group by it.
        assert_eq!(wave1["expected"], 2, "{wave1}");
        assert_eq!(wave1["not_reported"], 1, "bob: {wave1}");
        assert_eq!(wave1["devices"], 1);
        assert_eq!(wave1["outcomes"]["done"], 1);
        assert_eq!(wave1["verified"], 1);
        assert_eq!(wave1["percent_done"], 50, "alice verified of alice and bob");
        let wave2 = by_group(&groups, Some("wave 2"));
        assert_eq!(
            (
                wave2["expected"].clone(),
                wave2["not_reported"].clone(),
                wave2["devices"].clone()
            ),
            (json!(2), json!(0), json!(0)),
            "carol and erin reported, their devices are in the groups their settings name: {wave2}"
        );
        let berlin = by_group(&groups, Some("Berlin"));
        assert_eq!(berlin["devices"], 1);
        assert_eq!(berlin["outcomes"]["failed"], 1);
        assert_eq!(berlin["expected"], 0);
        let pilot_group = by_group(&groups, Some("pilot"));
        assert_eq!(pilot_group["devices"], 2);
        assert_eq!(pilot_group["outcomes"]["action-needed"], 1);
        assert_eq!(pilot_group["verified"], 1);
        assert_eq!(pilot_group["percent_done"], 50);
        let none = by_group(&groups, None);
        assert_eq!(none["devices"], 1, "dave: {none}");
        assert_eq!(none["outcomes"]["waiting"], 1);
        assert_eq!(none["expected"], 1);

        // Every view filters by group.
        assert_eq!(
            hosts(&api(&server, "/api/v1/devices?group=pilot")),
            ["pc-erin", "pc-frank"]
        );
        assert_eq!(
            hosts(&api(
                &server,
                "/api/v1/devices?group=pilot&outcome=action-needed"
            )),
            ["pc-erin"]
        );
        let device = api(&server, "/api/v1/devices/id-pc-carol/carol");
        assert_eq!(device["device"]["group"], "Berlin");
        let summary = api(&server, "/api/v1/summary?group=wave%201");
        assert_eq!(summary["devices"], 1, "{summary}");
        assert_eq!(summary["expected"], 2);
        assert_eq!(summary["not_reported"], json!(["bob@contoso.com"]));
        assert_eq!(summary["verified"]["ok"], 1);
        assert_eq!(summary["orgs"][0]["verified"], 1);
        assert_eq!(summary["tasks"]["browser-sign-out"]["done"], 1);
        let today: i64 = OffsetDateTime::now_utc().unix_timestamp() / 86_400;
        let day_key = ado_cutover::server::store::iso_date(today);
        assert_eq!(summary["days"][&day_key]["done"], 1, "{summary}");
        let fleet = api(&server, "/api/v1/summary");
        assert_eq!(fleet["devices"], 5);
        assert_eq!(fleet["not_reported"], json!(["bob@contoso.com"]));
        let berlin = api(&server, "/api/v1/summary?group=Berlin");
        assert_eq!(berlin["failures"][0][2], 1, "{berlin}");
        assert_eq!(berlin["expected"], 0);

        let (_, page) = server.get_as("/?group=pilot", &cookie);
        assert!(page.contains("Overview: pilot"), "{page}");
        assert!(page.contains("pc-erin") && !page.contains("pc-carol"));
        let (_, csv) = server.get_as("/devices.csv?group=pilot", &cookie);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3, "{csv}");
        assert!(lines[0].ends_with(",group"));
        assert!(
            lines[1..].iter().all(|l| l.ends_with(",\"pilot\"")),
            "{csv}"
        );
        let (_, csv) = server.get_as("/not-reported.csv?group=wave%201", &cookie);
        assert_eq!(csv, "user,group\r\n\"bob@contoso.com\",\"wave 1\"\r\n");
        let (_, csv) = server.get_as("/groups.csv", &cookie);
        assert!(
            csv.contains("\"wave 1\",\"\",2,1,1,0,1,1,0,0,50\r\n"),
            "{csv}"
        );

        // A wave: a start date from the dashboard, audited, open on the overview.
        let day = ado_cutover::server::store::iso_date(today);
        let wave = |starts: &str| {
            let form: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("csrf", &csrf)
                .append_pair("group", "wave 1")
                .append_pair("starts", starts)
                .finish();
            server.post_as("/groups/wave", &cookie, &form)
        };
        assert_eq!(wave("next tuesday").0, 400);
        assert_eq!(wave(&day).0, 303);
        let groups = api(&server, "/api/v1/groups");
        assert_eq!(
            by_group(&groups, Some("wave 1"))["starts_at"],
            today * 86_400_000
        );
        let (_, page) = server.get_as("/", &cookie);
        let waves = page
            .split("<section class=\"waves\">")
            .nth(1)
            .expect("the overview lists the waves")
            .split("</section>")
            .next()
            .unwrap();
        assert!(waves.contains("wave 1") && waves.contains(&format!("open since {day}")));
        assert!(waves.contains("50% verified working"), "{waves}");
        assert!(!waves.contains("pilot"), "only waves: {waves}");
        let audit = server.block_on(server.store.audit(None, 50)).unwrap();
        assert!(
            audit.iter().any(|e| e.action == "wave-set"
                && e.target == "wave 1"
                && e.detail == format!("starts {day}")),
            "{audit:?}"
        );
        // A viewer cannot set one; a form from elsewhere is refused.
        let forged = "csrf=forged&group=wave%201&starts=";
        assert_eq!(server.post_as("/groups/wave", &cookie, forged).0, 403);
        assert_eq!(wave("").0, 303, "cleared");
        let groups = api(&server, "/api/v1/groups");
        assert_eq!(by_group(&groups, Some("wave 1"))["starts_at"], Value::Null);
    }
}

#[test]
fn group_names_stay_text_and_have_a_limit() {
    let server = TestServer::start(false);
    let (cookie, _) = server.sign_in();
    let hostile = "<script>alert(1)</script>";
    let keys = Default::default();
    let (status, _) = post_report_as_agent(
        &server.base,
        support::server::ENROLLMENT,
        &report("mallory", Outcome::Done, false, Some(hostile)),
        &keys,
    );
    assert_eq!(status, 202);
    let (_, page) = server.get_as("/groups", &cookie);
    assert!(!page.contains(hostile));
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    let (status, answer) = post_report_as_agent(
        &server.base,
        support::server::ENROLLMENT,
        &report("long", Outcome::Done, false, Some(&"g".repeat(101))),
        &keys,
    );
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer
            .to_string()
            .contains("group is longer than 100 bytes")
    );
}
