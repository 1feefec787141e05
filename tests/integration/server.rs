//! `ado-cutover-server`: the store story (SQLite always, PostgreSQL when `TEST_DATABASE_URL` is
//! set), the report API against hostile input, and a property test of the report parser.
#![cfg(feature = "server")]

use crate::support;

use ado_cutover::report::{Item, Outcome, Report, SCHEMA_VERSION, Status};
use ado_cutover::server::outcome::FleetOutcome;
use ado_cutover::server::store::{DeviceFilter, FailureGroup};
use serde_json::{Value, json};
use support::server::{
    ADMIN, ENROLLMENT, TestServer, backends, client, sample_report, spawn_server,
};
use time::OffsetDateTime;

fn report(host: &str, user: &str, outcome: Outcome, at: OffsetDateTime) -> Report {
    let detail = match outcome {
        Outcome::Failed => "could not delete it: access denied",
        Outcome::ActionNeeded => "close Chrome and run again",
        Outcome::Done => "deleted",
        Outcome::NothingToDo => "already fine",
    };
    sample_report(host, user, outcome, at, detail)
}

fn post(server: &TestServer, token: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let response = client()
        .post(format!("{}/api/v1/reports", server.base))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", content_type)
        .send(&body[..])
        .unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn post_report(server: &TestServer, report: &Report) -> u16 {
    server.send(report).0
}

fn get(server: &TestServer, path: &str, token: Option<&str>) -> (u16, String) {
    let mut request = client().get(format!("{}{path}", server.base));
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let response = request.call().unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.into_body().read_to_string().unwrap_or_default(),
    )
}

#[test]
fn store_story_on_every_backend() {
    for postgres in backends() {
        let server = TestServer::start(postgres);
        let now = OffsetDateTime::now_utc();
        let day = time::Duration::days(1);
        *server.now.lock().unwrap() = now;
        let store = &server.store;

        // Three machines: one done, one stuck, one failing; one machine seen long ago.
        let done = report("pc-done", "alice", Outcome::Done, now - day);
        let stuck = report("pc-stuck", "bob", Outcome::ActionNeeded, now - day);
        let failed = report("pc-failed", "carol", Outcome::Failed, now);
        let old = report("pc-old", "dave", Outcome::Done, now - day * 10);
        for r in [&done, &stuck, &failed, &old] {
            assert_eq!(post_report(&server, r), 202, "{postgres}");
        }
        assert_eq!(
            post_report(&server, &done),
            200,
            "a duplicate is stored once"
        );
        // bob fixes it; then his older report arrives late from a spool: the newer one wins.
        let fixed = report("pc-stuck", "bob", Outcome::Done, now);
        assert_eq!(post_report(&server, &fixed), 202);
        let late = report("pc-stuck", "bob", Outcome::ActionNeeded, now - day * 2);
        assert_eq!(post_report(&server, &late), 202);
        assert_eq!(server.reports(), 6);

        let summary = server.block_on(store.summary(now, 30)).unwrap();
        assert_eq!(summary.devices, 4);
        assert_eq!(
            summary.outcomes.get(&FleetOutcome::Done),
            Some(&3),
            "{summary:?}"
        );
        assert_eq!(summary.outcomes.get(&FleetOutcome::Failed), Some(&1));
        assert_eq!(summary.outcomes.get(&FleetOutcome::ActionNeeded), None);
        assert_eq!(summary.stale, 1, "pc-old was last seen 10 days ago");
        assert_eq!(summary.tasks["browser-sign-out"].get("done"), Some(&3));
        assert_eq!(summary.tasks["browser-sign-out"].get("failed"), Some(&1));
        assert_eq!(
            summary.tasks["browser-sign-out"].get("needs-user"),
            None,
            "bob's needs-user no longer counts once his newer report is done"
        );
        assert_eq!(
            summary.failures,
            [FailureGroup {
                task: "browser-sign-out".to_string(),
                detail: "could not delete it: access denied".to_string(),
                devices: 1
            }]
        );
        // On the wire a failure group stays the `[task, detail, devices]` triple.
        assert_eq!(
            serde_json::to_value(&summary).unwrap()["failures"],
            serde_json::json!([["browser-sign-out", "could not delete it: access denied", 1]])
        );
        let total: i64 = summary.days.values().flat_map(|d| d.values()).sum();
        assert_eq!(total, 6, "every report finished in the last 30 days");

        let bob = server
            .block_on(store.device("id-pc-stuck", "bob"))
            .unwrap()
            .unwrap();
        assert_eq!(bob.device.outcome, FleetOutcome::Done);
        assert_eq!(bob.device.reports, 3);
        assert_eq!(bob.reports.len(), 3, "every report is kept");
        assert_eq!(
            bob.latest.unwrap().report_id,
            fixed.report_id,
            "the latest in full"
        );

        let search = |q: &str, outcome: &str| {
            let filter = DeviceFilter {
                q: Some(q.into()),
                outcome: Some(outcome.into()),
                ..DeviceFilter::default()
            };
            let rows = server.block_on(store.devices(&filter, now, 100)).unwrap();
            rows.into_iter().map(|r| r.hostname).collect::<Vec<_>>()
        };
        assert_eq!(search("CAROL", ""), ["pc-failed"]);
        assert_eq!(search("", "stale"), ["pc-old"]);
        assert_eq!(search("pc-", "failed"), ["pc-failed"]);
        assert_eq!(
            search("100%_", ""),
            Vec::<String>::new(),
            "LIKE wildcards are literal"
        );

        // Readiness: erin is expected and never reported. The others are matched by user
        // principal name (alice), by e-mail address (carol's UPN changed) and by account name
        // (dave, from DOMAIN\user); a row naming nobody is said, not dropped silently.
        let upload = ado_cutover::server::expected::parse(
            "userPrincipalName,mail,SamAccountName\n\
             alice@contoso.com,,\n\
             Erin@Contoso.com,,\n\
             carol.new@contoso.com,carol@contoso.com,\n\
             ,,CONTOSO\\dave\n\
             ,,\n",
        );
        assert_eq!(upload.unreadable.len(), 1, "{upload:?}");
        assert_eq!(upload.unreadable[0].0, 6);
        server
            .block_on(store.set_expected_users(&upload.users))
            .unwrap();
        let summary = server.block_on(store.summary(now, 30)).unwrap();
        assert_eq!(summary.expected, 4);
        assert_eq!(summary.not_reported, ["erin@contoso.com"]);
        assert_eq!(summary.not_reported_count, 1);

        // Past the list's 200 names the count is still every one of them.
        let many: String = (0..300)
            .map(|i| format!("user{i:03}@contoso.com\n"))
            .chain(["alice@contoso.com\n".to_string()])
            .collect();
        let upload = ado_cutover::server::expected::parse(&many);
        server
            .block_on(store.set_expected_users(&upload.users))
            .unwrap();
        let summary = server.block_on(store.summary(now, 30)).unwrap();
        assert_eq!(summary.expected, 301);
        assert_eq!(summary.not_reported.len(), 200);
        assert_eq!(summary.not_reported_count, 300, "alice reported");
        let (_, overview) = get(&server, "/", Some(ADMIN));
        assert!(
            overview.contains("1 of 301 expected users have reported."),
            "the overview counts every expected user"
        );

        // Retention: old reports go, each device's latest stays.
        let pruned = server
            .block_on(store.prune(now - time::Duration::hours(36)))
            .unwrap();
        assert_eq!(pruned, 1, "bob's late report (2 days old) goes");
        let dave = server
            .block_on(store.device("id-pc-old", "dave"))
            .unwrap()
            .unwrap();
        assert!(
            dave.latest.is_some(),
            "dave's 10-day-old report is his latest and stays"
        );
        assert_eq!(server.reports(), 5);
    }
}

/// The device's state is the cutover's: a run that finds nothing left after a finished one does
/// not turn "done" into "nothing to do" (the overview read "Done 0%"), for the device and for
/// each task; something new to do is shown as it is.
#[test]
fn a_finished_device_stays_done_when_its_next_run_finds_nothing_left() {
    for postgres in backends() {
        let server = TestServer::start(postgres);
        let now = OffsetDateTime::now_utc();
        let hour = time::Duration::hours(1);
        *server.now.lock().unwrap() = now;
        let store = &server.store;
        let runs = [
            report("pc-a", "alice", Outcome::Done, now - hour * 3),
            report("pc-a", "alice", Outcome::NothingToDo, now - hour * 2),
            report("pc-b", "bob", Outcome::NothingToDo, now - hour),
        ];
        for r in &runs {
            assert_eq!(post_report(&server, r), 202, "{postgres}");
        }
        let summary = server.block_on(store.summary(now, 30)).unwrap();
        assert_eq!(
            summary.outcomes.get(&FleetOutcome::Done),
            Some(&1),
            "{summary:?}"
        );
        assert_eq!(
            summary.outcomes.get(&FleetOutcome::NothingToDo),
            Some(&1),
            "bob never had anything to do"
        );
        assert_eq!(summary.tasks["browser-sign-out"].get("done"), Some(&1));
        assert_eq!(summary.tasks["browser-sign-out"].get("ok"), Some(&1));
        let alice = server
            .block_on(store.device("id-pc-a", "alice"))
            .unwrap()
            .unwrap();
        assert_eq!(alice.device.outcome, FleetOutcome::Done);

        // The device page links every older report, each shown in full; a report of another
        // device is not found under this one.
        let (status, page) = get(&server, "/devices/id-pc-a/alice", Some(ADMIN));
        assert_eq!(status, 200);
        for r in &runs[..2] {
            // Links are percent-encoded: a report id's hyphens read %2D.
            let link = format!("/reports/{}", r.report_id.to_string().replace('-', "%2D"));
            assert!(page.contains(&link), "no link to {}", r.report_id);
            let (status, full) = get(
                &server,
                &format!("/devices/id-pc-a/alice/reports/{}", r.report_id),
                Some(ADMIN),
            );
            assert_eq!(status, 200);
            assert!(full.contains(&r.report_id.to_string()), "{full}");
            assert!(full.contains(&r.tasks[0].items[0].detail), "{full}");
        }
        let (status, _) = get(
            &server,
            &format!("/devices/id-pc-a/alice/reports/{}", runs[2].report_id),
            Some(ADMIN),
        );
        assert_eq!(status, 404, "bob's report is not alice's");

        // Something to do again: the device shows it.
        let again = report("pc-a", "alice", Outcome::ActionNeeded, now);
        assert_eq!(post_report(&server, &again), 202);
        let summary = server.block_on(store.summary(now, 30)).unwrap();
        assert_eq!(
            summary.outcomes.get(&FleetOutcome::Done),
            None,
            "{summary:?}"
        );
        assert_eq!(summary.outcomes.get(&FleetOutcome::ActionNeeded), Some(&1));
        assert_eq!(
            summary.tasks["browser-sign-out"].get("needs-user"),
            Some(&1)
        );

        // A run that could not check everything is its own count, never "nothing to do".
        let mut unchecked = report("pc-c", "carol", Outcome::NothingToDo, now);
        unchecked.tasks[0].status = Status::Skipped;
        unchecked.tasks[0].items[0].status = Status::Skipped;
        unchecked.tasks[0].items[0].detail = "not checked: offline".into();
        assert_eq!(post_report(&server, &unchecked), 202);
        let summary = server.block_on(store.summary(now, 30)).unwrap();
        assert_eq!(
            summary.outcomes.get(&FleetOutcome::NotChecked),
            Some(&1),
            "{summary:?}"
        );
        assert_eq!(summary.tasks["browser-sign-out"].get("skipped"), Some(&1));
        let (status, overview) = get(&server, "/", Some(ADMIN));
        assert_eq!(status, 200);
        assert!(
            overview.contains("id=\"outcome-not-checked\">1<"),
            "its own count on the overview"
        );
    }
}

/// The token file's line works as it is on the sign-in form (`admin=<token>`), as the agent
/// takes its `enrollment=` line; the enrollment line does not sign anyone in.
#[test]
fn the_dashboard_sign_in_takes_the_token_file_line_as_it_is() {
    let server = TestServer::start(false);
    let sign_in = |token: &str| {
        let body = format!(
            "token={}",
            percent_encoding::utf8_percent_encode(token, percent_encoding::NON_ALPHANUMERIC)
        );
        let response = client()
            .post(format!("{}/login", server.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(body.as_bytes())
            .unwrap();
        (
            response.status().as_u16(),
            response.headers().contains_key("set-cookie"),
        )
    };
    assert_eq!(sign_in(&format!("admin={ADMIN}\n")), (303, true));
    assert_eq!(sign_in(ADMIN), (303, true));
    assert_eq!(sign_in(&format!("enrollment={ENROLLMENT}")), (401, false));
}

/// A host or user name with characters that reorder or hide text is shown with them made
/// visible, so "pc\u{202E}1-gnp" cannot pass for another machine on the device list.
#[test]
fn names_that_reorder_or_hide_text_are_shown_visibly() {
    let server = TestServer::start(false);
    let now = OffsetDateTime::now_utc();
    let r = report("pc\u{202E}1-gnp", "ali\u{200B}ce", Outcome::Done, now);
    assert_eq!(post_report(&server, &r), 202);
    let (status, list) = get(&server, "/devices", Some(ADMIN));
    assert_eq!(status, 200);
    assert!(list.contains("pc⟨U+202E⟩1-gnp"), "{list}");
    assert!(!list.contains('\u{202E}') && !list.contains('\u{200B}'));
}

#[test]
fn hostile_input_gets_the_right_4xx_stores_nothing_and_the_server_keeps_serving() {
    let server = TestServer::start(false);
    let now = OffsetDateTime::now_utc();
    let good = serde_json::to_vec(&report("pc", "alice", Outcome::Done, now)).unwrap();
    let mut future: Value = serde_json::from_slice(&good).unwrap();
    future["schema_version"] = json!(SCHEMA_VERSION + 1);
    let mut wrong_type: Value = serde_json::from_slice(&good).unwrap();
    wrong_type["tasks"] = json!("not a list");
    let mut missing: Value = serde_json::from_slice(&good).unwrap();
    missing.as_object_mut().unwrap().remove("device");
    let mut empty_host: Value = serde_json::from_slice(&good).unwrap();
    empty_host["device"]["hostname"] = json!("  ");
    let oversize = {
        let mut r = report("pc", "alice", Outcome::Done, now);
        r.tasks[0].items = (0..3000)
            .map(|i| Item {
                kind: "x".into(),
                target: format!("{i}"),
                status: Status::Ok,
                detail: "y".repeat(400),
            })
            .collect();
        serde_json::to_vec(&r).unwrap()
    };
    let json = "application/json";
    let cases: Vec<(&str, &str, &str, Vec<u8>, u16)> = vec![
        ("no such token", "wrong-token", json, good.clone(), 401),
        ("empty token", "", json, good.clone(), 401),
        // The admin token reads; it cannot write the fleet's state.
        ("the admin token", ADMIN, json, good.clone(), 403),
        (
            "not JSON by type",
            ENROLLMENT,
            "text/plain",
            good.clone(),
            415,
        ),
        (
            "malformed",
            ENROLLMENT,
            json,
            b"{\"schema_version\": 1,".to_vec(),
            400,
        ),
        (
            "not an object",
            ENROLLMENT,
            json,
            b"[1, 2, 3]".to_vec(),
            422,
        ),
        (
            "future schema",
            ENROLLMENT,
            json,
            serde_json::to_vec(&future).unwrap(),
            422,
        ),
        (
            "wrong types",
            ENROLLMENT,
            json,
            serde_json::to_vec(&wrong_type).unwrap(),
            422,
        ),
        (
            "missing field",
            ENROLLMENT,
            json,
            serde_json::to_vec(&missing).unwrap(),
            422,
        ),
        (
            "empty host name",
            ENROLLMENT,
            json,
            serde_json::to_vec(&empty_host).unwrap(),
            422,
        ),
        ("oversize", ENROLLMENT, json, oversize, 413),
    ];
    for (what, token, content_type, body, want) in cases {
        let (status, answer) = post(&server, token, content_type, body);
        assert_eq!(status, want, "{what}: {answer}");
        assert!(
            answer["error"].is_string() && answer["hint"].is_string(),
            "{what}: {answer}"
        );
        assert_eq!(server.reports(), 0, "{what} stored something");
    }
    let (status, answer) = post(
        &server,
        ENROLLMENT,
        json,
        b"{\"schema_version\": 2}".to_vec(),
    );
    assert_eq!(status, 422);
    assert!(
        answer["hint"]
            .as_str()
            .unwrap()
            .contains("upgrade ado-cutover-server")
    );

    // An agent's token cannot read; nobody reads without a token.
    assert_eq!(get(&server, "/api/v1/devices", Some(ENROLLMENT)).0, 403);
    assert_eq!(get(&server, "/api/v1/summary", None).0, 401);
    assert_eq!(get(&server, "/api/v1/summary", Some("wrong")).0, 401);
    assert_eq!(
        get(&server, "/", None).0,
        303,
        "the dashboard sends strangers to the login form"
    );

    // Still serving, and a good report is accepted.
    assert_eq!(get(&server, "/healthz", None), (200, "ok\n".to_string()));
    assert_eq!(post(&server, ENROLLMENT, json, good.clone()).0, 202);
    assert_eq!(post(&server, ENROLLMENT, json, good).0, 200);
    let (status, devices) = get(&server, "/api/v1/devices", Some(ADMIN));
    assert_eq!(status, 200);
    let devices: Value = serde_json::from_str(&devices).unwrap();
    assert_eq!(devices.as_array().unwrap().len(), 1);
    let (_, metrics) = get(&server, "/metrics", None);
    assert!(
        metrics.contains("ado_cutover_reports_total{result=\"accepted\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("ado_cutover_reports_total{result=\"duplicate\"} 1"));
    assert!(metrics.contains("ado_cutover_reports_total{result=\"rejected\"} 12"));
    assert!(metrics.contains("ado_cutover_devices{outcome=\"done\"} 1"));
    let (status, openapi) = get(&server, "/api/v1/openapi.json", None);
    assert_eq!(status, 200);
    let openapi: Value = serde_json::from_str(&openapi).unwrap();
    assert!(openapi["paths"]["/api/v1/reports"]["post"].is_object());
}

#[test]
fn security_headers_on_every_answer() {
    let server = TestServer::start(false);
    for path in ["/login", "/healthz", "/api/v1/summary", "/static/app.css"] {
        let response = client()
            .get(format!("{}{path}", server.base))
            .call()
            .unwrap();
        let headers = response.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
            "{path}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
    }
}

#[test]
fn rate_limits_per_token_answer_429_with_retry_after() {
    let (url, dir) = support::server::fresh_database(false);
    let limits = ado_cutover::server::Limits {
        reports_per_minute: 2,
        ..Default::default()
    };
    let server = TestServer::start_on(&url, dir, "127.0.0.1:0", limits);
    let now = OffsetDateTime::now_utc();
    for _ in 0..2 {
        assert_eq!(
            post_report(&server, &report("pc", "a", Outcome::Done, now)),
            202
        );
    }
    let response = client()
        .post(format!("{}/api/v1/reports", server.base))
        .header("Authorization", &format!("Bearer {ENROLLMENT}"))
        .header("Content-Type", "application/json")
        .send(&serde_json::to_vec(&report("pc", "a", Outcome::Done, now)).unwrap()[..])
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait));
    assert_eq!(server.reports(), 2);
}

/// Property: whatever bytes arrive, the parser answers Ok or a 400/422 with words, never panics,
/// and accepts only what is a valid report.
#[test]
fn the_report_parser_survives_random_mutations() {
    use ado_cutover::server::api::parse;
    let now = OffsetDateTime::now_utc();
    let good = serde_json::to_vec(&report("pc", "alice", Outcome::Failed, now)).unwrap();
    assert!(parse(&good).is_ok());
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    for case in 0..5000 {
        let mut bytes = good.clone();
        for _ in 0..=next(4) {
            match next(4) {
                0 => {
                    let i = next(bytes.len());
                    bytes[i] = next(256) as u8;
                }
                1 => {
                    let i = next(bytes.len());
                    bytes.truncate(i);
                }
                2 => {
                    let i = next(bytes.len());
                    let pool = b"{}[]\",:0-e\\\x00\xff";
                    bytes.insert(i, pool[next(pool.len())]);
                }
                _ => {
                    let i = next(bytes.len());
                    let j = next(bytes.len());
                    bytes.swap(i, j);
                }
            }
            if bytes.is_empty() {
                break;
            }
        }
        match parse(&bytes) {
            Ok(report) => assert_eq!(report.schema_version, SCHEMA_VERSION, "case {case}"),
            Err(err) => {
                assert!(
                    matches!(err.status.as_u16(), 400 | 422),
                    "case {case}: {}",
                    err.status
                );
                assert!(
                    !err.message.is_empty() && !err.hint.is_empty(),
                    "case {case}"
                );
                assert!(
                    err.log.is_none(),
                    "a client's mistake is not logged as an error"
                );
            }
        }
    }
}

/// The server binary with no database option: SQLite in the current folder, tokens generated
/// and written (owner-only), the addresses printed.
#[test]
fn first_start_makes_a_database_and_tokens_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ado-cutover-server"));
    command
        .args(["--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_remove("ADO_CUTOVER_SERVER_DATABASE_URL");
    let (mut child, _lines, printed, dashboard) = spawn_server(command);
    // Absolute paths: the person sees where a first start from this folder wrote its files.
    let folder = dir.path().canonicalize().unwrap();
    let written = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("tokens:    written to "))
        .expect("where the tokens went");
    assert!(
        std::path::Path::new(written.trim_end_matches(" (keep it private)"))
            .canonicalize()
            .unwrap()
            .starts_with(&folder),
        "{printed}"
    );
    let database = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("database:  sqlite://"))
        .expect("where the database is");
    assert!(
        std::path::Path::new(database)
            .canonicalize()
            .unwrap()
            .starts_with(&folder),
        "{printed}"
    );
    let tokens = std::fs::read_to_string(dir.path().join("ado-cutover-server-tokens.txt")).unwrap();
    let admin = tokens
        .lines()
        .find_map(|l| l.strip_prefix("admin="))
        .expect("an admin token");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |name: &str| {
            std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("ado-cutover-server-tokens.txt"), 0o600);
        // The database too, whatever the umask (the test runs under the usual 022).
        assert_eq!(mode("ado-cutover-server.db"), 0o600);
    }
    assert!(dir.path().join("ado-cutover-server.db").exists());
    let summary = client()
        .get(format!("{dashboard}/api/v1/summary"))
        .header("Authorization", &format!("Bearer {admin}"))
        .call()
        .unwrap();
    assert_eq!(summary.status().as_u16(), 200);
    let _ = child.kill();
    let _ = child.wait();
    // The database holds no token, only hashes.
    let db = std::fs::read(dir.path().join("ado-cutover-server.db")).unwrap();
    assert!(!String::from_utf8_lossy(&db).contains(admin));
}

#[test]
fn a_mistyped_or_unreachable_database_is_a_clear_error_never_a_new_database() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("typo.db");
    let cases = [
        (format!("sqlite://{}", missing.display()), "does not exist"),
        (
            "postgres://nobody:secret-pw@127.0.0.1:9/none".to_string(),
            "cannot open the database",
        ),
        ("mysql://x@y/z".to_string(), "is not a database URL"),
    ];
    for (url, expected) in cases {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ado-cutover-server"))
            .args(["--listen", "127.0.0.1:0", "--database-url", &url])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{url}: {stderr}");
        assert!(
            stderr.contains(expected) && stderr.contains("hint:"),
            "{url}: {stderr}"
        );
        assert!(!stderr.contains("secret-pw"), "the password is never shown");
    }
    assert!(!missing.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing was created"
    );
}

/// Organizations on every backend: a device waiting for its organization's switch is its own
/// count ("waiting", never done), a verified device counts as verified working, a later report
/// that does not verify keeps the last verification, an organization the device no longer
/// reports is dropped, and the device list filters by verification.
#[test]
fn switch_and_verification_per_organization_on_every_backend() {
    use ado_cutover::report::{Organization, Switch};
    let org = |name: &str, switch, verified| Organization {
        name: name.into(),
        switch,
        verified,
    };
    for postgres in backends() {
        let server = TestServer::start(postgres);
        let now = OffsetDateTime::now_utc();
        *server.now.lock().unwrap() = now;
        let store = &server.store;
        let second = time::Duration::seconds(1);

        let mut waiting = report("pc-w", "wes", Outcome::NothingToDo, now);
        waiting.organizations = vec![org("contoso", Switch::Waiting, None)];
        assert_eq!(post_report(&server, &waiting), 202);
        let mut verified = report("pc-v", "val", Outcome::Done, now);
        verified.organizations = vec![
            org("contoso", Switch::Switched, Some(Status::Ok)),
            org("fabrikam", Switch::Switched, Some(Status::Ok)),
        ];
        assert_eq!(post_report(&server, &verified), 202);
        let mut failing = report("pc-f", "fay", Outcome::Failed, now);
        failing.organizations = vec![org("contoso", Switch::Switched, Some(Status::Failed))];
        // The report's first problem is another task's; the list of failing verifications
        // shows the verification's own.
        failing.tasks.push(ado_cutover::report::TaskReport {
            id: "verify".into(),
            status: Status::Failed,
            summary: "1 failed".into(),
            items: vec![Item {
                kind: "verify-git-https".into(),
                target: "~/src/web (origin)".into(),
                status: Status::Failed,
                detail: "Azure DevOps denied access to this repository".into(),
            }],
        });
        assert_eq!(post_report(&server, &failing), 202);

        let summary = server.block_on(store.summary(now, 30)).unwrap();
        assert_eq!(summary.outcomes.get(&FleetOutcome::Waiting), Some(&1));
        assert_eq!(summary.outcomes.get(&FleetOutcome::NothingToDo), None);
        assert_eq!(summary.verified.get("ok"), Some(&1));
        assert_eq!(summary.verified.get("failed"), Some(&1));
        let contoso = summary.orgs.iter().find(|o| o.org == "contoso").unwrap();
        assert_eq!(
            (
                contoso.waiting,
                contoso.switched,
                contoso.verified,
                contoso.not_verified
            ),
            (1, 2, 1, 1),
            "{summary:?}"
        );

        // A later run of val's that verifies nothing keeps the verification, and fabrikam,
        // which it no longer names, goes.
        let mut later = report("pc-v", "val", Outcome::NothingToDo, now + second);
        later.organizations = vec![org("contoso", Switch::Switched, None)];
        assert_eq!(post_report(&server, &later), 202);
        let summary = server.block_on(store.summary(now, 30)).unwrap();
        assert_eq!(summary.verified.get("ok"), Some(&1), "{summary:?}");
        assert!(
            summary.orgs.iter().all(|o| o.org != "fabrikam"),
            "{summary:?}"
        );

        // An older agent's report (no `organizations` field) is taken and leaves them as they
        // were.
        let old = report("pc-w", "wes", Outcome::NothingToDo, now + second);
        assert!(
            !serde_json::to_string(&old)
                .unwrap()
                .contains("organizations")
        );
        assert_eq!(post_report(&server, &old), 202);
        let summary = server.block_on(store.summary(now, 30)).unwrap();
        let contoso = summary.orgs.iter().find(|o| o.org == "contoso").unwrap();
        assert_eq!(contoso.waiting, 1, "{summary:?}");

        let list = |outcome: &str| {
            let filter = DeviceFilter {
                outcome: Some(outcome.into()),
                ..DeviceFilter::default()
            };
            let rows = server.block_on(store.devices(&filter, now, 100)).unwrap();
            rows.into_iter().map(|r| r.hostname).collect::<Vec<_>>()
        };
        assert_eq!(list("verified"), ["pc-v"]);
        assert_eq!(list("not-verified"), ["pc-f"]);
        let filter = DeviceFilter {
            outcome: Some("not-verified".into()),
            ..DeviceFilter::default()
        };
        let rows = server.block_on(store.devices(&filter, now, 100)).unwrap();
        assert_eq!(
            rows[0].reason.as_deref(),
            Some("verify: Azure DevOps denied access to this repository")
        );
        let (status, overview) = get(&server, "/", Some(ADMIN));
        assert_eq!(status, 200);
        assert!(
            overview.contains("id=\"verified-working\">1<"),
            "{overview}"
        );
        assert!(
            overview.contains("id=\"verified-failing\">1<"),
            "{overview}"
        );
    }
}
