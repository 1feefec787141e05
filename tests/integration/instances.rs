//! Several `ado-cutover-server` processes on one PostgreSQL (#23), as behind a load balancer:
//! both take reports, a report sent to both at once is stored once, the counts agree on both,
//! a dashboard session made on one works on the other, and the hourly pruning of old reports
//! runs on one instance only. PostgreSQL only (CI sets `TEST_DATABASE_URL`): one SQLite file
//! takes one instance. Not in the Windows build: there is no PostgreSQL under Wine.
#![cfg(all(feature = "server", not(windows)))]

use std::process::{Child, Command};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use ado_cutover::report::{Outcome, Report};
use time::OffsetDateTime;

use crate::support::server::{
    DeviceKeys, backends, client, fresh_database, post_report_as_agent, runtime, sample_report,
    spawn_server,
};

/// One server process and what it logged.
struct Instance {
    child: Child,
    base: String,
    log: Arc<Mutex<String>>,
}

impl Instance {
    /// Starts a server on `url`; waits until it serves.
    fn start(url: &str, tokens: &std::path::Path) -> Instance {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ado-cutover-server"));
        command
            .args(["--listen", "127.0.0.1:0", "--database-url", url])
            .arg("--token-file")
            .arg(tokens);
        let (child, lines, printed, base) = spawn_server(command);
        let log = Arc::new(Mutex::new(printed));
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let mut log = kept.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Instance { child, base, log }
    }

    /// Waits until the log holds one of `lines`; which.
    fn wait_for(&self, lines: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log = self.log.lock().unwrap().clone();
            if let Some(line) = log
                .lines()
                .find(|l| lines.iter().any(|wanted| l.contains(wanted)))
            {
                return line.to_string();
            }
            assert!(Instant::now() < deadline, "none of {lines:?} in:\n{log}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Posts `report` as its agent would (signed with the key its device got from either
    /// instance).
    fn post(&self, token: &str, report: &Report, keys: &DeviceKeys) -> (u16, serde_json::Value) {
        post_report_as_agent(&self.base, token, report, keys)
    }

    fn get(&self, path: &str, header: (&str, &str)) -> (u16, String) {
        let mut answer = client()
            .get(format!("{}{path}", self.base))
            .header(header.0, header.1)
            .call()
            .unwrap();
        let status = answer.status().as_u16();
        (
            status,
            answer.body_mut().read_to_string().unwrap_or_default(),
        )
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A token of `kind` from a token file.
fn token(file: &std::path::Path, kind: &str) -> String {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{kind}=")))
        .unwrap_or_else(|| panic!("no {kind} token"))
        .trim()
        .to_string()
}

/// Runs `sql` with `parameter` on the database: the first column of its first row.
fn query(url: &str, sql: &'static str, parameter: &str) -> Option<i64> {
    runtime().block_on(async {
        use sqlx::Row;
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(url).await.unwrap();
        let row = sqlx::query(sql)
            .bind(parameter)
            .fetch_optional(&pool)
            .await
            .unwrap();
        row.map(|row| row.get::<i64, _>(0))
    })
}

#[test]
fn two_instances_on_one_postgresql_share_reports_sessions_and_pruning() {
    // Several instances need PostgreSQL; without it there is nothing to run here.
    if !backends().contains(&true) {
        return;
    }
    let (url, _) = fresh_database(true);
    let dir = tempfile::tempdir().unwrap();
    let now = OffsetDateTime::now_utc();

    // First, one instance alone: from 10 devices a report a year and more ago, then a newer
    // one (a device's latest report is never pruned).
    let keys = DeviceKeys::default();
    let tokens = dir.path().join("tokens.txt");
    let (enrollment, admin) = {
        let first = Instance::start(&url, &tokens);
        let (enrollment, admin) = (token(&tokens, "enrollment"), token(&tokens, "admin"));
        // Its hourly pruning runs first (on nothing yet), not amid the reports.
        first.wait_for(&["pruned 0 old reports"]);
        for device in 0..10 {
            let host = format!("pc-old-{device}");
            for at in [now - time::Duration::days(400), now] {
                let report = sample_report(&host, "ann", Outcome::Done, at, "deleted");
                assert_eq!(first.post(&enrollment, &report, &keys).0, 202);
            }
        }
        (enrollment, admin)
    };

    // The first instance held this hour's pruning; it is gone: as if its lease ran out.
    query(
        &url,
        "UPDATE leases SET until = 0 WHERE job = $1 RETURNING until",
        "prune",
    )
    .expect("the first instance took the pruning lease");

    // Two instances start together; each tries the hourly pruning at once.
    let a = Instance::start(&url, &dir.path().join("tokens-a.txt"));
    let b = Instance::start(&url, &dir.path().join("tokens-b.txt"));
    let outcomes = [
        a.wait_for(&["pruned", "another instance prunes"]),
        b.wait_for(&["pruned", "another instance prunes"]),
    ];
    let pruned: Vec<&String> = outcomes.iter().filter(|l| l.contains("pruned")).collect();
    assert_eq!(pruned.len(), 1, "exactly one instance prunes: {outcomes:?}");
    assert!(
        pruned[0].contains("pruned 10 old reports"),
        "the year-old reports went: {outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .any(|l| l.contains("another instance prunes")),
        "{outcomes:?}"
    );

    // The same report sent to both at the same moment is stored once.
    let report = sample_report("pc-both", "bea", Outcome::Done, now, "deleted");
    let barrier = Arc::new(Barrier::new(2));
    let answers: Vec<(u16, serde_json::Value)> = std::thread::scope(|scope| {
        let sent: Vec<_> = [&a, &b]
            .into_iter()
            .map(|instance| {
                let (barrier, report, enrollment, keys) =
                    (barrier.clone(), &report, &enrollment, &keys);
                scope.spawn(move || {
                    barrier.wait();
                    instance.post(enrollment, report, keys)
                })
            })
            .collect();
        sent.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let mut statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [200, 202],
        "one stored, one duplicate: {answers:?}"
    );
    let id = report.report_id.to_string();
    let count = "SELECT COUNT(*) FROM reports WHERE report_id = $1";
    assert_eq!(query(&url, count, &id), Some(1));
    let given: Vec<&serde_json::Value> = answers
        .iter()
        .map(|(_, body)| &body["device_key"])
        .filter(|key| !key.is_null())
        .collect();
    assert!(
        given.windows(2).all(|pair| pair[0] == pair[1]),
        "both answers give the one key the device has: {answers:?}"
    );

    // Reports spread over both: every one stored, and both show the same counts.
    for device in 0..10 {
        let instance = if device % 2 == 0 { &a } else { &b };
        let host = format!("pc-new-{device}");
        let report = sample_report(&host, "cem", Outcome::Done, now, "deleted");
        assert_eq!(instance.post(&enrollment, &report, &keys).0, 202);
    }
    let bearer = format!("Bearer {admin}");
    let summary_a = a.get("/api/v1/summary", ("Authorization", &bearer));
    let summary_b = b.get("/api/v1/summary", ("Authorization", &bearer));
    assert_eq!(summary_a.0, 200);
    assert_eq!(
        summary_a, summary_b,
        "both instances read the same database"
    );
    let summary: serde_json::Value = serde_json::from_str(&summary_a.1).unwrap();
    assert_eq!(summary["devices"], 21, "{summary}");

    // A dashboard session made on one instance is good on the other.
    let login = client()
        .post(format!("{}/login", a.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(format!(
            "token={}",
            url::form_urlencoded::byte_serialize(admin.as_bytes()).collect::<String>()
        ))
        .unwrap();
    let cookie = login
        .headers()
        .get("set-cookie")
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_string())
        .expect("a session cookie");
    let (status, page) = b.get("/", ("Cookie", &cookie));
    assert_eq!(status, 200);
    assert!(page.contains("Sign out"), "signed in on the other instance");
    let (_, page) = b.get("/", ("Cookie", "ado_cutover_session=forged"));
    assert!(
        !page.contains("Sign out"),
        "a forged cookie is not a session"
    );
}

/// The fleet counts on PostgreSQL: each writing connection counts in rows of its own, so
/// writers never wait on each other; the rows of connections that closed fold into one row per
/// count, and the counts are the same before and after, and what counting the devices gives.
#[test]
fn the_counts_of_closed_connections_fold_into_one_and_still_add_up() {
    if !backends().contains(&true) {
        return;
    }
    use ado_cutover::server::store::Store;
    let (url, _) = fresh_database(true);
    let now = OffsetDateTime::now_utc();
    let outcomes = [Outcome::Done, Outcome::Failed, Outcome::ActionNeeded];
    // Two servers one after the other (a restart): each stores reports with its own writers.
    for round in 0..2i64 {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let store = Store::open(&url, true).await.unwrap();
            for i in 0..12i64 {
                let at = now - time::Duration::minutes(60 - round * 12 - i);
                let report = sample_report(
                    &format!("pc-{}", i % 8),
                    "user",
                    outcomes[((round + i) % 3) as usize],
                    at,
                    "cause",
                );
                let body = serde_json::to_string(&report).unwrap();
                store
                    .insert_enrolling(&report, &body, now, None, Some("everyone"))
                    .await
                    .unwrap();
            }
        });
        // Dropping the runtime closes every connection the store had.
        drop(runtime);
    }
    let shards = "SELECT COUNT(DISTINCT shard) FROM fleet_counts WHERE shard <> CAST($1 AS BIGINT)";
    assert!(
        query(&url, shards, "0").unwrap() >= 2,
        "two servers' writers"
    );
    let runtime = runtime();
    let store = runtime.block_on(Store::open(&url, false)).unwrap();
    let before = runtime.block_on(store.summary(now, 30)).unwrap();
    // The closed connections' processes end a moment after their sockets close.
    let deadline = Instant::now() + Duration::from_secs(10);
    while query(&url, shards, "0").unwrap() > 0 {
        runtime.block_on(store.fold_counts()).unwrap();
        assert!(
            Instant::now() < deadline,
            "closed connections' counts not folded"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (after, counted) = runtime.block_on(async {
        let after = store.summary(now, 30).await.unwrap();
        (
            after,
            store.summary_in(now, 30, Some("everyone")).await.unwrap(),
        )
    });
    assert_eq!(after.devices, 8);
    assert_eq!(
        (&after.outcomes, &after.verified, &after.orgs),
        (&before.outcomes, &before.verified, &before.orgs)
    );
    assert_eq!(
        (&after.outcomes, &after.verified, &after.orgs),
        (&counted.outcomes, &counted.verified, &counted.orgs)
    );
}
