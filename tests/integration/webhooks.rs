//! Webhooks (#23) against a real server and a real receiver on 127.0.0.1, on SQLite and
//! PostgreSQL: a failed device is told once, signed (HMAC-SHA256 of the body with the
//! webhook's secret), retried after the receiver's 500 with the same delivery id and body, and
//! recorded; a device needing action for more than N days, a wave reaching its share and the
//! daily digest each come once, with a plain `text` for Teams and Slack; two instances on one
//! database send each notice once; no token, secret or webhook path is in a notice, the page
//! or the audit log.
#![cfg(feature = "server")]

use std::time::Duration;

use crate::support;

use ado_cutover::report::signature::sign;
use ado_cutover::report::{Organization, Outcome, Report, Status, Switch};
use ado_cutover::server::{Limits, State};
use serde_json::Value;
use support::receiver::{Received, Receiver};
use support::server::{ADMIN, ENROLLMENT, TestServer, backends, fresh_database, sample_report};
use time::OffsetDateTime;

fn fast(state: &mut State) {
    state.webhooks = ado_cutover::server::webhooks::Timing {
        interval: Duration::from_millis(100),
        retry_base: Duration::from_millis(300),
    };
}

fn report(host: &str, outcome: Outcome, at: OffsetDateTime, group: Option<&str>) -> Report {
    let mut report = sample_report(host, host, outcome, at, &format!("{host} went wrong"));
    report.organizations = vec![Organization {
        name: "contoso".into(),
        switch: Switch::Switched,
        verified: (outcome == Outcome::Done).then_some(Status::Ok),
    }];
    report.group = group.map(str::to_string);
    report
}

fn event(r: &Received) -> &str {
    r.headers
        .get("x-ado-cutover-event")
        .map(String::as_str)
        .unwrap_or("")
}

fn text(r: &Received) -> String {
    let body: Value = serde_json::from_str(&r.body).unwrap();
    body["text"].as_str().unwrap_or_default().to_string()
}

fn of<'a>(got: &'a [Received], name: &str, mentions: &str) -> Vec<&'a Received> {
    got.iter()
        .filter(|r| event(r) == name && r.body.contains(mentions))
        .collect()
}

/// Sets both servers' clocks.
fn set_clock(servers: &[&TestServer], at: OffsetDateTime) {
    for server in servers {
        *server.now.lock().unwrap() = at;
    }
}

#[test]
fn notices_are_signed_retried_recorded_and_sent_once() {
    for postgres in backends() {
        let receiver = Receiver::start(&[500]);
        let (url, dir) = fresh_database(postgres);
        let one = TestServer::start_configured(&url, dir, "127.0.0.1:0", Limits::default(), fast);
        let two = TestServer::start_configured(&url, None, "127.0.0.1:0", Limits::default(), fast);
        let servers = [&one, &two];
        // 10:00 UTC tomorrow: the digest (12:00) is not due yet. Tomorrow, not today: each
        // server's hourly upkeep runs once at start with the real clock, and after 22:00 UTC it
        // forgot the session signed in at 10:00 today (12 hours), so the test failed then.
        let t0 = (OffsetDateTime::now_utc() + time::Duration::days(1))
            .replace_time(time::Time::from_hms(10, 0, 0).unwrap());
        set_clock(&servers, t0);
        let (cookie, csrf) = one.sign_in();

        let form = |url: &str| {
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("csrf", &csrf)
                .append_pair("url", url)
                .append_pair("device-failed", "on")
                .append_pair("needs-action", "on")
                .append_pair("wave-reached", "on")
                .append_pair("digest", "on")
                .append_pair("stuck_days", "2")
                .append_pair("wave_percent", "50")
                .append_pair("digest_hour", "12")
                .finish()
        };
        let (status, page) = one.post_as("/webhooks", &cookie, &form("ftp://example.com/x"));
        assert_eq!(status, 400);
        assert!(page.contains("must start with https://"), "{page}");
        let (status, page) = one.post_as("/webhooks", &cookie, &form(&receiver.url));
        assert_eq!(status, 200);
        let secret = page
            .split("<pre id=\"new-webhook-secret\">")
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .expect("the secret, shown once")
            .to_string();
        assert!(secret.len() >= 32);

        // A device fails: the first try gets 500, the retry 200; same delivery, same body.
        one.send(&report("pc-fail", Outcome::Failed, t0, None));
        receiver.wait_for(|got| !of(got, "device-failed", "pc-fail").is_empty());
        // The servers' clocks stand still in tests: the retry is due once they move past its
        // backoff (300 ms here).
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(receiver.received().len(), 1, "not before its time");
        set_clock(&servers, t0 + time::Duration::seconds(1));
        let got = receiver.wait_for(|got| of(got, "device-failed", "pc-fail").len() >= 2);
        let tries = of(&got, "device-failed", "pc-fail");
        assert_eq!(tries.len(), 2, "{got:?}");
        assert_eq!(tries[0].body, tries[1].body);
        assert_eq!(
            tries[0].headers["x-ado-cutover-delivery"],
            tries[1].headers["x-ado-cutover-delivery"]
        );
        for r in &tries {
            assert_eq!(r.path, "/hook/secret-path");
            assert_eq!(r.headers["content-type"], "application/json");
            assert_eq!(
                r.headers["x-ado-cutover-signature"],
                format!("sha256={}", sign(&secret, r.body.as_bytes())),
                "signed with the webhook's secret"
            );
            assert_ne!(
                r.headers["x-ado-cutover-signature"],
                format!("sha256={}", sign("another secret", r.body.as_bytes()))
            );
        }
        let said = text(tries[0]);
        assert!(said.starts_with("ado-cutover: 1 device failed."), "{said}");
        assert!(
            said.contains("pc-fail (pc-fail@contoso.com): browser-sign-out: pc-fail went wrong"),
            "{said}"
        );

        // Recorded: delivered on the second try (the server records a try once the receiver
        // has answered, so the page may lag the receiver by a moment).
        let until = std::time::Instant::now() + Duration::from_secs(10);
        let page = loop {
            let (_, page) = one.get_as("/webhooks", &cookie);
            if page.contains("delivered") || std::time::Instant::now() > until {
                break page;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(page.contains("delivered"), "{page}");
        assert!(
            page.contains("<td class=\"num\">2</td>"),
            "two tries: {page}"
        );
        assert!(!page.contains(&secret) && !page.contains("secret-path"));

        // A device needing action: told only after 2 days, once.
        one.send(&report("pc-stuck", Outcome::ActionNeeded, t0, None));
        std::thread::sleep(Duration::from_millis(800));
        assert!(of(&receiver.received(), "needs-action", "pc-stuck").is_empty());
        set_clock(&servers, t0 + time::Duration::hours(49));
        let got = receiver.wait_for(|got| !of(got, "needs-action", "pc-stuck").is_empty());
        let stuck = of(&got, "needs-action", "pc-stuck");
        assert_eq!(stuck.len(), 1, "{got:?}");
        assert!(text(stuck[0]).contains("1 device has needed action for more than 2 days"));

        // A wave reaching its share: once.
        let day = t0.unix_timestamp().div_euclid(86_400) * 86_400_000;
        one.block_on(one.store.set_wave("wave 1", Some(day), "test", day))
            .unwrap();
        let at = t0 + time::Duration::hours(49);
        two.send(&report("pc-wave", Outcome::Done, at, Some("wave 1")));
        let got = receiver.wait_for(|got| !of(got, "wave-reached", "wave 1").is_empty());
        let wave = of(&got, "wave-reached", "wave 1");
        assert_eq!(wave.len(), 1);
        assert!(
            text(wave[0])
                .starts_with("ado-cutover: wave \"wave 1\" reached 100% verified working (1 of 1;"),
            "{}",
            text(wave[0])
        );

        // The digest at 12:00 UTC, once a day.
        set_clock(&servers, t0 + time::Duration::hours(51));
        let got = receiver.wait_for(|got| got.iter().any(|r| event(r) == "digest"));
        let digest: Vec<&Received> = got.iter().filter(|r| event(r) == "digest").collect();
        assert_eq!(digest.len(), 1);
        let said = text(digest[0]);
        assert!(said.starts_with("ado-cutover daily digest, "), "{said}");
        assert!(said.contains(": 3 devices, 1 verified working (33%), 0 waiting for the switch, 1 need action, 1 failed"), "{said}");
        assert!(
            said.contains("- wave \"wave 1\": 100% verified working"),
            "{said}"
        );

        // Another failure, with two instances running: told once.
        two.send(&report("pc-fail-2", Outcome::Failed, at, None));
        receiver.wait_for(|got| !of(got, "device-failed", "pc-fail-2").is_empty());
        std::thread::sleep(Duration::from_millis(1000));
        let got = receiver.received();
        assert_eq!(of(&got, "device-failed", "pc-fail-2").len(), 1, "{got:?}");
        assert_eq!(
            of(&got, "device-failed", "pc-fail").len(),
            3,
            "pc-fail once (two tries), pc-fail-2 once"
        );
        assert_eq!(got.iter().filter(|r| event(r) == "digest").count(), 1);

        // Nothing secret in any notice; the audit log names the host, not the path.
        for r in &got {
            for secret_value in [secret.as_str(), ENROLLMENT, ADMIN, "secret-path"] {
                assert!(!r.body.contains(secret_value), "{}", r.body);
            }
        }
        let audit = one.block_on(one.store.audit(None, 50)).unwrap();
        let made = audit
            .iter()
            .find(|e| e.action == "webhook-created")
            .unwrap();
        assert!(made.detail.starts_with("http://127.0.0.1:"), "{made:?}");
        assert!(!made.detail.contains("secret-path"));

        // Finished deliveries are forgotten after a while (the hourly pruning), pending ones kept.
        let pruned = one.block_on(one.store.prune_deliveries(i64::MAX)).unwrap();
        assert_eq!(pruned, 5, "failed twice, needs action, wave, digest");
        assert!(
            one.block_on(one.store.deliveries(None, 50))
                .unwrap()
                .is_empty()
        );

        // Deleted: audited, and nothing more is sent. (Signed in again: the clock moved past
        // the first session's end.)
        let id = made.target.clone();
        let (cookie, csrf) = one.sign_in();
        let (status, _) = one.post_as(
            &format!("/webhooks/{id}/delete"),
            &cookie,
            &format!("csrf={csrf}"),
        );
        assert_eq!(status, 303);
        assert!(one.block_on(one.store.webhooks()).unwrap().is_empty());
        let before = receiver.received().len();
        one.send(&report("pc-fail-3", Outcome::Failed, at, None));
        std::thread::sleep(Duration::from_millis(800));
        let after = receiver.received();
        assert_eq!(after.len(), before, "{:?}", &after[before..]);
        let audit = one.block_on(one.store.audit(None, 50)).unwrap();
        assert!(
            audit
                .iter()
                .any(|e| e.action == "webhook-deleted" && e.target == id)
        );
    }
}
