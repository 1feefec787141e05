//! A real OpenID Connect provider for the sign-in tests: panva's certified `oidc-provider`
//! (tests/oidc, installed by `.ci/test-node.sh`) run with Node.js, one Entra-shaped issuer per
//! tenant (contoso and fabrikam), each with its own keys; and a small cookie-keeping HTTP client
//! that walks the sign-in as a browser would, so a test can stop, tamper or replay at any step.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

pub(crate) const CONTOSO: &str = "11111111-1111-4111-8111-111111111111";
pub(crate) const FABRIKAM: &str = "22222222-2222-4222-8222-222222222222";
pub(crate) const CLIENT_ID: &str = "ado-cutover-dashboard";
pub(crate) const CLIENT_SECRET: &str = "client-secret-0f4c2b9e-not-for-logs-7d1a";
/// A group object id the server maps to admin.
pub(crate) const ADMIN_GROUP: &str = "9a0b6c1d-admins-group";

/// The accounts: (login, tenant whose provider signs them in, claims).
fn accounts() -> Value {
    let person = |tenant: &str, tid: &str, upn: &str, roles: &[&str], groups: &[&str]| {
        json!({"tenant": tenant, "claims": {
            "tid": tid, "oid": format!("oid-{upn}"), "preferred_username": upn,
            "name": upn.split('@').next().unwrap(), "roles": roles, "groups": groups,
        }})
    };
    json!({
        "alice@contoso.com": person("contoso", CONTOSO, "alice@contoso.com", &["Cutover.Admin"], &[]),
        "victor@contoso.com": person("contoso", CONTOSO, "victor@contoso.com", &["Cutover.Viewer"], &[]),
        "gina@contoso.com": person("contoso", CONTOSO, "gina@contoso.com", &[], &[ADMIN_GROUP]),
        "nora@contoso.com": person("contoso", CONTOSO, "nora@contoso.com", &[], &[]),
        // An account of another tenant, as a multi-tenant app registration lets it sign in.
        "mallory@fabrikam.com": person("contoso", FABRIKAM, "mallory@fabrikam.com", &["Cutover.Admin"], &[]),
        "fred@fabrikam.com": person("fabrikam", FABRIKAM, "fred@fabrikam.com", &["Cutover.Admin"], &[]),
    })
}

/// The running provider.
pub(crate) struct OidcProvider {
    pub issuers: HashMap<String, String>,
    control: String,
    child: Child,
    _config: tempfile::TempDir,
}

impl OidcProvider {
    /// Starts both tenants' issuers, with the app registered for `redirect_uri` and
    /// authenticating with [`CLIENT_SECRET`].
    pub(crate) fn start(redirect_uri: &str) -> OidcProvider {
        OidcProvider::start_for(
            json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                       "redirect_uris": [redirect_uri]}),
        )
    }

    /// The same, the app authenticating with the certificate `certificate` (PEM) instead.
    pub(crate) fn start_with_certificate(redirect_uri: &str, certificate: &str) -> OidcProvider {
        OidcProvider::start_for(json!({"client_id": CLIENT_ID, "certificate": certificate,
                                       "redirect_uris": [redirect_uri]}))
    }

    fn start_for(client: Value) -> OidcProvider {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = root.join("target/test-node");
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "the OpenID Connect provider is not installed: run `bash .ci/test-node.sh` first"
        );
        // The script runs from where its packages are.
        std::fs::copy(
            root.join("tests/oidc/provider.mjs"),
            dir.join("provider.mjs"),
        )
        .unwrap();
        let config_dir = tempfile::tempdir().unwrap();
        let config = config_dir.path().join("config.json");
        let body = json!({
            "tenants": [{"name": "contoso", "id": CONTOSO}, {"name": "fabrikam", "id": FABRIKAM}],
            "client": client,
            "accounts": accounts(),
        });
        std::fs::write(&config, body.to_string()).unwrap();
        let mut child = Command::new("node")
            .arg(dir.join("provider.mjs"))
            .arg(&config)
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(config_dir.path().join("provider.log")).unwrap())
            .spawn()
            .expect("Node.js must be installed for this test");
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut line).unwrap();
        // The provider prints notes later too: its output is read to the end, so a write never
        // meets a closed pipe (which stops Node.js).
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let started: Value = serde_json::from_str(&line).expect("the provider's start line");
        let issuers = started["issuers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        OidcProvider {
            issuers,
            control: started["control"].as_str().unwrap().to_string(),
            child,
            _config: config_dir,
        }
    }

    /// Rotates `tenant`'s signing key (the old one stays published); the new key's id.
    pub(crate) fn rotate(&self, tenant: &str) -> String {
        let mut answer = super::server::client()
            .post(format!("{}/rotate/{tenant}", self.control))
            .send_empty()
            .unwrap();
        let body: Value =
            serde_json::from_str(&answer.body_mut().read_to_string().unwrap()).unwrap();
        body["signing_kid"].as_str().unwrap().to_string()
    }
}

impl Drop for OidcProvider {
    /// A failing test shows the provider's own log (its errors say why a request failed).
    #[allow(clippy::print_stderr)]
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self._config.path().join("provider.log"));
            eprintln!("the provider's log:\n{}", log.unwrap_or_default());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser without a browser: cookies per host and port, redirects followed by hand.
#[derive(Default)]
pub(crate) struct Walker {
    cookies: HashMap<String, HashMap<String, String>>,
}

/// One answer.
pub(crate) struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

fn origin(url: &url::Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap(),
        url.port_or_known_default().unwrap()
    )
}

impl Walker {
    fn keep_cookies(&mut self, url: &url::Url, headers: &ureq::http::HeaderMap) {
        let jar = self.cookies.entry(origin(url)).or_default();
        for value in headers.get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.to_ascii_lowercase().contains("max-age=0") || value.is_empty() {
                jar.remove(name.trim());
            } else {
                jar.insert(name.trim().to_string(), value.to_string());
            }
        }
    }

    /// The cookie `name` this walker holds for `base`'s host.
    pub(crate) fn cookie(&self, base: &str, name: &str) -> Option<String> {
        let url = url::Url::parse(base).unwrap();
        self.cookies.get(&origin(&url))?.get(name).cloned()
    }

    fn cookie_header(&self, url: &url::Url) -> String {
        self.cookies
            .get(&origin(url))
            .map(|jar| {
                jar.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default()
    }

    /// One request, no redirect followed.
    pub(crate) fn request(&mut self, method: &str, url: &str, form: Option<&str>) -> Answer {
        let parsed = url::Url::parse(url).unwrap();
        let agent = super::server::client();
        let cookie = self.cookie_header(&parsed);
        let mut answer = match form {
            None => agent.get(url).header("Cookie", &cookie).call().unwrap(),
            Some(form) => {
                assert_eq!(method, "POST");
                agent
                    .post(url)
                    .header("Cookie", &cookie)
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .send(form)
                    .unwrap()
            }
        };
        self.keep_cookies(&parsed, answer.headers());
        let location = answer
            .headers()
            .get("location")
            .map(|l| parsed.join(l.to_str().unwrap()).unwrap().to_string());
        Answer {
            status: answer.status().as_u16(),
            location,
            body: answer.body_mut().read_to_string().unwrap_or_default(),
        }
    }

    /// GETs `url` and follows redirects while `keep_going(next)` says so; the last answer and
    /// the address it came from (or, when stopped, the address not followed, as `location`).
    pub(crate) fn follow(
        &mut self,
        url: &str,
        keep_going: impl Fn(&str) -> bool,
    ) -> (String, Answer) {
        let mut at = url.to_string();
        for _ in 0..20 {
            let answer = self.request("GET", &at, None);
            match &answer.location {
                Some(next) if (300..400).contains(&answer.status) && keep_going(next) => {
                    at = next.clone();
                }
                _ => return (at, answer),
            }
        }
        panic!("too many redirects from {url}");
    }

    /// Starts a sign-in at `server`, changes the provider's address with `tamper`, signs in
    /// at the provider as `login`, and stops before the callback: its address.
    pub(crate) fn sign_in_until_callback(
        &mut self,
        server: &str,
        login: &str,
        tamper: impl Fn(url::Url) -> url::Url,
    ) -> String {
        let start = self.request("GET", &format!("{server}/login/entra"), None);
        assert_eq!(start.status, 303, "{}", start.body);
        let authorize = tamper(url::Url::parse(start.location.as_deref().unwrap()).unwrap());
        let to_server = |next: &str| !next.starts_with(server);
        let (at, form) = self.follow(authorize.as_str(), to_server);
        assert_eq!(
            form.status, 200,
            "the provider's sign-in form: {}",
            form.body
        );
        let action = form
            .body
            .split("action=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a form on the provider's page");
        let action = url::Url::parse(&at).unwrap().join(action).unwrap();
        let posted = self.request(
            "POST",
            action.as_str(),
            Some(&format!(
                "prompt=login&login={}&password=any",
                percent(login)
            )),
        );
        assert!((300..400).contains(&posted.status), "{}", posted.body);
        let (_, last) = self.follow(posted.location.as_deref().unwrap(), to_server);
        let callback = last.location.expect("the provider sends the browser back");
        assert!(
            callback.starts_with(&format!("{server}/login/entra/callback")),
            "{callback}"
        );
        callback
    }

    /// The whole sign-in: the callback's answer.
    pub(crate) fn sign_in(&mut self, server: &str, login: &str) -> Answer {
        let callback = self.sign_in_until_callback(server, login, |u| u);
        self.request("GET", &callback, None)
    }
}

fn percent(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
