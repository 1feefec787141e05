//! The dashboard in real headless Chromium: sign in through the form, read the numbers that were
//! posted, see a hostile host name rendered as text, export the CSV, and keep a screenshot
//! (`target/tmp/dashboard.png`) as a test artifact.
#![cfg(all(feature = "server", target_os = "linux"))] // Debian's Chromium drives the page

use crate::support;

use ado_cutover::report::{Outcome, Report, Status};
use serde_json::{Value, json};
use support::browser::Browser;
use support::server::{ADMIN, ENROLLMENT, TestServer, client, sample_report};
use time::OffsetDateTime;

const HOSTILE: &str = "<script>document.title='pwned'</script><img id=\"pwned\" src=\"x\">";

fn report(host: &str, outcome: Outcome) -> Report {
    let now = OffsetDateTime::now_utc();
    sample_report(host, "user", outcome, now, &format!("detail of {host}"))
}

fn post(server: &TestServer, report: &Report) {
    let response = client()
        .post(format!("{}/api/v1/reports", server.base))
        .header("Authorization", &format!("Bearer {ENROLLMENT}"))
        .header("Content-Type", "application/json")
        .send(&serde_json::to_vec(report).unwrap()[..])
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
}

/// Chromium, signed in to `server` as an admin through the sign-in form, on the overview.
fn signed_in(server: &TestServer) -> Browser {
    let mut browser = Browser::launch();
    browser.open(&format!("{}/login", server.base));
    browser.eval(&format!(
        "document.getElementById('token').value = '{ADMIN}'; document.querySelector('form.login').submit();"
    ));
    browser.wait_for("location.pathname === '/' && document.readyState === 'complete'");
    browser
}

fn text_of(browser: &mut Browser, id: &str) -> String {
    browser
        .eval(&format!("document.getElementById('{id}').textContent"))
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn the_dashboard_shows_what_was_posted_and_renders_hostile_names_as_text() {
    let server = TestServer::start(false);
    let posted = [
        ("pc-1", Outcome::Done),
        ("pc-2", Outcome::Done),
        ("pc-3", Outcome::NothingToDo),
        ("pc-4", Outcome::ActionNeeded),
        ("pc-5", Outcome::ActionNeeded),
        ("pc-6", Outcome::Failed),
        (HOSTILE, Outcome::ActionNeeded),
    ];
    for (host, outcome) in posted {
        let mut report = report(host, outcome);
        // pc-1 is verified working on contoso; pc-6 failed its verification there, with a
        // hostile organization name beside it.
        let org = |name: &str, verified| ado_cutover::report::Organization {
            name: name.into(),
            switch: ado_cutover::report::Switch::Switched,
            verified: Some(verified),
        };
        report.organizations = match host {
            "pc-1" => vec![org("contoso", Status::Ok)],
            "pc-6" => vec![org("contoso", Status::Failed), org(HOSTILE, Status::Failed)],
            _ => Vec::new(),
        };
        post(&server, &report);
    }

    let mut browser = Browser::launch();
    browser.open(&format!("{}/", server.base));
    assert_eq!(
        browser.eval("location.pathname"),
        json!("/login"),
        "strangers sign in first"
    );
    browser.eval(&format!(
        "document.getElementById('token').value = '{ADMIN}'; document.querySelector('form.login').submit();"
    ));
    browser.wait_for("location.pathname === '/' && document.readyState === 'complete' && document.getElementById('devices-reported')");

    assert_eq!(text_of(&mut browser, "devices-reported"), "7");
    assert_eq!(text_of(&mut browser, "outcome-done"), "2");
    assert_eq!(text_of(&mut browser, "outcome-nothing-to-do"), "1");
    assert_eq!(text_of(&mut browser, "outcome-action-needed"), "3");
    assert_eq!(text_of(&mut browser, "outcome-failed"), "1");
    assert_eq!(text_of(&mut browser, "verified-working"), "1");
    assert_eq!(text_of(&mut browser, "verified-failing"), "1");
    let orgs = browser.eval(
        "[...document.querySelectorAll('table.orgs tbody tr')].map(r => [...r.cells].map(c => c.textContent).join('|'))",
    );
    assert_eq!(
        orgs,
        json!([format!("{HOSTILE}|0|0|1|0|1"), "contoso|0|0|2|1|1"]),
        "per organization: waiting, not checked, switched, verified, failing"
    );
    // The hostile host name is text: no element was made from it, no script ran.
    assert_eq!(
        browser.eval("document.getElementById('pwned') === null"),
        json!(true)
    );
    assert_ne!(browser.eval("document.title"), json!("pwned"));
    let body = browser.eval("document.body.innerText");
    assert!(body.as_str().unwrap().contains(HOSTILE), "{body}");
    assert!(
        body.as_str().unwrap().contains("detail of pc-6"),
        "failures by cause"
    );

    let png = browser.screenshot();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let artifact = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    std::fs::write(&artifact, &png).unwrap();

    // The device page of the hostile name.
    browser.open(&format!("{}/devices?outcome=action-needed", server.base));
    let href = browser.eval(&format!(
        "[...document.querySelectorAll('table.devices a')].find(a => a.textContent === {}).href",
        serde_json::to_string(HOSTILE).unwrap()
    ));
    browser.open(href.as_str().expect("a link to the hostile device"));
    assert_eq!(
        browser.eval("document.querySelector('h1').textContent"),
        json!(HOSTILE)
    );
    assert_eq!(
        browser.eval("document.getElementById('pwned') === null"),
        json!(true)
    );

    // The CSV export, with the browser's session.
    let cookies = browser.call("Network.getCookies", json!({ "urls": [server.base] }));
    let session = cookies["cookies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "ado_cutover_session")
        .expect("a session cookie");
    assert_eq!(session["httpOnly"], json!(true));
    assert_eq!(session["sameSite"], json!("Strict"));
    let cookie = format!("ado_cutover_session={}", session["value"].as_str().unwrap());
    let csv = client()
        .get(format!("{}/devices.csv", server.base))
        .header("Cookie", &cookie)
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), posted.len());
    for (host, outcome) in posted {
        let outcome: Value = serde_json::to_value(outcome).unwrap();
        let quoted = format!("\"{}\"", host.replace('"', "\"\""));
        let row = rows
            .iter()
            .find(|r| r.starts_with(&quoted))
            .unwrap_or_else(|| panic!("{host} not in {csv}"));
        assert!(
            row.contains(&format!("\"{}\"", outcome.as_str().unwrap())),
            "{row}"
        );
    }

    // A form sent from elsewhere (wrong CSRF token) is refused and changes nothing.
    let refused = client()
        .post(format!("{}/expected-users", server.base))
        .header("Cookie", &cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send("csrf=forged&upns=mallory%40evil.example")
        .unwrap();
    assert_eq!(refused.status().as_u16(), 403);
    let summary = server
        .block_on(server.store.summary(OffsetDateTime::now_utc(), 1))
        .unwrap();
    assert_eq!(summary.expected, 0);

    // Readiness through the real form.
    browser.open(&format!("{}/", server.base));
    browser.eval("document.getElementById('upns').value = 'Name,Email\\nErin,erin@contoso.com'; document.querySelector('form[action=\"/expected-users\"]').submit();");
    browser.wait_for(
        "document.readyState === 'complete' && document.querySelector('ul.not-reported')",
    );
    assert_eq!(
        browser.eval("document.querySelector('ul.not-reported').innerText.trim()"),
        json!("erin@contoso.com")
    );
}

/// Groups and waves in Chromium: the groups page's numbers, a wave's first day set through its
/// date field, the overview's waves and its group filter.
#[test]
fn groups_and_waves_in_the_browser() {
    let server = TestServer::start(false);
    for (host, outcome, group) in [
        ("pc-1", Outcome::Done, "wave 1"),
        ("pc-2", Outcome::Failed, "wave 1"),
        ("pc-3", Outcome::Done, "wave 2"),
    ] {
        let mut report = report(host, outcome);
        report.user.name = host.into();
        report.user.upn = Some(format!("{host}@contoso.com"));
        report.group = Some(group.into());
        report.organizations = vec![ado_cutover::report::Organization {
            name: "contoso".into(),
            switch: ado_cutover::report::Switch::Switched,
            verified: (outcome == Outcome::Done).then_some(Status::Ok),
        }];
        post(&server, &report);
    }
    let mut browser = signed_in(&server);
    browser.open(&format!("{}/groups", server.base));
    browser
        .wait_for("document.readyState === 'complete' && document.querySelector('table.groups')");
    let rows = browser.eval(
        "[...document.querySelectorAll('table.groups tbody tr')].map(r => [...r.cells].slice(0, 11).map(c => c.innerText.trim()).join('|'))",
    );
    assert_eq!(
        rows,
        json!([
            "wave 1||0|0|2|0|1|1|0|1|50% verified working",
            "wave 2||0|0|1|0|1|1|0|0|100% verified working"
        ])
    );
    // The first day of wave 1, through its date field (a real date input).
    browser.eval(
        "const f = document.querySelector('tr[data-group=\"wave 1\"] form'); f.querySelector('input[type=date]').value = '2026-01-05'; f.submit();",
    );
    browser.wait_for(
        "location.pathname === '/groups' && document.readyState === 'complete' && document.querySelector('tr[data-group=\"wave 1\"]').cells[1].innerText.includes('2026-01-05')",
    );
    browser.open(&format!("{}/", server.base));
    browser.wait_for(
        "document.readyState === 'complete' && document.getElementById('devices-reported')",
    );
    assert_eq!(
        browser.eval("[...document.querySelectorAll('section.waves tbody tr')].map(r => r.cells[0].innerText + ' ' + r.cells[1].innerText)"),
        json!(["wave 1 open since 2026-01-05"])
    );
    // The group filter: the overview of wave 1 only.
    browser.eval("document.getElementById('group').value = 'wave 1'; document.querySelector('form.filters').submit();");
    browser.wait_for("location.search === '?group=wave+1' && document.readyState === 'complete' && document.getElementById('devices-reported')");
    assert_eq!(text_of(&mut browser, "devices-reported"), "2");
    assert_eq!(text_of(&mut browser, "outcome-failed"), "1");
    assert_eq!(text_of(&mut browser, "verified-working"), "1");
}

#[test]
fn before_the_switch_in_the_browser() {
    use ado_cutover::report::{Category, Found, Organization, Switch};
    let server = TestServer::start(false);
    for (user, found) in [
        (
            "ana",
            vec![
                (Category::LocalWork, "contoso", "~/src/app (main)"),
                (Category::Ssh, "fabrikam", HOSTILE),
            ],
        ),
        (
            "ben",
            vec![(Category::LocalWork, "contoso", "~/src/api (dev)")],
        ),
        ("cy", vec![]),
    ] {
        let mut report = report(&format!("pc-{user}"), Outcome::NothingToDo);
        report.user.name = user.into();
        report.user.upn = Some(format!("{user}@contoso.com"));
        report.organizations = ["contoso", "fabrikam"]
            .map(|name| Organization {
                name: name.into(),
                switch: Switch::Waiting,
                verified: None,
            })
            .to_vec();
        report.inventory = Some(
            found
                .into_iter()
                .map(|(category, org, target)| Found {
                    category,
                    organization: org.into(),
                    target: target.into(),
                    kind: "test".into(),
                })
                .collect(),
        );
        post(&server, &report);
    }
    let mut browser = signed_in(&server);
    // Through the navigation, as an admin finds it.
    browser.eval("[...document.querySelectorAll('nav a')].find(a => a.textContent === 'Before the switch').click()");
    browser.wait_for("location.pathname === '/inventory' && document.readyState === 'complete' && document.querySelector('table.inventory')");
    let row = |browser: &mut Browser, category: &str| {
        browser.eval(&format!(
            "[...document.querySelector('tr[data-category=\"{category}\"]').cells].slice(1, 5).map(c => c.innerText.trim()).join('|')"
        ))
    };
    assert_eq!(row(&mut browser, "local-work"), json!("2|2|2|2"));
    assert_eq!(row(&mut browser, "ssh"), json!("0|0|0|0"), "contoso first");
    assert_eq!(
        browser.eval("document.querySelector('ul.readiness').innerText.trim()"),
        json!("2 users have unpushed or uncommitted work in contoso repositories")
    );
    assert_eq!(
        browser.eval("document.querySelector('p.summary').innerText.trim()"),
        json!(
            "3 devices of 3 people report contoso; 3 still wait for its switch; 3 sent an inventory."
        )
    );
    // The other organization, through the form; the hostile target stays text.
    browser.eval("document.querySelector('select[name=org]').value = 'fabrikam'; document.querySelector('form.filters').submit();");
    browser.wait_for("location.search.includes('org=fabrikam') && document.readyState === 'complete' && document.querySelector('table.inventory')");
    assert_eq!(row(&mut browser, "ssh"), json!("1|1|1|1"));
    assert_eq!(
        browser.eval("document.querySelector('table.entries td code').innerText"),
        json!(HOSTILE)
    );
    assert_eq!(
        browser.eval("document.getElementById('pwned') === null"),
        json!(true)
    );
    assert_ne!(browser.eval("document.title"), json!("pwned"));
}
