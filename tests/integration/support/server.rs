//! A real `ado-cutover-server` for tests, in this process on 127.0.0.1 (port 0 unless a test
//! needs a fixed one), on a fresh database: a SQLite file in a temporary folder, or a new
//! PostgreSQL database when `TEST_DATABASE_URL` names a server (CI sets it).

use std::sync::{Arc, Mutex};

use ado_cutover::report::{
    Device, Item, Mode, Outcome, Report, SCHEMA_VERSION, Status, TaskReport, User,
};
use ado_cutover::server::{Limits, State, Store};
use time::OffsetDateTime;

pub(crate) const ENROLLMENT: &str = "test-enrollment-token-0123456789";
pub(crate) const ADMIN: &str = "test-admin-token-0123456789";

/// A fresh, empty database: (URL, the folder that holds it when it is SQLite).
pub(crate) fn fresh_database(postgres: bool) -> (String, Option<tempfile::TempDir>) {
    if postgres {
        let admin = std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL");
        let name = format!("adoc_{}", uuid::Uuid::new_v4().simple());
        runtime().block_on(async {
            use sqlx::Executor;
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&admin)
                .await
                .expect("TEST_DATABASE_URL");
            pool.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .await
                .expect("create the test database");
        });
        let mut url = url::Url::parse(&admin).unwrap();
        url.set_path(&name);
        (url.to_string(), None)
    } else {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("server.db").display());
        (url, Some(dir))
    }
}

/// The backends to test: SQLite always, PostgreSQL when `TEST_DATABASE_URL` is set.
pub(crate) fn backends() -> Vec<bool> {
    let mut all = vec![false];
    if std::env::var_os("TEST_DATABASE_URL").is_some() {
        all.push(true);
    }
    all
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A running server.
pub(crate) struct TestServer {
    pub base: String,
    pub url: String,
    pub store: Store,
    /// What the server thinks "now" is; tests move it.
    pub now: Arc<Mutex<OffsetDateTime>>,
    runtime: Option<tokio::runtime::Runtime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: Option<tempfile::TempDir>,
    /// The keys the server gave devices, by device and user, as their agents keep them.
    device_keys: DeviceKeys,
}

impl TestServer {
    /// A server on a fresh database.
    pub(crate) fn start(postgres: bool) -> TestServer {
        let (url, dir) = fresh_database(postgres);
        TestServer::start_on(&url, dir, "127.0.0.1:0", Limits::default())
    }

    /// A server on `url`, listening on `listen`.
    pub(crate) fn start_on(
        url: &str,
        dir: Option<tempfile::TempDir>,
        listen: &str,
        limits: Limits,
    ) -> TestServer {
        TestServer::start_configured(url, dir, listen, limits, |_| {})
    }

    /// A server on `url`, listening on `listen`, its state adjusted by `configure` first.
    pub(crate) fn start_configured(
        url: &str,
        dir: Option<tempfile::TempDir>,
        listen: &str,
        limits: Limits,
        configure: impl FnOnce(&mut State),
    ) -> TestServer {
        TestServer::start_with(url, dir, listen, limits, |state, _| configure(state))
    }

    /// [`TestServer::start_configured`], where `configure` also learns the server's address.
    pub(crate) fn start_with(
        url: &str,
        dir: Option<tempfile::TempDir>,
        listen: &str,
        limits: Limits,
        configure: impl FnOnce(&mut State, &str),
    ) -> TestServer {
        let runtime = runtime();
        let now = Arc::new(Mutex::new(OffsetDateTime::now_utc()));
        let clock_now = now.clone();
        let (store, listener) = runtime.block_on(async {
            let store = Store::open(url, true).await.expect("open the store");
            seed_tokens(&store).await;
            let listener = tokio::net::TcpListener::bind(listen).await.expect("bind");
            (store, listener)
        });
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut state = State::new(
            store.clone(),
            Arc::new(move || *clock_now.lock().unwrap()),
            limits,
        );
        state.secure_cookies = false;
        configure(&mut state, &base);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        runtime.spawn(async move {
            let _ = ado_cutover::server::serve(state, listener, None, async {
                let _ = stopped.await;
            })
            .await;
        });
        TestServer {
            base,
            url: url.to_string(),
            store,
            now,
            runtime: Some(runtime),
            stop: Some(stop),
            _dir: dir,
            device_keys: Mutex::default(),
        }
    }

    /// Posts `report` as its agent would: with the enrollment token, signed with the key the
    /// server gave its device (kept from earlier answers). Returns the status and the answer.
    pub(crate) fn send(&self, report: &Report) -> (u16, serde_json::Value) {
        post_report_as_agent(&self.base, ENROLLMENT, report, &self.device_keys)
    }

    /// Sends the sign-in form with `form_value` as the token: the status and the session
    /// cookie (`name=value`) it set, if any.
    pub(crate) fn login(&self, form_value: &str) -> (u16, Option<String>) {
        let encoded: String = url::form_urlencoded::byte_serialize(form_value.as_bytes()).collect();
        let login = client()
            .post(format!("{}/login", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(format!("token={encoded}"))
            .unwrap();
        let cookie = login
            .headers()
            .get("set-cookie")
            .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_string());
        (login.status().as_u16(), cookie)
    }

    /// Signs in with the admin token; returns the session cookie and the page's CSRF token.
    pub(crate) fn sign_in(&self) -> (String, String) {
        let cookie = self.login(ADMIN).1.expect("a session cookie");
        let (_, page) = self.get_as("/", &cookie);
        let csrf = page
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string();
        (cookie, csrf)
    }

    /// GETs `path` with the session `cookie`: the status and the body.
    pub(crate) fn get_as(&self, path: &str, cookie: &str) -> (u16, String) {
        let mut answer = client()
            .get(format!("{}{path}", self.base))
            .header("Cookie", cookie)
            .call()
            .unwrap();
        let status = answer.status().as_u16();
        (
            status,
            answer.body_mut().read_to_string().unwrap_or_default(),
        )
    }

    /// POSTs the form `body` to `path` with the session `cookie`: the status and the body.
    pub(crate) fn post_as(&self, path: &str, cookie: &str, body: &str) -> (u16, String) {
        let mut answer = client()
            .post(format!("{}{path}", self.base))
            .header("Cookie", cookie)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(body)
            .unwrap();
        let status = answer.status().as_u16();
        (
            status,
            answer.body_mut().read_to_string().unwrap_or_default(),
        )
    }

    /// What the server thinks "now" is.
    pub(crate) fn now(&self) -> OffsetDateTime {
        *self.now.lock().unwrap()
    }

    /// Runs a store call on the server's runtime.
    pub(crate) fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.as_ref().unwrap().block_on(f)
    }

    pub(crate) fn reports(&self) -> i64 {
        self.block_on(self.store.report_count()).unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        // A PostgreSQL test database goes with its server.
        if let (Ok(admin), Ok(url)) = (
            std::env::var("TEST_DATABASE_URL"),
            url::Url::parse(&self.url),
        ) {
            let name = url.path().trim_start_matches('/').to_string();
            if url.scheme().starts_with("postgres") && name.starts_with("adoc_") {
                runtime().block_on(async {
                    use sqlx::Executor;
                    if let Ok(pool) = sqlx::AnyPool::connect(&admin).await {
                        let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        let _ = pool.execute(sqlx::AssertSqlSafe(drop)).await;
                    }
                });
            }
        }
    }
}

/// The tests' enrollment and admin tokens, as a first start would record them (once per
/// database: a second server on the same database finds them).
pub(crate) async fn seed_tokens(store: &Store) {
    use ado_cutover::server::auth::hash_hex;
    use ado_cutover::server::store::NewToken;
    for (id, kind, token) in [
        ("enroll000001", "enrollment", ENROLLMENT),
        ("admin0000001", "admin", ADMIN),
    ] {
        if store
            .token_by_hash(&hash_hex(token))
            .await
            .unwrap()
            .is_none()
        {
            let new = NewToken {
                id,
                sha256: &hash_hex(token),
                kind,
                label: None,
                expires_at: None,
                created_by: "first start",
            };
            store
                .add_token(&new, OffsetDateTime::now_utc())
                .await
                .unwrap();
        }
    }
}

/// An HTTP client for tests that reads every answer (errors too).
pub(crate) fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

/// A report from `host` for `user` with one task whose one item has `detail` and a status that
/// fits `outcome`.
pub(crate) fn sample_report(
    host: &str,
    user: &str,
    outcome: Outcome,
    at: OffsetDateTime,
    detail: &str,
) -> Report {
    let status = match outcome {
        Outcome::Failed => Status::Failed,
        Outcome::ActionNeeded => Status::NeedsUser,
        Outcome::Done => Status::Done,
        Outcome::NothingToDo => Status::Ok,
    };
    Report {
        schema_version: SCHEMA_VERSION,
        report_id: uuid::Uuid::new_v4(),
        agent_version: "0.1.0".into(),
        mode: Mode::Run,
        started_at: at,
        finished_at: at,
        device: Device {
            hostname: host.into(),
            os: "windows".into(),
            os_version: "11".into(),
            arch: "x86_64".into(),
            device_id: format!("id-{host}"),
        },
        user: User {
            name: user.into(),
            upn: Some(format!("{user}@contoso.com")),
            upn_source: None,
        },
        outcome,
        organizations: Vec::new(),
        group: None,
        inventory: None,
        inventory_left_out: 0,
        tasks: vec![TaskReport {
            id: "browser-sign-out".into(),
            status,
            summary: "one line".into(),
            items: vec![Item {
                kind: "cookies".into(),
                target: "Chrome".into(),
                status,
                detail: detail.into(),
            }],
        }],
    }
}

/// The keys servers gave devices: (device, user) to key, as each agent keeps its own.
pub(crate) type DeviceKeys = Mutex<std::collections::HashMap<(String, String), String>>;

/// Posts `report` to the server at `base` as its agent would: with `token`, signed with the key
/// its device got before (from `keys`), keeping the key an answer gives. The status and the
/// answer.
pub(crate) fn post_report_as_agent(
    base: &str,
    token: &str,
    report: &Report,
    keys: &DeviceKeys,
) -> (u16, serde_json::Value) {
    use ado_cutover::report::signature;
    let body = serde_json::to_vec(report).unwrap();
    let who = (report.device.device_id.clone(), report.user.name.clone());
    let mut request = client()
        .post(format!("{base}/api/v1/reports"))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/json");
    if let Some(key) = keys.lock().unwrap().get(&who) {
        request = request.header(signature::HEADER, &signature::sign(key, &body));
    }
    let mut answer = request.send(&body[..]).unwrap();
    let status = answer.status().as_u16();
    let text = answer.body_mut().read_to_string().unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    if let Some(key) = json["device_key"].as_str() {
        keys.lock().unwrap().insert(who, key.to_string());
    }
    (status, json)
}

/// Starts the `ado-cutover-server` binary as `command` says (stderr is taken here) and reads
/// its start-up lines up to the one about tokens: the process, the rest of its stderr, what it
/// printed, and the dashboard's address (without the final `/`).
pub(crate) fn spawn_server(
    mut command: std::process::Command,
) -> (
    std::process::Child,
    std::io::Lines<std::io::BufReader<std::process::ChildStderr>>,
    String,
    String,
) {
    use std::io::BufRead;
    let mut child = command
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut printed = String::new();
    while !printed.contains("tokens:") {
        printed.push_str(&lines.next().expect("the server stopped").unwrap());
        printed.push('\n');
    }
    let dashboard = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("dashboard: "))
        .expect("the dashboard address")
        .trim_end_matches('/')
        .to_string();
    (child, lines, printed, dashboard)
}
