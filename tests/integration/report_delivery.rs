//! End to end: the real agent binary in a sandboxed home reports to a real server on
//! 127.0.0.1. With the server down, reports wait in the spool; once it is up, `report --send`
//! delivers them, each stored once.
#![cfg(feature = "server")]

use crate::support;

use ado_cutover::server::Limits;
use support::server::{ENROLLMENT, TestServer, fresh_database};
use support::{Sandbox, text};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn configure(sandbox: &Sandbox, port: u16, token: &str) -> std::path::PathBuf {
    let token_file = sandbox.paths.managed_dir.join("enrollment-token");
    sandbox.write(
        &token_file,
        format!("# enrollment token\nenrollment={token}\n").as_bytes(),
    );
    sandbox.write_managed_config(&format!(
        "organizations = [\"contoso\"]\n[report]\nendpoint = \"http://127.0.0.1:{port}\"\nenrollment_token_file = {:?}\n",
        token_file.display().to_string()
    ));
    sandbox.paths.data_dir.join("spool")
}

fn spooled(spool: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(spool)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn reports_wait_while_the_server_is_down_and_arrive_once_when_it_is_up() {
    let sandbox = Sandbox::new();
    let port = free_port();
    let spool = configure(&sandbox, port, ENROLLMENT);

    for _ in 0..3 {
        let run = sandbox
            .cmd()
            .args(["run", "--yes", "--silent", "--skip", "verify"])
            .output()
            .unwrap();
        assert_eq!(
            run.status.code(),
            Some(0),
            "delivery never fails a run: {}",
            text(&run.stderr)
        );
        assert!(
            text(&run.stderr).contains("the report was not sent"),
            "{}",
            text(&run.stderr)
        );
    }
    let waiting = spooled(&spool);
    assert_eq!(waiting.len(), 3);
    let first = std::fs::read(&waiting[0]).unwrap();

    let (url, dir) = fresh_database(false);
    let server = TestServer::start_on(&url, dir, &format!("127.0.0.1:{port}"), Limits::default());
    let send = sandbox.cmd().args(["report", "--send"]).output().unwrap();
    assert_eq!(send.status.code(), Some(0), "{}", text(&send.stderr));
    assert!(
        text(&send.stderr).contains("sent 3 reports"),
        "{}",
        text(&send.stderr)
    );
    assert_eq!(server.reports(), 3);
    assert!(spooled(&spool).is_empty());

    let again = sandbox.cmd().args(["report", "--send"]).output().unwrap();
    assert!(text(&again.stderr).contains("sent 0 reports; none waiting"));
    // The same report delivered twice is stored once.
    let duplicate = support::server::client()
        .post(format!("{}/api/v1/reports", server.base))
        .header("Authorization", &format!("Bearer {ENROLLMENT}"))
        .header("Content-Type", "application/json")
        .send(&first[..])
        .unwrap();
    assert_eq!(duplicate.status().as_u16(), 200);
    assert_eq!(server.reports(), 3);

    // With the server up, a run delivers its own report at once.
    let run = sandbox
        .cmd()
        .args(["run", "--yes", "--silent", "--skip", "verify"])
        .output()
        .unwrap();
    assert!(
        !text(&run.stderr).contains("not sent"),
        "{}",
        text(&run.stderr)
    );
    assert_eq!(server.reports(), 4);
    // The log says what happened to each run's report: queued while the server was down, sent
    // once it was up.
    let log = std::fs::read_to_string(sandbox.paths.log_dir.join("ado-cutover.log")).unwrap();
    assert!(
        log.contains("report delivery: 0 sent, 1 queued; stopped: "),
        "{log}"
    );
    assert!(log.contains("report delivery: 1 sent, 0 queued"), "{log}");
    // Plans are kept to the machine unless the admin asks for them.
    sandbox.cmd().args(["plan"]).output().unwrap();
    assert_eq!(server.reports(), 4);
    for out in [&send, &again, &run] {
        assert!(!text(&out.stdout).contains(ENROLLMENT) && !text(&out.stderr).contains(ENROLLMENT));
    }
    sandbox.assert_not_in_agent_files(ENROLLMENT);
}

#[test]
fn a_refused_token_stops_delivery_with_a_hint_and_keeps_the_reports() {
    let sandbox = Sandbox::new();
    let server = TestServer::start(false);
    let port: u16 = server.base.rsplit(':').next().unwrap().parse().unwrap();
    let spool = configure(&sandbox, port, "not-the-token");
    let run = sandbox
        .cmd()
        .args(["run", "--yes", "--silent", "--skip", "verify"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0));
    assert!(
        text(&run.stderr).contains("refused the enrollment token (401)"),
        "{}",
        text(&run.stderr)
    );
    let send = sandbox.cmd().args(["report", "--send"]).output().unwrap();
    assert_eq!(send.status.code(), Some(1));
    assert!(text(&send.stderr).contains("hint: check report.enrollment_token_file"));
    assert_eq!(spooled(&spool).len(), 1, "kept for when the token is fixed");
    assert_eq!(server.reports(), 0);
    assert!(!text(&send.stderr).contains("not-the-token"));
}

#[test]
fn a_report_the_server_refuses_for_good_is_set_aside_and_never_blocks_the_rest() {
    let sandbox = Sandbox::new();
    let (url, dir) = fresh_database(false);
    let limits = Limits {
        body_bytes: 64 * 1024,
        ..Limits::default()
    };
    let server = TestServer::start_on(&url, dir, "127.0.0.1:0", limits);
    let port: u16 = server.base.rsplit(':').next().unwrap().parse().unwrap();
    let spool = configure(&sandbox, port, ENROLLMENT);
    // Two reports a minute old, which sort before the run's: one from a newer schema (422),
    // one larger than this server takes (413).
    let minute_ago = time::OffsetDateTime::now_utc().unix_timestamp() * 1000 - 60_000;
    let newer = format!("{minute_ago:020}-newer");
    let large = format!("{:020}-large", minute_ago + 1);
    sandbox.write(
        &spool.join(format!("{newer}.json")),
        br#"{"schema_version": 99}"#,
    );
    sandbox.write(
        &spool.join(format!("{large}.json")),
        format!("{{\"pad\": \"{}\"}}", "x".repeat(100 * 1024)).as_bytes(),
    );
    let run = sandbox
        .cmd()
        .args(["run", "--yes", "--silent", "--skip", "verify"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    let stderr = text(&run.stderr);
    assert!(
        stderr.contains(&format!("a report was set aside, not sent: {newer}.json: the report server refused this report (422: report schema 99 is newer")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{large}.json: the report server refused this report (413"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("the report was not sent"), "{stderr}");
    assert_eq!(server.reports(), 1, "the run's own report went through");
    assert!(spooled(&spool).is_empty());
    let refused = spool.join("refused");
    assert!(refused.join(format!("{newer}.json")).is_file());
    let why = std::fs::read_to_string(refused.join(format!("{newer}.why.txt"))).unwrap();
    assert!(why.contains("422"), "{why}");
    let log = std::fs::read_to_string(sandbox.paths.log_dir.join("ado-cutover.log")).unwrap();
    assert!(
        log.contains(&format!("report set aside: {large}.json")),
        "{log}"
    );
    // Set aside for good: the next delivery does not try them again.
    let again = sandbox.cmd().args(["report", "--send"]).output().unwrap();
    assert!(
        text(&again.stderr).contains("sent 0 reports; none waiting"),
        "{}",
        text(&again.stderr)
    );
}

/// The agent keeps the key its first report earned (private to the user), signs every later
/// report with it, and a report signed with another key is refused with a hint and waits.
#[test]
fn the_agent_keeps_its_device_key_and_signs_later_reports() {
    let sandbox = Sandbox::new();
    let server = TestServer::start(false);
    let port: u16 = server.base.rsplit(':').next().unwrap().parse().unwrap();
    let spool = configure(&sandbox, port, ENROLLMENT);
    let run = || {
        sandbox
            .cmd()
            .args(["run", "--yes", "--silent", "--skip", "verify"])
            .output()
            .unwrap()
    };
    assert_eq!(run().status.code(), Some(0));
    let key_file = sandbox.paths.data_dir.join("device-key");
    let key = std::fs::read_to_string(&key_file).expect("the key is kept");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let second = run();
    assert!(
        !text(&second.stderr).contains("not sent"),
        "{}",
        text(&second.stderr)
    );
    assert_eq!(server.reports(), 2, "the second report, signed, was taken");
    sandbox.assert_not_in_agent_files_except(&key, &key_file);

    // A key that is not the one the server gave: refused, said, and the report waits.
    std::fs::write(&key_file, "0".repeat(64)).unwrap();
    let third = run();
    assert_eq!(third.status.code(), Some(0), "delivery never fails a run");
    let stderr = text(&third.stderr);
    assert!(
        stderr.contains("refused this device's report (this device signs its reports, and it is signed with another key)"),
        "{stderr}"
    );
    assert!(stderr.contains("forget this device's key"), "{stderr}");
    assert_eq!(server.reports(), 2);
    assert_eq!(spooled(&spool).len(), 1);
}

#[test]
fn the_managed_group_travels_with_the_report_and_groups_the_device() {
    let sandbox = Sandbox::new();
    let server = TestServer::start(false);
    let port: u16 = server.base.rsplit(':').next().unwrap().parse().unwrap();
    configure(&sandbox, port, ENROLLMENT);
    let token_file = sandbox.paths.managed_dir.join("enrollment-token");
    sandbox.write_managed_config(&format!(
        "organizations = [\"contoso\"]\n[report]\nendpoint = \"http://127.0.0.1:{port}\"\nenrollment_token_file = {:?}\ngroup = \"wave 2\"\n",
        token_file.display().to_string()
    ));
    let run = sandbox
        .cmd()
        .args(["run", "--yes", "--silent", "--skip", "verify"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert_eq!(server.reports(), 1);
    let groups = server.block_on(server.store.groups()).unwrap();
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0].group.as_deref(), Some("wave 2"));
    assert_eq!(groups[0].devices, 1);
}
