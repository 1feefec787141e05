//! The admin console (#18) against a real OpenID Connect provider (panva's certified
//! `oidc-provider`, two tenants' issuers): people sign in with their work account and get the
//! role their app role or group gives; another tenant's account, a replayed state, a wrong
//! nonce, a sign-in finished in another browser and an expired token are refused; the provider's
//! key rotation is followed; viewers are refused every admin form by the server. Tokens are
//! made, used and revoked across two server instances on one database, from the dashboard and
//! the command line. Every action leaves exactly one audit entry, and none holds a secret.
#![cfg(all(feature = "server", target_os = "linux"))] // Node.js and Debian's Chromium

use std::sync::Arc;

use ado_cutover::server::Limits;
use ado_cutover::server::oidc::{Credential, Entra, Provider};
use ado_cutover::server::store::AuditEntry;
use serde_json::json;

use crate::support;
use support::oidc::{ADMIN_GROUP, CLIENT_ID, CLIENT_SECRET, CONTOSO, OidcProvider, Walker};
use support::server::{ADMIN, TestServer, client, fresh_database};

/// A server whose Entra sign-in goes to `tenant`'s issuer, admitting contoso's people.
fn console(tenant: &str) -> (TestServer, OidcProvider) {
    let (url, dir) = fresh_database(false);
    console_on(&url, dir, tenant)
}

fn console_on(
    url: &str,
    dir: Option<tempfile::TempDir>,
    tenant: &str,
) -> (TestServer, OidcProvider) {
    let mut provider = None;
    let server =
        TestServer::start_with(url, dir, "127.0.0.1:0", Limits::default(), |state, base| {
            let redirect_uri = format!("{base}/login/entra/callback");
            let started = OidcProvider::start(&redirect_uri);
            state.entra = Some(Arc::new(Entra {
                provider: Provider::new(&started.issuers[tenant]),
                client_id: CLIENT_ID.into(),
                credential: Credential::Secret(CLIENT_SECRET.into()),
                tenant: CONTOSO.into(),
                admin: vec!["Cutover.Admin".into(), ADMIN_GROUP.into()],
                viewer: vec!["Cutover.Viewer".into()],
                redirect_uri,
            }));
            provider = Some(started);
        });
    (server, provider.unwrap())
}

fn audit(server: &TestServer) -> Vec<AuditEntry> {
    let mut entries = server.block_on(server.store.audit(None, 10_000)).unwrap();
    entries.reverse();
    entries
}

fn entries<'a>(all: &'a [AuditEntry], action: &str) -> Vec<&'a AuditEntry> {
    all.iter().filter(|e| e.action == action).collect()
}

/// The CSRF token of a signed-in page.
fn csrf_of(page: &str) -> String {
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a form with a CSRF token")
        .to_string()
}

#[test]
fn people_sign_in_with_entra_and_get_the_role_their_app_role_or_group_gives() {
    let (server, _provider) = console("contoso");
    let base = server.base.clone();

    for (login, role) in [
        ("alice@contoso.com", "admin"),
        ("gina@contoso.com", "admin"),
        ("victor@contoso.com", "viewer"),
    ] {
        let mut browser = Walker::default();
        let back = browser.sign_in(&base, login);
        assert_eq!(back.status, 200, "{login}: {}", back.body);
        assert!(
            back.body.contains("http-equiv=\"refresh\""),
            "{}",
            back.body
        );
        assert!(
            browser.cookie(&base, "ado_cutover_session").is_some(),
            "{login}"
        );
        assert!(
            browser.cookie(&base, "ado_cutover_sign_in").is_none(),
            "used up"
        );
        let overview = browser.request("GET", &format!("{base}/"), None);
        assert_eq!(overview.status, 200, "{login}");
        assert!(
            overview.body.contains(&format!("{login} · {role}")),
            "{login}: {}",
            overview.body
        );
        assert_eq!(
            overview.body.contains("href=\"/tokens\""),
            role == "admin",
            "navigation offers tokens to admins only"
        );
    }

    // A viewer is refused by the server at every admin page and form, not by a hidden button.
    let mut viewer = Walker::default();
    assert_eq!(viewer.sign_in(&base, "victor@contoso.com").status, 200);
    let page = viewer.request("GET", &format!("{base}/devices"), None);
    assert_eq!(page.status, 200, "viewers see everything");
    assert_eq!(
        viewer
            .request("GET", &format!("{base}/devices.csv"), None)
            .status,
        200
    );
    let csrf = csrf_of(&page.body);
    let forms = [
        (
            "/expected-users",
            format!("csrf={csrf}&upns=eve%40contoso.com"),
        ),
        (
            "/tokens",
            format!("csrf={csrf}&kind=admin&label=x&expires=1d"),
        ),
        ("/tokens/admin0000001/revoke", format!("csrf={csrf}")),
        ("/logout-everywhere", format!("csrf={csrf}")),
        ("/devices/id-pc/user/forget-key", format!("csrf={csrf}")),
    ];
    for (path, form) in &forms {
        let answer = viewer.request("POST", &format!("{base}{path}"), Some(form));
        assert_eq!(answer.status, 403, "{path}: {}", answer.body);
        assert!(answer.body.contains("Admins only"), "{path}");
    }
    for path in ["/tokens", "/audit", "/audit.csv"] {
        assert_eq!(
            viewer.request("GET", &format!("{base}{path}"), None).status,
            403,
            "{path}"
        );
    }
    assert_eq!(
        server
            .block_on(server.store.summary(server.now(), 1))
            .unwrap()
            .expected,
        0
    );
    let tokens = server.block_on(server.store.tokens()).unwrap();
    assert_eq!(tokens.len(), 2, "no token was made");
    assert!(
        tokens.iter().all(|t| t.revoked_at.is_none()),
        "none was revoked"
    );

    // Accounts without a role, and of another tenant, are refused.
    for (login, why) in [
        ("nora@contoso.com", "neither the admin nor the viewer role"),
        (
            "mallory@fabrikam.com",
            "belongs to tenant 22222222-2222-4222-8222-222222222222",
        ),
    ] {
        let mut browser = Walker::default();
        let back = browser.sign_in(&base, login);
        assert_eq!(back.status, 403, "{login}");
        assert!(back.body.contains(why), "{login}: {}", back.body);
        assert!(
            browser.cookie(&base, "ado_cutover_session").is_none(),
            "{login}"
        );
    }

    let log = audit(&server);
    let sign_ins: Vec<_> = entries(&log, "sign-in")
        .iter()
        .map(|e| (e.actor.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(
        sign_ins,
        [
            ("alice@contoso.com", "ok"),
            ("gina@contoso.com", "ok"),
            ("victor@contoso.com", "ok"),
            ("victor@contoso.com", "ok"),
            ("nora@contoso.com", "refused"),
            ("mallory@fabrikam.com (unverified)", "refused"),
        ],
        "one entry per sign-in"
    );
    assert!(
        entries(&log, "sign-in")
            .iter()
            .all(|e| e.address == "127.0.0.1")
    );
    let forbidden = entries(&log, "forbidden");
    assert_eq!(
        forbidden.len(),
        forms.len() + 3,
        "one entry per refused admin request"
    );
    assert!(
        forbidden
            .iter()
            .all(|e| e.actor == "victor@contoso.com" && e.outcome == "refused")
    );
}

#[test]
fn a_replayed_state_a_wrong_nonce_another_browser_and_an_expired_token_are_refused() {
    let (server, _provider) = console("contoso");
    let base = server.base.clone();
    let refused = |answer: &support::oidc::Answer, why: &str| {
        assert_eq!(answer.status, 403, "{}", answer.body);
        assert!(
            answer.body.contains(why),
            "expected `{why}`: {}",
            answer.body
        );
    };

    // Replayed: the way back works once.
    let mut browser = Walker::default();
    let callback = browser.sign_in_until_callback(&base, "alice@contoso.com", |u| u);
    assert_eq!(browser.request("GET", &callback, None).status, 200);
    refused(&browser.request("GET", &callback, None), "already used");

    // A nonce other than the one this sign-in stored.
    let mut browser = Walker::default();
    let callback = browser.sign_in_until_callback(&base, "alice@contoso.com", |mut u| {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "nonce" {
                    "nonce-of-another-sign-in".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
        u
    });
    refused(&browser.request("GET", &callback, None), "wrong nonce");

    // Finished in another browser (a sign-in link sent to someone): refused, and used up.
    let mut started = Walker::default();
    let callback = started.sign_in_until_callback(&base, "alice@contoso.com", |u| u);
    refused(
        &Walker::default().request("GET", &callback, None),
        "another browser",
    );
    refused(&started.request("GET", &callback, None), "already used");

    // An ID token that expired: the server's clock is two hours past the provider's.
    *server.now.lock().unwrap() += time::Duration::hours(2);
    let mut browser = Walker::default();
    refused(&browser.sign_in(&base, "alice@contoso.com"), "has expired");
    *server.now.lock().unwrap() -= time::Duration::hours(2);

    let log = audit(&server);
    let outcomes: Vec<_> = entries(&log, "sign-in")
        .iter()
        .map(|e| e.outcome.as_str())
        .collect();
    assert_eq!(
        outcomes,
        ["ok", "refused", "refused", "refused", "refused", "refused"],
        "one entry per attempt: {log:#?}"
    );
    let reasons = [
        "already used",
        "wrong nonce",
        "another browser",
        "already used",
        "has expired",
    ];
    for (entry, why) in entries(&log, "sign-in").iter().skip(1).zip(reasons) {
        assert!(entry.detail.contains(why), "`{why}` in {entry:?}");
    }
    // The expired token was checked, so the log names whose it was (marked unverified).
    assert_eq!(
        entries(&log, "sign-in")[5].actor,
        "alice@contoso.com (unverified)"
    );
}

#[test]
fn the_provider_s_key_rotation_is_followed_and_other_tenants_are_refused() {
    let (server, provider) = console("contoso");
    let base = server.base.clone();
    assert_eq!(
        Walker::default().sign_in(&base, "alice@contoso.com").status,
        200
    );
    provider.rotate("contoso");
    let after = Walker::default().sign_in(&base, "alice@contoso.com");
    assert_eq!(after.status, 200, "signed with the new key: {}", after.body);
    provider.rotate("contoso");
    provider.rotate("contoso");
    let again = Walker::default().sign_in(&base, "gina@contoso.com");
    assert_eq!(again.status, 200, "{}", again.body);

    // A server pointed at fabrikam's issuer still admits only contoso's tenant.
    let (other, _other_provider) = console("fabrikam");
    let back = Walker::default().sign_in(&other.base, "fred@fabrikam.com");
    assert_eq!(back.status, 403, "{}", back.body);
    assert!(
        back.body.contains("not to this organization"),
        "{}",
        back.body
    );
}

#[test]
fn the_sign_in_in_real_chromium_a_viewer_s_admin_form_another_tenant_and_an_expired_token() {
    use support::browser::Browser;
    let (server, _provider) = console("contoso");
    let base = server.base.clone();
    let sign_in = |login: &str| {
        let mut browser = Browser::launch();
        browser.open(&format!("{base}/"));
        browser
            .wait_for("location.pathname === '/login' && document.getElementById('sign-in-entra')");
        browser.eval("document.getElementById('sign-in-entra').click()");
        browser.wait_for("document.querySelector('input[name=login]') !== null");
        browser.eval(&format!(
            "document.querySelector('input[name=login]').value = '{login}'; document.querySelector('input[name=password]').value = 'any'; document.querySelector('form').submit();"
        ));
        browser
    };

    let mut admin = sign_in("alice@contoso.com");
    admin.wait_for("location.pathname === '/' && document.getElementById('signed-in-as')");
    assert_eq!(
        admin.eval("document.getElementById('signed-in-as').textContent"),
        json!("alice@contoso.com · admin")
    );
    let cookie = admin.call("Network.getAllCookies", json!({}));
    let session = cookie["cookies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "ado_cutover_session")
        .expect("the session cookie")
        .clone();
    assert_eq!(session["sameSite"], json!("Strict"));
    assert_eq!(session["httpOnly"], json!(true));

    let mut viewer = sign_in("victor@contoso.com");
    viewer.wait_for("location.pathname === '/' && document.getElementById('signed-in-as')");
    assert_eq!(
        viewer.eval("document.querySelector('a[href=\"/tokens\"]') === null"),
        json!(true)
    );
    // The form an admin would get, sent by the viewer's browser with the viewer's CSRF token.
    viewer.eval(
        "const f = document.createElement('form'); f.method = 'post'; f.action = '/tokens';
         for (const [k, v] of [['csrf', document.querySelector('input[name=csrf]').value], ['kind', 'admin'], ['label', 'x'], ['expires', '1d']]) {
           const i = document.createElement('input'); i.name = k; i.value = v; f.appendChild(i); }
         document.body.appendChild(f); f.submit();",
    );
    viewer.wait_for("location.pathname === '/tokens' && document.readyState === 'complete'");
    assert_eq!(
        viewer.eval("document.querySelector('h1').textContent"),
        json!("Admins only")
    );
    assert_eq!(
        server.block_on(server.store.tokens()).unwrap().len(),
        2,
        "nothing made"
    );

    let refused = |browser: &mut Browser, why: &str| {
        browser.wait_for("document.querySelector('h1') && document.querySelector('h1').textContent === 'Not signed in'");
        let text = browser.eval("document.body.textContent");
        assert!(
            text.as_str().unwrap().contains(why),
            "expected `{why}`: {text}"
        );
    };
    refused(&mut sign_in("mallory@fabrikam.com"), "belongs to tenant");

    // An expired ID token: the server's clock two hours past the provider's.
    *server.now.lock().unwrap() += time::Duration::hours(2);
    refused(&mut sign_in("alice@contoso.com"), "has expired");
    *server.now.lock().unwrap() -= time::Duration::hours(2);
}

/// A key and a self-signed certificate, made by openssl as docs/entra-sign-in.md says.
fn certificate(dir: &std::path::Path, name: &str) -> (String, String) {
    let (key, cert) = (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.crt")),
    );
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=ado-cutover-dashboard",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    (
        std::fs::read_to_string(cert).unwrap(),
        std::fs::read_to_string(key).unwrap(),
    )
}

#[test]
fn the_app_can_prove_itself_with_a_certificate_instead_of_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let (registered, key) = certificate(dir.path(), "registered");
    let (_, other_key) = certificate(dir.path(), "other");
    for (key, admitted) in [(key, true), (other_key, false)] {
        let (url, db) = fresh_database(false);
        let mut provider = None;
        let server =
            TestServer::start_with(&url, db, "127.0.0.1:0", Limits::default(), |state, base| {
                let redirect_uri = format!("{base}/login/entra/callback");
                let started = OidcProvider::start_with_certificate(&redirect_uri, &registered);
                state.entra = Some(Arc::new(Entra {
                    provider: Provider::new(&started.issuers["contoso"]),
                    client_id: CLIENT_ID.into(),
                    credential: Credential::certificate(&registered, key.as_bytes()).unwrap(),
                    tenant: CONTOSO.into(),
                    admin: vec!["Cutover.Admin".into()],
                    viewer: vec![],
                    redirect_uri,
                }));
                provider = Some(started);
            });
        let back = Walker::default().sign_in(&server.base, "alice@contoso.com");
        if admitted {
            assert_eq!(back.status, 200, "{}", back.body);
        } else {
            assert_eq!(back.status, 403, "a key that is not the certificate's");
            assert!(back.body.contains("invalid_client"), "{}", back.body);
        }
        drop(provider);
    }
}

/// Runs `ado-cutover-server` with `args`: (exit code, standard output, standard error).
fn server_cli(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ado-cutover-server"))
        .args(args)
        .env_remove("ADO_CUTOVER_SERVER_DATABASE_URL")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn tokens_are_made_used_and_revoked_across_two_instances_from_the_dashboard_and_the_command_line() {
    // PostgreSQL when the CI's server is there (the deployment with several instances);
    // otherwise two instances on one SQLite file.
    let postgres = std::env::var_os("TEST_DATABASE_URL").is_some();
    let (url, dir) = fresh_database(postgres);
    let one = TestServer::start_on(&url, dir, "127.0.0.1:0", Limits::default());
    let two = TestServer::start_on(&url, None, "127.0.0.1:0", Limits::default());

    // An enrollment token for a wave, made on instance one's dashboard.
    let (cookie, csrf) = one.sign_in();
    let form = format!("csrf={csrf}&kind=enrollment&label=wave-1&expires=90d");
    let (status, page) = one.post_as("/tokens", &cookie, &form);
    assert_eq!(status, 200);
    let enrollment = page
        .split("<pre id=\"new-token\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the new token, shown once")
        .to_string();
    let (_, listed) = one.get_as("/tokens", &cookie);
    assert!(
        !listed.contains(&enrollment),
        "the list never shows a secret"
    );

    // Instance two takes it at once; the device shows the token's label.
    let report = support::server::sample_report(
        "pc-wave",
        "ana",
        ado_cutover::report::Outcome::Done,
        time::OffsetDateTime::now_utc(),
        "done",
    );
    let post = |server: &TestServer, token: &str| {
        client()
            .post(format!("{}/api/v1/reports", server.base))
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .send(&serde_json::to_vec(&report).unwrap()[..])
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(post(&two, &enrollment), 202);
    let device: serde_json::Value = serde_json::from_str(
        &client()
            .get(format!("{}/api/v1/devices/id-pc-wave/ana", one.base))
            .header("Authorization", &format!("Bearer {ADMIN}"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(device["device"]["enrollment_label"], json!("wave-1"));

    // A read-only API token from the command line.
    let (code, api, err) = server_cli(&[
        "token",
        "create",
        "--kind",
        "api",
        "--label",
        "reporting",
        "--database-url",
        &url,
    ]);
    assert_eq!(code, 0, "{err}");
    let api = api.trim().to_string();
    assert_eq!(api.len(), 64, "only the secret on standard output");
    assert!(err.contains("made api token"), "{err}");
    let read = |server: &TestServer, token: &str, path: &str| {
        client()
            .get(format!("{}{path}", server.base))
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(read(&two, &api, "/api/v1/summary"), 200);
    assert_eq!(read(&one, &api, "/api/v1/devices"), 200);
    assert_eq!(read(&one, &api, "/tokens"), 403, "an API token only reads");
    assert_eq!(post(&one, &api), 403, "nor does it send reports");
    assert_eq!(
        read(&one, &enrollment, "/api/v1/summary"),
        403,
        "enrollment tokens only send"
    );

    let (code, list, _) = server_cli(&["token", "list", "--database-url", &url]);
    assert_eq!(code, 0);
    assert!(
        list.contains("wave-1") && list.contains("reporting"),
        "{list}"
    );
    assert!(
        !list.contains(&api) && !list.contains(&enrollment) && !list.contains(ADMIN),
        "{list}"
    );
    let (_, json_list, _) = server_cli(&["token", "list", "--json", "--database-url", &url]);
    let tokens: serde_json::Value = serde_json::from_str(&json_list).unwrap();
    let id_of = |label: &str| {
        tokens
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["label"] == json!(label))
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (wave_id, api_id) = (id_of("wave-1"), id_of("reporting"));
    // The enrollment token's use is noted (once a minute per instance, in the background).
    let used = (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        one.block_on(one.store.tokens())
            .unwrap()
            .iter()
            .any(|t| t.id == wave_id && t.last_used_at.is_some())
    });
    assert!(used, "last use is recorded");

    // Revoked on instance two's dashboard: instance one refuses it at once.
    let (cookie_two, csrf_two) = two.sign_in();
    let revoke = format!("/tokens/{wave_id}/revoke");
    let (status, _) = two.post_as(&revoke, &cookie_two, &format!("csrf={csrf_two}"));
    assert_eq!(status, 303);
    assert_eq!(post(&one, &enrollment), 401);
    // Revoked from the command line: both refuse it.
    let (code, _, err) = server_cli(&["token", "revoke", &api_id, "--database-url", &url]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(read(&one, &api, "/api/v1/summary"), 401);
    assert_eq!(read(&two, &api, "/api/v1/summary"), 401);
    let (code, _, err) = server_cli(&["token", "revoke", "no-such-id", "--database-url", &url]);
    assert_eq!(code, 2);
    assert!(
        err.contains("there is no token with id no-such-id") && err.contains("hint:"),
        "{err}"
    );

    // The audit log: one entry per action, on whichever instance it happened; no secret.
    let log = audit(&one);
    let actions: Vec<(&str, &str)> = log
        .iter()
        .filter(|e| e.action.starts_with("token-"))
        .map(|e| (e.action.as_str(), e.target.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("token-created", wave_id.as_str()),
            ("token-created", api_id.as_str()),
            ("token-revoked", wave_id.as_str()),
            ("token-revoked", api_id.as_str()),
        ]
    );
    assert_eq!(
        entries(&log, "sign-in").len(),
        2,
        "two admin-token sign-ins"
    );
    let session = cookie.split('=').nth(1).unwrap();
    let (_, csv) = two.get_as("/audit.csv", &cookie_two);
    assert_eq!(
        csv.lines().count(),
        log.len() + 1,
        "every entry, and the header"
    );
    for secret in [
        enrollment.as_str(),
        api.as_str(),
        ADMIN,
        session,
        csrf.as_str(),
    ] {
        assert!(!csv.contains(secret), "a secret in the audit log");
        for e in &log {
            assert!(!format!("{e:?}").contains(secret), "a secret in {e:?}");
        }
    }
}

#[test]
fn the_admin_token_can_be_turned_off_and_a_revoked_one_ends_its_sessions() {
    let (url, dir) = fresh_database(false);
    let off = TestServer::start_configured(&url, dir, "127.0.0.1:0", Limits::default(), |state| {
        state.admin_token = false;
    });
    let mut api = client()
        .get(format!("{}/api/v1/summary", off.base))
        .header("Authorization", &format!("Bearer {ADMIN}"))
        .call()
        .unwrap();
    assert_eq!(api.status().as_u16(), 403);
    assert!(
        api.body_mut()
            .read_to_string()
            .unwrap()
            .contains("turned off")
    );
    let form = client()
        .get(format!("{}/login", off.base))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(
        !form.contains("name=\"token\""),
        "no token form when it is off"
    );
    let mut login = client()
        .post(format!("{}/login", off.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(format!("token={ADMIN}"))
        .unwrap();
    assert_eq!(login.status().as_u16(), 401);
    assert!(login.headers().get("set-cookie").is_none());
    assert!(
        login
            .body_mut()
            .read_to_string()
            .unwrap()
            .contains("turned off")
    );
    let log = audit(&off);
    let refused = entries(&log, "sign-in");
    assert_eq!(refused.len(), 1);
    assert_eq!(
        (refused[0].actor.as_str(), refused[0].outcome.as_str()),
        ("admin token admin0000001", "refused")
    );

    // A second admin token, made on the command line and signed in with, then revoked: the
    // session it started ends with it.
    let (url, dir) = fresh_database(false);
    let server = TestServer::start_on(&url, dir, "127.0.0.1:0", Limits::default());
    let (code, second, err) = server_cli(&[
        "token",
        "create",
        "--kind",
        "admin",
        "--label",
        "helpdesk lead",
        "--database-url",
        &url,
    ]);
    assert_eq!(code, 0, "{err}");
    let second = second.trim();
    let (status, cookie) = server.login(&format!("admin={second}"));
    assert_eq!(status, 303, "the token file's `admin=` line works too");
    let cookie = cookie.expect("a session cookie");
    let overview = |cookie: &str| server.get_as("/", cookie).0;
    assert_eq!(overview(&cookie), 200);
    let id = err
        .split("made admin token ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    let (code, _, err) = server_cli(&["token", "revoke", &id, "--database-url", &url]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(overview(&cookie), 303, "back to the sign-in page");
}

#[test]
fn a_start_with_other_sign_in_settings_is_one_audit_entry_and_bad_settings_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    let url = format!("sqlite://{}", db.display());
    let secret_file = dir.path().join("entra-secret");
    std::fs::write(&secret_file, format!("{CLIENT_SECRET}\n")).unwrap();
    let secret_arg = secret_file.to_str().unwrap().to_string();
    let token_file = dir.path().join("tokens.txt");
    let start = |extra: &[&str]| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ado-cutover-server"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--create",
                "--database-url",
                &url,
                "--token-file",
            ])
            .arg(&token_file)
            .args(extra)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Serving once the banner named the dashboard.
        let mut banner = String::new();
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        while !banner.contains("sign-in:") {
            let mut line = String::new();
            if std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() == 0 {
                break;
            }
            banner += &line;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        banner
    };
    let entra = [
        "--public-url",
        "https://cutover.example.com",
        "--entra-client-id",
        CLIENT_ID,
        "--entra-tenant",
        CONTOSO,
        "--entra-client-secret-file",
        &secret_arg,
        "--no-admin-token",
    ];
    assert!(start(&[]).contains("sign-in:   the admin token"));
    start(&[]);
    let banner = start(&entra);
    assert!(
        banner.contains("sign-in:   Microsoft Entra ID\n"),
        "{banner}"
    );
    let store_log = || {
        let rt = support::server::runtime();
        rt.block_on(async {
            let store = ado_cutover::server::Store::open(&url, false).await.unwrap();
            let mut all = store.audit(None, 100).await.unwrap();
            all.reverse();
            all
        })
    };
    let log = store_log();
    let settings = entries(&log, "settings-changed");
    assert_eq!(
        settings.len(),
        2,
        "the first start and the change, not the restart: {log:#?}"
    );
    assert!(
        settings[0]
            .detail
            .contains("Entra sign-in: off; admin token on"),
        "{}",
        settings[0].detail
    );
    assert!(
        settings[1].detail.contains(&format!("tenant {CONTOSO}")),
        "{}",
        settings[1].detail
    );
    assert!(
        settings[1].detail.contains("client secret")
            && settings[1].detail.contains("admin token off")
    );
    assert!(
        !format!("{log:?}").contains(CLIENT_SECRET),
        "never the secret"
    );

    // Settings that cannot work stop the start with the setting named, before anything opens.
    let fails = |args: &[&str], says: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ado-cutover-server"))
            .args(["--listen", "127.0.0.1:0", "--database-url", &url])
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains(says) && err.contains("hint:"),
            "expected `{says}`: {err}"
        );
    };
    // Each case adds to the settings before it.
    let id = ["--entra-client-id", CLIENT_ID];
    let tenant = [&id[..], &["--entra-tenant", CONTOSO]].concat();
    let secret = [&tenant[..], &["--entra-client-secret-file", &secret_arg]].concat();
    let public = [&tenant[..], &["--public-url", "https://x.example"]].concat();
    let unreadable = [
        &public[..],
        &["--entra-client-secret-file", "/nonexistent/secret"],
    ]
    .concat();
    let plain = [
        &secret[..],
        &[
            "--public-url",
            "https://x.example",
            "--entra-issuer",
            "http://login.example/t/v2.0",
        ],
    ]
    .concat();
    for (args, says) in [
        (&id[..], "needs --entra-tenant"),
        (&secret[..], "needs --public-url"),
        (&public[..], "needs one credential"),
        (&unreadable[..], "cannot read the client secret file"),
        (&plain[..], "is not https"),
    ] {
        fails(args, says);
    }
    assert_eq!(
        entries(&store_log(), "settings-changed").len(),
        2,
        "a refused start records nothing"
    );
}

#[test]
fn an_address_that_tries_too_many_sign_ins_is_slowed_down_without_filling_the_audit_log() {
    let server = TestServer::start(false);
    let attempt = || {
        client()
            .post(format!("{}/login", server.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send("token=guess")
            .unwrap()
    };
    let limit = ado_cutover::server::SIGN_INS_PER_MINUTE as usize;
    for _ in 0..limit {
        assert_eq!(attempt().status().as_u16(), 401);
    }
    let throttled = attempt();
    assert_eq!(throttled.status().as_u16(), 429);
    assert!(throttled.headers().get("retry-after").is_some());
    assert_eq!(
        client()
            .get(format!("{}/login/entra/callback?state=x", server.base))
            .call()
            .unwrap()
            .status()
            .as_u16(),
        404,
        "no Entra sign-in is configured here"
    );
    let log = audit(&server);
    assert_eq!(
        entries(&log, "sign-in").len(),
        limit,
        "one entry per attempt that was heard"
    );
    assert!(
        log.iter()
            .all(|e| e.actor == "unknown" && !e.detail.contains("guess"))
    );
}

#[test]
fn each_admin_action_leaves_exactly_one_audit_entry() {
    let server = TestServer::start(false);
    let report = support::server::sample_report(
        "pc",
        "ana",
        ado_cutover::report::Outcome::Done,
        time::OffsetDateTime::now_utc(),
        "done",
    );
    assert_eq!(server.send(&report).0, 202);
    let (cookie, csrf) = server.sign_in();
    let form = format!("csrf={csrf}&upns=ana%40contoso.com%0Abob%40contoso.com%0A%3D%3D%3D");
    assert_eq!(server.post_as("/expected-users", &cookie, &form).0, 200);
    let forget = format!("csrf={csrf}");
    assert_eq!(
        server
            .post_as("/devices/id-pc/ana/forget-key", &cookie, &forget)
            .0,
        303
    );
    assert_eq!(
        server.post_as("/logout-everywhere", &cookie, &forget).0,
        303
    );
    assert_eq!(server.get_as("/", &cookie).0, 303, "every session ended");

    let log = audit(&server);
    let actions: Vec<(&str, &str, &str)> = log
        .iter()
        .map(|e| (e.action.as_str(), e.actor.as_str(), e.target.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("sign-in", "admin token admin0000001", ""),
            ("expected-users-uploaded", "admin token admin0000001", ""),
            (
                "device-key-forgotten",
                "admin token admin0000001",
                "id-pc (ana)"
            ),
            ("sessions-ended", "admin token admin0000001", ""),
        ]
    );
    assert_eq!(log[1].detail, "2 expected users; 1 rows unreadable");
    assert!(
        log.iter()
            .all(|e| e.outcome == "ok" && e.address == "127.0.0.1")
    );
    let session = cookie.split('=').nth(1).unwrap();
    assert!(!format!("{log:?}").contains(session) && !format!("{log:?}").contains(&csrf));
}
