//! What a security review found, each held by a test: slow and idle clients are dropped and the
//! connection limit keeps the server answering (real sockets on 127.0.0.1, bounded in time).
#![cfg(feature = "server")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support;

use ado_cutover::server::Limits;
use support::server::{TestServer, client};

/// A server with small limits, so a test sees them act within seconds.
fn strict_server() -> TestServer {
    let (url, dir) = support::server::fresh_database(false);
    let limits = Limits {
        connections: 8,
        header_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(2),
        ..Limits::default()
    };
    TestServer::start_on(&url, dir, "127.0.0.1:0", limits)
}

fn address(server: &TestServer) -> String {
    server.base.trim_start_matches("http://").to_string()
}

/// Reads until the server closes the connection (or `limit` passes); returns what came.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(String::from_utf8_lossy(&got).into_owned()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(String::from_utf8_lossy(&got).into_owned());
            }
            Err(_) => return None,
        }
    }
}

#[test]
fn idle_and_half_sent_connections_are_dropped_and_the_limit_keeps_others_served() {
    let server = strict_server();
    let address = address(&server);
    // Many more connections than the limit: some idle, some with half a request head.
    let mut held: Vec<TcpStream> = (0..40)
        .map(|i| {
            let mut stream = TcpStream::connect(&address).unwrap();
            if i % 2 == 0 {
                stream
                    .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                    .unwrap();
            }
            stream
        })
        .collect();
    // The server drops them after the header timeout and serves a new client meanwhile.
    let started = Instant::now();
    let answer = client()
        .get(format!("{}/healthz", server.base))
        .call()
        .expect("the server answers while idle clients hold connections");
    assert_eq!(answer.status().as_u16(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "answered only after {:?}",
        started.elapsed()
    );
    // Every held connection was closed by the server, not left open.
    for stream in held.iter_mut().take(8) {
        assert!(
            read_until_closed(stream, Duration::from_secs(15)).is_some(),
            "an idle connection stayed open"
        );
    }
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let server = strict_server();
    let mut stream = TcpStream::connect(address(&server)).unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // The answer comes, then, with nothing more sent, the server closes the connection.
    let got = read_until_closed(&mut stream, Duration::from_secs(10))
        .expect("the server closes an idle keep-alive connection");
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
}

#[test]
fn a_request_whose_body_never_arrives_ends_with_503() {
    let server = strict_server();
    let mut stream = TcpStream::connect(address(&server)).unwrap();
    stream
        .write_all(
            b"POST /api/v1/reports HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer test-enrollment-token-0123456789\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"schema",
        )
        .unwrap();
    let got = read_until_closed(&mut stream, Duration::from_secs(15)).unwrap_or_default();
    assert!(got.starts_with("HTTP/1.1 503"), "{got}");
    assert!(got.contains("the request took longer than"), "{got}");
}

#[test]
fn a_client_that_half_closes_after_its_request_still_gets_the_answer() {
    // Some clients (and proxies) shut their sending side once the request is out and then wait
    // for the answer. The report is stored either way; the answer must come too, or the client
    // sends it again for nothing.
    let server = strict_server();
    let report = support::server::sample_report(
        "pc-half",
        "user",
        ado_cutover::report::Outcome::Done,
        time::OffsetDateTime::now_utc(),
        "done",
    );
    let body = serde_json::to_vec(&report).unwrap();
    let mut stream = TcpStream::connect(address(&server)).unwrap();
    let head = format!(
        "POST /api/v1/reports HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        support::server::ENROLLMENT,
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let answer = read_until_closed(&mut stream, Duration::from_secs(10)).expect("an answer");
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    assert!(answer.contains("\"device_key\""), "{answer}");
    assert_eq!(server.reports(), 1);
}

fn metrics(server: &TestServer, token: Option<&str>) -> (u16, String) {
    let mut request = client().get(format!("{}/metrics", server.base));
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let mut answer = request.call().unwrap();
    let status = answer.status().as_u16();
    (status, answer.body_mut().read_to_string().unwrap())
}

fn post(server: &TestServer, host: &str) {
    let report = support::server::sample_report(
        host,
        "user",
        ado_cutover::report::Outcome::Done,
        time::OffsetDateTime::now_utc(),
        "done",
    );
    assert_eq!(server.send(&report).0, 202);
}

#[test]
fn metrics_come_from_a_short_cache_and_can_require_a_token() {
    let server = TestServer::start(false);
    post(&server, "pc-1");
    let (status, first) = metrics(&server, None);
    assert_eq!(status, 200);
    assert!(
        first.contains("ado_cutover_devices{outcome=\"done\"} 1"),
        "{first}"
    );
    assert!(first.contains("ado_cutover_database_up 1"), "{first}");
    // A second device right away: the scrape is answered from the cache (one query for any
    // number of scrapes), so it still counts one.
    post(&server, "pc-2");
    let (_, second) = metrics(&server, None);
    assert!(
        second.contains("ado_cutover_devices{outcome=\"done\"} 1"),
        "{second}"
    );

    let (url, dir) = support::server::fresh_database(false);
    let guarded = TestServer::start_configured(&url, dir, "127.0.0.1:0", Limits::default(), |s| {
        s.metrics_need_token = true
    });
    assert_eq!(metrics(&guarded, None).0, 401);
    // An enrollment token is known but may not read: 403.
    assert_eq!(metrics(&guarded, Some(support::server::ENROLLMENT)).0, 403);
    assert_eq!(metrics(&guarded, Some("not-a-token")).0, 401);
    assert_eq!(metrics(&guarded, Some(support::server::ADMIN)).0, 200);
}

#[test]
fn every_report_field_and_count_is_bounded() {
    let server = TestServer::start(false);
    let base = || {
        support::server::sample_report(
            "pc",
            "ana",
            ado_cutover::report::Outcome::Done,
            time::OffsetDateTime::now_utc(),
            "done",
        )
    };
    let post_json = |report: &ado_cutover::report::Report| {
        let mut answer = client()
            .post(format!("{}/api/v1/reports", server.base))
            .header(
                "Authorization",
                &format!("Bearer {}", support::server::ENROLLMENT),
            )
            .header("Content-Type", "application/json")
            .send(&serde_json::to_vec(report).unwrap()[..])
            .unwrap();
        let status = answer.status().as_u16();
        (status, answer.body_mut().read_to_string().unwrap())
    };
    let long = "x".repeat(300);
    type Spoil<'a> = Box<dyn Fn(&mut ado_cutover::report::Report) + 'a>;
    let cases: Vec<(&str, Spoil<'_>)> = vec![
        (
            "agent_version",
            Box::new(|r| r.agent_version = "9".repeat(65)),
        ),
        ("device.os", Box::new(|r| r.device.os = "l".repeat(65))),
        (
            "device.os_version",
            Box::new(|r| r.device.os_version = long.clone()),
        ),
        ("device.arch", Box::new(|r| r.device.arch = "a".repeat(33))),
        ("user.upn", Box::new(|r| r.user.upn = Some(long.clone()))),
        (
            "tasks",
            Box::new(|r| {
                let task = r.tasks[0].clone();
                r.tasks = vec![task; 65];
            }),
        ),
    ];
    for (field, spoil) in cases {
        let mut report = base();
        spoil(&mut report);
        let (status, body) = post_json(&report);
        assert_eq!(status, 422, "{field}: {body}");
        assert!(body.contains(field), "{field}: {body}");
    }
    assert_eq!(server.reports(), 0, "nothing over a limit is stored");
    let (status, _) = post_json(&base());
    assert_eq!(status, 202);
}

/// The number of rows `sql` counts in the server's database, on either backend.
fn count(server: &TestServer, sql: &str) -> i64 {
    use sqlx::Row as _;
    // A SQLite path goes percent-encoded in the opaque `sqlite:` form, as the server opens it,
    // so a Windows path (`C:\...`) is not read as a host.
    let url = match server.url.strip_prefix("sqlite://") {
        Some(path) => format!(
            "sqlite:{}?mode=rw",
            percent_encoding::utf8_percent_encode(path, percent_encoding::NON_ALPHANUMERIC)
        ),
        None => server.url.clone(),
    };
    let sql = sql.to_string();
    server.block_on(async move {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        let n: i64 = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_one(&pool)
            .await
            .unwrap()
            .get(0);
        pool.close().await;
        n
    })
}

#[test]
fn a_forged_date_cannot_pin_a_device_and_empty_task_counts_go() {
    use ado_cutover::report::Outcome;
    use ado_cutover::server::outcome::FleetOutcome;
    for postgres in support::server::backends() {
        let server = TestServer::start(postgres);
        let now = time::OffsetDateTime::now_utc();
        *server.now.lock().unwrap() = now;
        let send = |outcome, finished| {
            let report = support::server::sample_report("pc", "ana", outcome, finished, "x");
            assert_eq!(server.send(&report).0, 202);
        };
        // "Done" dated 9999: it counts as finished when it arrived (give or take 5 minutes).
        send(Outcome::Done, time::macros::datetime!(9999-12-31 23:59 UTC));
        // An hour later the device really fails: that is its state now.
        *server.now.lock().unwrap() = now + time::Duration::hours(1);
        send(Outcome::Failed, now + time::Duration::hours(1));
        let device = server
            .block_on(server.store.device("id-pc", "ana"))
            .unwrap()
            .unwrap();
        assert_eq!(
            device.device.outcome,
            FleetOutcome::Failed,
            "backend {postgres}"
        );
        // The "done" count of the task went to zero with the failed report: the row went too.
        assert_eq!(
            count(
                &server,
                "SELECT COUNT(*) FROM task_counts WHERE devices <= 0"
            ),
            0,
            "backend {postgres}"
        );
        assert_eq!(
            count(&server, "SELECT COUNT(*) FROM task_counts"),
            1,
            "backend {postgres}"
        );
    }
}

#[test]
fn lists_come_in_pages_and_the_csv_export_streams_every_row() {
    use ado_cutover::server::store::PAGE_MAX;
    let server = TestServer::start(false);
    let now = time::OffsetDateTime::now_utc();
    let devices = PAGE_MAX as usize + 5;
    for i in 0..devices {
        let report = support::server::sample_report(
            &format!("pc-{i:04}"),
            "ana",
            ado_cutover::report::Outcome::Done,
            now - time::Duration::seconds(i as i64),
            "x",
        );
        let body = serde_json::to_string(&report).unwrap();
        server
            .block_on(server.store.insert(&report, &body, now))
            .unwrap();
    }
    let admin = format!("Bearer {}", support::server::ADMIN);
    let page = |query: &str| {
        let mut answer = client()
            .get(format!("{}/api/v1/devices{query}", server.base))
            .header("Authorization", &admin)
            .call()
            .unwrap();
        let next = answer
            .headers()
            .get("x-next-offset")
            .map(|v| v.to_str().unwrap().to_string());
        let rows: serde_json::Value =
            serde_json::from_str(&answer.body_mut().read_to_string().unwrap()).unwrap();
        (rows.as_array().unwrap().len(), next)
    };
    assert_eq!(page(""), (PAGE_MAX as usize, Some(PAGE_MAX.to_string())));
    assert_eq!(page("?limit=2"), (2, Some("2".into())));
    assert_eq!(page(&format!("?offset={PAGE_MAX}")), (5, None));
    assert_eq!(
        page("?limit=100000").0,
        PAGE_MAX as usize,
        "a page is never larger"
    );

    // The CSV export has every device once, across pages.
    let (cookie, _) = server.sign_in();
    let csv = client()
        .get(format!("{}/devices.csv", server.base))
        .header("Cookie", &cookie)
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("hostname,"), "{}", lines[0]);
    let hosts: std::collections::BTreeSet<&str> = lines[1..]
        .iter()
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(lines.len() - 1, devices, "one line per device");
    assert_eq!(hosts.len(), devices, "no device twice");
}

#[test]
fn api_errors_are_json_even_for_unknown_addresses_and_bad_queries() {
    let server = TestServer::start(false);
    let admin = format!("Bearer {}", support::server::ADMIN);
    for path in ["/api/v1/nothing-here", "/api/v1/devices?limit=many"] {
        let mut answer = client()
            .get(format!("{}{path}", server.base))
            .header("Authorization", &admin)
            .call()
            .unwrap();
        let status = answer.status().as_u16();
        assert!(matches!(status, 400 | 404), "{path}: {status}");
        assert!(
            answer.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{path}"
        );
        let body: serde_json::Value =
            serde_json::from_str(&answer.body_mut().read_to_string().unwrap()).unwrap();
        assert!(
            body["error"].is_string() && body["hint"].is_string(),
            "{path}: {body}"
        );
    }
    // Elsewhere an unknown address is a page.
    let mut page = client()
        .get(format!("{}/no-such-page", server.base))
        .call()
        .unwrap();
    assert_eq!(page.status().as_u16(), 404);
    assert!(
        page.body_mut()
            .read_to_string()
            .unwrap()
            .contains("There is no such page")
    );
}

fn overview_status(server: &TestServer, cookie: &str) -> u16 {
    client()
        .get(format!("{}/", server.base))
        .header("Cookie", cookie)
        .call()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn signing_out_everywhere_ends_every_session_and_expired_ones_are_forgotten() {
    let server = TestServer::start(false);
    let (laptop, csrf) = server.sign_in();
    let (desktop, _) = server.sign_in();
    assert_eq!(overview_status(&server, &desktop), 200);
    let out = client()
        .post(format!("{}/logout-everywhere", server.base))
        .header("Cookie", &laptop)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(format!("csrf={csrf}"))
        .unwrap();
    assert_eq!(out.status().as_u16(), 303);
    assert_eq!(overview_status(&server, &desktop), 303, "to the sign-in");
    assert_eq!(overview_status(&server, &laptop), 303);

    // Sessions past their 12 hours are forgotten, not kept in the database.
    server.sign_in();
    let later = time::OffsetDateTime::now_utc() + time::Duration::hours(13);
    assert_eq!(
        server.block_on(server.store.prune_sessions(later)).unwrap(),
        1
    );
}

#[test]
fn behind_a_tls_proxy_the_cookie_is_secure_and_hsts_is_sent() {
    let (url, dir) = support::server::fresh_database(false);
    let server =
        TestServer::start_configured(&url, dir, "127.0.0.1:0", Limits::default(), |state| {
            // What `--public-url https://...` sets.
            state.https = true;
            state.secure_cookies = true;
        });
    let login = client()
        .post(format!("{}/login", server.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(format!("token={}", support::server::ADMIN))
        .unwrap();
    assert_eq!(
        login.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    let cookie = login.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    let plain = TestServer::start(false);
    let health = client()
        .get(format!("{}/healthz", plain.base))
        .call()
        .unwrap();
    assert!(
        health.headers().get("strict-transport-security").is_none(),
        "not without HTTPS"
    );
}

#[test]
fn a_public_url_that_is_not_http_is_refused_before_anything_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ado-cutover-server"))
        .current_dir(dir.path())
        .args([
            "--listen",
            "127.0.0.1:0",
            "--public-url",
            "cutover.example.com",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is not an http:// or https:// address"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: "), "{stderr}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no database, no token file"
    );
}

#[test]
fn a_large_expected_users_list_goes_in_and_one_over_the_limit_gets_a_page() {
    for postgres in support::server::backends() {
        let (url, dir) = support::server::fresh_database(postgres);
        let limits = Limits {
            upload_bytes: 8 * 1024 * 1024,
            ..Limits::default()
        };
        let server = TestServer::start_on(&url, dir, "127.0.0.1:0", limits);
        let (cookie, csrf) = server.sign_in();
        let upload = |list: &str| {
            let body = format!(
                "csrf={csrf}&upns={}",
                url::form_urlencoded::byte_serialize(list.as_bytes()).collect::<String>()
            );
            let mut answer = client()
                .post(format!("{}/expected-users", server.base))
                .header("Cookie", &cookie)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .send(body)
                .unwrap();
            let status = answer.status().as_u16();
            (status, answer.body_mut().read_to_string().unwrap())
        };
        let users = 125_000;
        let list: String = (0..users)
            .map(|i| format!("user{i}@contoso.com\n"))
            .collect();
        let (status, page) = upload(&list);
        assert_eq!(status, 303, "backend {postgres}: {page}");
        let summary = server
            .block_on(server.store.summary(time::OffsetDateTime::now_utc(), 1))
            .unwrap();
        assert_eq!(summary.expected, users, "backend {postgres}");
        assert_eq!(summary.not_reported_count, users, "backend {postgres}");

        // Over the limit: the dashboard's own page says what to do, nothing is replaced. Just
        // over it: the server stops reading at the limit and closes after its answer, so a
        // client still writing a whole MiB more could meet a closed connection (broken pipe)
        // before it reads the page; 64 KiB more fits in the connection's buffers.
        let huge = "x".repeat(8 * 1024 * 1024 + 64 * 1024);
        let (status, page) = upload(&huge);
        assert_eq!(status, 413, "backend {postgres}");
        assert!(
            page.contains("larger than this server takes (8 MiB)"),
            "{page}"
        );
        assert!(page.contains("<html"), "a page, not plain text");
        let summary = server
            .block_on(server.store.summary(time::OffsetDateTime::now_utc(), 1))
            .unwrap();
        assert_eq!(summary.expected, users, "backend {postgres}");
    }
}

#[test]
fn a_device_signs_its_reports_after_the_first_and_others_cannot_speak_for_it() {
    use ado_cutover::report::Outcome;
    for postgres in support::server::backends() {
        let server = TestServer::start(postgres);
        let now = time::OffsetDateTime::now_utc();
        let report = |outcome, detail: &str| {
            support::server::sample_report("pc", "ana", outcome, now, detail)
        };
        let unsigned = |r: &ado_cutover::report::Report| {
            let mut answer = client()
                .post(format!("{}/api/v1/reports", server.base))
                .header(
                    "Authorization",
                    &format!("Bearer {}", support::server::ENROLLMENT),
                )
                .header("Content-Type", "application/json")
                .send(&serde_json::to_vec(r).unwrap()[..])
                .unwrap();
            let status = answer.status().as_u16();
            let body: serde_json::Value =
                serde_json::from_str(&answer.body_mut().read_to_string().unwrap()).unwrap();
            (status, body)
        };
        // The first report enrolls the device: it gets a key.
        let first = report(Outcome::ActionNeeded, "first");
        let (status, answer) = server.send(&first);
        assert_eq!(status, 202, "backend {postgres}: {answer}");
        let key = answer["device_key"].as_str().expect("a key").to_string();
        assert_eq!(key.len(), 64);
        // Someone else with the enrollment token claims the device: refused, and shown.
        let forged = report(Outcome::Done, "forged");
        let (status, answer) = unsigned(&forged);
        assert_eq!(status, 403, "backend {postgres}");
        assert!(
            answer["error"]
                .as_str()
                .unwrap()
                .contains("this device signs its reports, and it is not signed"),
            "{answer}"
        );
        let refused = server.block_on(server.store.refused(10)).unwrap();
        assert_eq!(refused.len(), 1, "backend {postgres}");
        assert_eq!(refused[0].hostname, "pc");
        // The device itself, signing: taken, and no new key.
        let (status, answer) = server.send(&report(Outcome::Failed, "real"));
        assert_eq!(status, 202, "backend {postgres}");
        assert!(answer.get("device_key").is_none(), "{answer}");
        // The enrolling report sent again (its answer was lost): the same key goes back.
        let (status, answer) = unsigned(&first);
        assert_eq!(status, 200, "backend {postgres}");
        assert_eq!(answer["device_key"], key.as_str());
        assert_eq!(server.reports(), 2, "backend {postgres}");
        let device = server
            .block_on(server.store.device("id-pc", "ana"))
            .unwrap()
            .unwrap();
        assert_eq!(
            device.device.outcome,
            ado_cutover::server::outcome::FleetOutcome::Failed,
            "the forged done never counted"
        );
        // After a reinstall an admin forgets the key: the next report enrolls it again.
        assert!(
            server
                .block_on(server.store.forget_device_key("id-pc", "ana"))
                .unwrap()
        );
        let (status, answer) = unsigned(&report(Outcome::Done, "reinstalled"));
        assert_eq!(status, 202, "backend {postgres}");
        assert_ne!(answer["device_key"].as_str().unwrap(), key);
    }
}

#[test]
fn an_admin_forgets_a_device_key_from_its_page() {
    let server = TestServer::start(false);
    let report = support::server::sample_report(
        "pc",
        "ana",
        ado_cutover::report::Outcome::Done,
        time::OffsetDateTime::now_utc(),
        "x",
    );
    assert_eq!(server.send(&report).0, 202);
    let (cookie, csrf) = server.sign_in();
    let page = client()
        .get(format!("{}/devices/id-pc/ana", server.base))
        .header("Cookie", &cookie)
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(
        page.contains("signed with the key this device was given"),
        "{page}"
    );
    let wrong = client()
        .post(format!("{}/devices/id-pc/ana/forget-key", server.base))
        .header("Cookie", &cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send("csrf=not-the-token")
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 403, "CSRF-checked");
    let forgot = client()
        .post(format!("{}/devices/id-pc/ana/forget-key", server.base))
        .header("Cookie", &cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(format!("csrf={csrf}"))
        .unwrap();
    assert_eq!(forgot.status().as_u16(), 303);
    assert_eq!(
        server
            .block_on(server.store.device_key("id-pc", "ana"))
            .unwrap(),
        None
    );
}
