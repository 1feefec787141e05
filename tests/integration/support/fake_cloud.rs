//! A stand-in for Microsoft Entra ID and the Azure DevOps APIs the `ssh-key` task calls, on
//! 127.0.0.1, following ../shared/reference/azure-devops-api.md sections 1.3, 3 and 5:
//!
//! - Entra (`/{tenant}/oauth2/v2.0/…`): `devicecode`; `authorize`, which answers at once with a
//!   302 to the loopback redirect carrying a code and the state; `token` for the device code
//!   (`authorization_pending` first), the authorization code (the PKCE verifier is checked
//!   against the challenge) and the refresh token.
//! - Azure DevOps' unauthenticated tenant answer (section 4.1): `HEAD
//!   /ado/{org}/_apis/connectionData` without a token is answered 401 with `WWW-Authenticate:
//!   Bearer authorization_uri=…` and `X-VSS-ResourceTenant`: organization `contoso` is backed by
//!   tenant [`TENANT`], `msaorg` by personal Microsoft accounts, `slow` answers after 8 s, and
//!   every organization this fake does not know is not found (404).
//! - Azure DevOps (`/ado/{org}/_apis/connectionData`, signed in) and SPS
//!   (`/vssps/{org}/_apis/Token/SessionTokens`, list and create), Bearer tokens only.
//!   A created key is appended to `authorized_keys`, so a local sshd then accepts it, as Azure
//!   DevOps would. The PAT lifecycle API's create (`/vssps/{org}/_apis/tokens/pats`).
//!
//! - The `verify` task's channels: signed-in `connectionData` names the account
//!   (`authenticatedUser.properties.Account.$value`, [`ACCOUNT`]); `notmember` answers TF400813
//!   "is not authorized" and `firstsignin` TF401444 (section 5). Git over smart HTTP at
//!   `/ado/{org}/{project}/_git/{repo}/…`: a real `git http-backend` serving the repositories
//!   under [`CloudState::git_root`] (`{org}/{project}/{repo}.git`), behind a front that wants a
//!   token this fake issued (Bearer, or Basic with the token as password, as git sends what a
//!   credential helper gives it): none or another is 401 with a Basic challenge, and a
//!   repository named `denied` is 403. Azure Artifacts feed indexes at
//!   `/pkgs/{org}/_packaging/{feed}/…` want the same tokens; a feed named `denied` is 403.
//! - Tenants can move: [`CloudState::tenants`] overrides an organization's answer (`msa` for
//!   personal accounts), so a test can switch an organization between two runs.
//!
//! Organizations other than `contoso` misbehave on purpose: `signin203` answers 203 with an
//! HTML sign-in page, `signin302` redirects to `_signin`, `throttled` answers 429 with
//! `Retry-After: 1` once, `broken` answers 500, `sshoff` lists no keys and refuses new ones with
//! `sshPolicyDisabled`, and `nopat` may not create personal access tokens.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The tenant organization `contoso` moved to.
pub(crate) const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
/// The organizations the signed-in part knows; the tenant lookup finds them too.
const KNOWN: &[&str] = &[
    "contoso",
    "signin203",
    "signin302",
    "throttled",
    "broken",
    "sshoff",
    "nopat",
    "notmember",
    "firstsignin",
];
/// The account the signed-in `connectionData` names.
pub(crate) const ACCOUNT: &str = "alice@contoso.com";
pub(crate) const ORG_ID: &str = "3c1f4b2e-5d6a-4e7f-8a9b-0c1d2e3f4a5b";
pub(crate) const CLIENT_ID: &str = "0f1e2d3c-4b5a-4968-8776-655443322110";

#[derive(Default)]
pub(crate) struct CloudState {
    /// `METHOD path` of every request.
    pub requests: Vec<String>,
    /// Every request line with its headers (names lower-cased), for checking what was sent.
    pub raw: Vec<String>,
    /// The request bodies, for checking what was sent.
    pub bodies: Vec<String>,
    /// The SSH keys registered, as SessionTokens.
    pub keys: Vec<Value>,
    /// Where registered keys go for the local sshd.
    pub authorized_keys: Option<PathBuf>,
    /// Device code polls still to answer `authorization_pending`.
    pub pending_polls: usize,
    /// Turn the first access token down (401), so the agent must refresh.
    pub reject_first_token: bool,
    /// How many personal access tokens were made.
    pub pats: usize,
    /// Per organization, the tenant its lookup names instead of [`TENANT`] (`msa`: personal
    /// Microsoft accounts).
    pub tenants: HashMap<String, String>,
    /// Where the git front's repositories are (`{org}/{project}/{repo}.git`).
    pub git_root: Option<PathBuf>,
    valid_tokens: Vec<String>,
    refresh_tokens: Vec<String>,
    codes: HashMap<String, (String, String)>,
    throttled_once: bool,
    issued: usize,
}

pub(crate) struct FakeCloud {
    pub base: String,
    pub state: Arc<Mutex<CloudState>>,
}

impl FakeCloud {
    pub(crate) fn start() -> FakeCloud {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(CloudState {
            pending_polls: 1,
            ..Default::default()
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        FakeCloud { base, state }
    }

    /// A cloud where `orgs` are still on personal Microsoft accounts: they wait for their switch.
    pub(crate) fn before_the_switch(orgs: &[&str]) -> FakeCloud {
        let cloud = FakeCloud::start();
        let mut state = cloud.state.lock().unwrap();
        for org in orgs {
            state.tenants.insert((*org).into(), "msa".into());
        }
        drop(state);
        cloud
    }

    /// Azure DevOps' base URL here (the agent's `ADO_CUTOVER_AZURE_DEVOPS_URL`).
    pub(crate) fn ado_base(&self) -> String {
        format!("{}/ado", self.base)
    }

    /// The environment that points the agent here.
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("ADO_CUTOVER_ENTRA_URL", self.base.clone()),
            ("ADO_CUTOVER_AZURE_DEVOPS_URL", format!("{}/ado", self.base)),
            ("ADO_CUTOVER_VSSPS_URL", format!("{}/vssps", self.base)),
        ]
    }

    /// A token as if the person had signed in before (what GCM would keep): valid here.
    #[cfg(unix)]
    pub(crate) fn issue_token(&self) -> String {
        let mut state = self.state.lock().unwrap();
        issue(&mut state)["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// `METHOD path` of every request so far.
    pub(crate) fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The requests so far except the unauthenticated tenant lookups (`HEAD …/connectionData`),
    /// which need no sign-in and may come from any run.
    pub(crate) fn signed_requests(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| !(r.starts_with("HEAD /ado/") && r.ends_with("/_apis/connectionData")))
            .collect()
    }
}

struct Request {
    method: String,
    path: String,
    /// The request line and headers as sent.
    head: String,
    query: HashMap<String, String>,
    headers: HashMap<String, String>,
    body: String,
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut head = line.clone();
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? <= 2 {
            break;
        }
        head.push_str(&header);
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    Some(Request {
        method,
        path: path.to_string(),
        head,
        query: form(query),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn form(text: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect()
}

fn reply(stream: &mut TcpStream, status: &str, headers: &[(&str, &str)], body: &str) {
    let mut text = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in headers {
        text += &format!("{name}: {value}\r\n");
    }
    text += &format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(text.as_bytes());
}

fn json_reply(stream: &mut TcpStream, status: &str, body: &Value) {
    reply(
        stream,
        status,
        &[("Content-Type", "application/json; charset=utf-8")],
        &body.to_string(),
    );
}

fn serve(mut stream: TcpStream, shared: &Mutex<CloudState>) {
    let Some(request) = read_request(&stream) else {
        return;
    };
    let mut state = shared.lock().unwrap();
    state
        .requests
        .push(format!("{} {}", request.method, request.path));
    state.raw.push(request.head.clone());
    state.bodies.push(request.body.clone());
    let segments: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
    if let ["ado", org, "_apis", "connectionData"] = segments.as_slice()
        && request.method == "HEAD"
        && !request.headers.contains_key("authorization")
    {
        let moved = state.tenants.get(*org).cloned();
        // The lookup of a slow organization must not hold up the other requests.
        drop(state);
        return tenant_answer(&mut stream, org, moved.as_deref());
    }
    match segments.as_slice() {
        ["ado", org, _project, "_git", repo, ..] => {
            let root = state.git_root.clone();
            let known = token_of(&request).is_some_and(|t| state.valid_tokens.contains(&t));
            drop(state);
            git_front(&mut stream, &request, org, repo, known, root);
        }
        ["pkgs", org, "_packaging", feed, ..] => {
            let known = token_of(&request).is_some_and(|t| state.valid_tokens.contains(&t));
            if !KNOWN.contains(org) {
                reply(&mut stream, "404 Not Found", &[], "");
            } else if !known {
                json_reply(
                    &mut stream,
                    "401 Unauthorized",
                    &json!({"message": "TF400813: Resource not available for anonymous access. Client authentication required."}),
                );
            } else if *feed == "denied" {
                json_reply(
                    &mut stream,
                    "403 Forbidden",
                    &json!({"message": "TF401027: You need the Git 'Read' permission to perform this action."}),
                );
            } else {
                json_reply(
                    &mut stream,
                    "200 OK",
                    &json!({"version": "3.0.0", "resources": []}),
                );
            }
        }
        [_tenant, "oauth2", "v2.0", endpoint] => entra(&mut stream, &mut state, endpoint, &request),
        ["ado", org, "_apis", "connectionData"] => {
            if authorized(&mut stream, &mut state, org, &request) {
                json_reply(
                    &mut stream,
                    "200 OK",
                    &json!({
                        "authenticatedUser": {"id": "a1b2c3d4-0000-4000-8000-000000000001", "descriptor": "Microsoft.IdentityModel.Claims.ClaimsIdentity;72f988bf-86f1-41af-91ab-2d7cd011db47\\alice@contoso.com", "providerDisplayName": "Alice", "properties": {"Account": {"$type": "System.String", "$value": ACCOUNT}}},
                        "authorizedUser": {"id": "a1b2c3d4-0000-4000-8000-000000000001"},
                        "instanceId": ORG_ID,
                        "locationServiceData": {"serviceOwner": "00025394-6065-48ca-87d9-7f5672854ef7"}
                    }),
                );
            }
        }
        ["vssps", org, "_apis", "Token", "SessionTokens"] => {
            if !authorized(&mut stream, &mut state, org, &request) {
                return;
            }
            if request.query.get("isPublic").map(String::as_str) != Some("true") {
                return json_reply(
                    &mut stream,
                    "400 Bad Request",
                    &json!({"message": "isPublic must be true for SSH keys"}),
                );
            }
            if request.method == "GET" {
                // With SSH turned off the organization shows no keys at all.
                let keys = if *org == "sshoff" {
                    Vec::new()
                } else {
                    state.keys.clone()
                };
                json_reply(
                    &mut stream,
                    "200 OK",
                    &json!({"count": keys.len(), "value": keys}),
                );
            } else if *org == "sshoff" {
                json_reply(
                    &mut stream,
                    "400 Bad Request",
                    &json!({"$id": "1", "message": "sshPolicyDisabled: SSH authentication is turned off for this organization.", "typeKey": "SessionTokenCreateException", "errorCode": 0, "eventId": 3000}),
                );
            } else {
                create_key(&mut stream, &mut state, &request);
            }
        }
        ["vssps", org, "_apis", "tokens", "pats"] if request.method == "POST" => {
            if authorized(&mut stream, &mut state, org, &request) {
                create_pat(&mut stream, &mut state, org, &request);
            }
        }
        _ => reply(&mut stream, "404 Not Found", &[], ""),
    }
}

/// The PAT lifecycle API's create (reference section 2): `nopat` has PAT creation restricted.
fn create_pat(stream: &mut TcpStream, state: &mut CloudState, org: &str, request: &Request) {
    let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
    let scope_ok = body["scope"]
        .as_str()
        .is_some_and(|s| s.split(' ').all(|w| w.starts_with("vso.")));
    if request.query.get("api-version").map(String::as_str) != Some("7.1-preview.1")
        || body["allOrgs"] != json!(false)
        || !scope_ok
        || body["displayName"].as_str().is_none_or(str::is_empty)
    {
        return json_reply(
            stream,
            "400 Bad Request",
            &json!({"message": "bad PAT request"}),
        );
    }
    if org == "nopat" {
        return json_reply(
            stream,
            "200 OK",
            &json!({"patToken": null, "patTokenError": "disablePatCreationPolicyViolation", "patTokenErrorMessage": "Your organization restricts who can create personal access tokens."}),
        );
    }
    state.pats += 1;
    let token = format!("patvalue{}secretsecretsecret", state.pats);
    json_reply(
        stream,
        "200 OK",
        &json!({"patToken": {"displayName": body["displayName"], "validTo": body["validTo"], "scope": body["scope"], "targetAccounts": [ORG_ID], "validFrom": "2026-11-22T00:00:00Z", "authorizationId": "4ab5764f-0000-4000-8000-000000000001", "token": token}, "patTokenError": "none", "patTokenErrorMessage": null}),
    );
}

/// What Azure DevOps answers a browser that is not signed in: a redirect to the sign-in page.
fn to_sign_in(stream: &mut TcpStream) {
    reply(
        stream,
        "302 Found",
        &[(
            "Location",
            "https://spsprod.vssps.visualstudio.com/_signin?realm=dev.azure.com",
        )],
        "Object moved",
    );
}

/// Checks the Bearer token and the organization's misbehaviour; answers when it is not OK.
fn authorized(
    stream: &mut TcpStream,
    state: &mut CloudState,
    org: &str,
    request: &Request,
) -> bool {
    let token = token_of(request).unwrap_or_default();
    if request
        .headers
        .get("x-tfs-fedauthredirect")
        .map(String::as_str)
        != Some("Suppress")
    {
        to_sign_in(stream);
        return false;
    }
    match org {
        "signin203" => {
            reply(
                stream,
                "203 Non-Authoritative Information",
                &[("Content-Type", "text/html")],
                "<html><title>Sign in</title></html>",
            );
            return false;
        }
        "signin302" => {
            to_sign_in(stream);
            return false;
        }
        "notmember" => {
            json_reply(
                stream,
                "401 Unauthorized",
                &json!({"$id": "1", "innerException": null, "message": format!("TF400813: The user '{ACCOUNT}' is not authorized to access this resource."), "typeName": "Microsoft.TeamFoundation.Framework.Server.UnauthorizedRequestException, Microsoft.TeamFoundation.Framework.Server", "typeKey": "UnauthorizedRequestException", "errorCode": 0, "eventId": 3000}),
            );
            return false;
        }
        "firstsignin" => {
            json_reply(
                stream,
                "401 Unauthorized",
                &json!({"$id": "1", "innerException": null, "message": format!("TF401444: Please sign-in at least once as {TENANT}\\{ACCOUNT} in a web browser to enable access to the service."), "typeKey": "UnauthorizedRequestException", "errorCode": 0, "eventId": 3000}),
            );
            return false;
        }
        "broken" => {
            json_reply(
                stream,
                "500 Internal Server Error",
                &json!({"message": "VS402000: internal error"}),
            );
            return false;
        }
        "throttled" if !state.throttled_once => {
            state.throttled_once = true;
            reply(
                stream,
                "429 Too Many Requests",
                &[("Retry-After", "1"), ("Content-Type", "application/json")],
                "{\"message\":\"TF400733: The request has been canceled: Request was blocked due to exceeding usage of resource\"}",
            );
            return false;
        }
        _ => {}
    }
    if !state.valid_tokens.contains(&token) {
        json_reply(
            stream,
            "401 Unauthorized",
            &json!({"message": "TF400813: Resource not available for anonymous access. Client authentication required.", "typeKey": "UnauthorizedRequestException", "errorCode": 0, "eventId": 3000}),
        );
        return false;
    }
    true
}

/// The token a request carries: a Bearer token, or the password of Basic credentials.
fn token_of(request: &Request) -> Option<String> {
    let value = request.headers.get("authorization")?;
    if let Some(token) = value.strip_prefix("Bearer ") {
        return Some(token.to_string());
    }
    let pair = base64::engine::general_purpose::STANDARD
        .decode(value.strip_prefix("Basic ")?)
        .ok()?;
    let pair = String::from_utf8(pair).ok()?;
    pair.split_once(':')
        .map(|(_, password)| password.to_string())
}

/// Git's smart HTTP for a known token: `git http-backend` run as CGI on the repository.
fn git_front(
    stream: &mut TcpStream,
    request: &Request,
    org: &str,
    repo: &str,
    known: bool,
    root: Option<PathBuf>,
) {
    if !known {
        return reply(
            stream,
            "401 Unauthorized",
            &[("WWW-Authenticate", "Basic realm=\"https://dev.azure.com/\"")],
            "",
        );
    }
    if repo == "denied" {
        return reply(stream, "403 Forbidden", &[], "TF401019: no access");
    }
    let Some(root) = root else {
        return reply(stream, "404 Not Found", &[], "");
    };
    // /ado/{org}/{project}/_git/{repo}/{rest} -> /{org}/{project}/{repo}.git/{rest}
    let parts: Vec<&str> = request
        .path
        .trim_start_matches('/')
        .splitn(6, '/')
        .collect();
    let rest = parts.get(5).copied().unwrap_or_default();
    let path_info = format!("/{org}/{}/{repo}.git/{rest}", parts[2]);
    let query = request.head.split_whitespace().nth(1).unwrap_or_default();
    let query = query.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let output = std::process::Command::new("git")
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", &root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", &root)
        .env("REQUEST_METHOD", &request.method)
        .env("PATH_INFO", &path_info)
        .env("QUERY_STRING", query)
        .env(
            "CONTENT_TYPE",
            request
                .headers
                .get("content-type")
                .cloned()
                .unwrap_or_default(),
        )
        .env("CONTENT_LENGTH", request.body.len().to_string())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    // CGI: headers (with an optional Status), a blank line, the body.
    let out = output.stdout;
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| (at, 4))
        .or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|at| (at, 2)));
    let Some((at, gap)) = split else {
        return reply(stream, "500 Internal Server Error", &[], "");
    };
    let head = String::from_utf8_lossy(&out[..at]).into_owned();
    let body = &out[at + gap..];
    let mut status = "200 OK".to_string();
    let mut text = String::new();
    for line in head.lines() {
        match line.split_once(':') {
            Some((name, value)) if name.eq_ignore_ascii_case("status") => {
                status = value.trim().to_string();
            }
            Some((name, value)) => text += &format!("{name}: {}\r\n", value.trim()),
            None => {}
        }
    }
    let head = format!(
        "HTTP/1.1 {status}\r\n{text}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

/// The unauthenticated answer that names an organization's tenant (section 4.1), or the one
/// a test moved it to (`moved`; `msa` for personal accounts).
fn tenant_answer(stream: &mut TcpStream, org: &str, moved: Option<&str>) {
    let org = match moved {
        Some("msa") => "msaorg",
        _ => org,
    };
    let tenant = moved.filter(|t| *t != "msa").unwrap_or(TENANT);
    match org {
        "msaorg" => reply(
            stream,
            "401 Unauthorized",
            &[(
                "X-VSS-ResourceTenant",
                "00000000-0000-0000-0000-000000000000",
            )],
            "",
        ),
        "slow" => {
            std::thread::sleep(std::time::Duration::from_secs(8));
            reply(stream, "401 Unauthorized", &[], "");
        }
        org if KNOWN.contains(&org) => {
            let bearer =
                format!("Bearer authorization_uri=https://login.microsoftonline.com/{tenant}");
            reply(
                stream,
                "401 Unauthorized",
                &[
                    ("WWW-Authenticate", &bearer),
                    ("WWW-Authenticate", "Basic realm=\"https://dev.azure.com/\""),
                    ("X-VSS-ResourceTenant", tenant),
                ],
                "",
            );
        }
        _ => reply(stream, "404 Not Found", &[], ""),
    }
}

fn create_key(stream: &mut TcpStream, state: &mut CloudState, request: &Request) {
    let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
    let public = body["publicData"].as_str().unwrap_or("");
    let valid_to = body["validTo"].as_str().unwrap_or("");
    let problems = [
        (
            body["displayName"].as_str().is_none_or(str::is_empty),
            "displayNameRequired",
        ),
        (
            !public.starts_with("ssh-rsa ") && !public.starts_with("ssh-ed25519 ")
                || public.contains('\n'),
            "invalid publicData",
        ),
        (
            time::OffsetDateTime::parse(valid_to, &time::format_description::well_known::Rfc3339)
                .is_err(),
            "invalidValidTo",
        ),
        (body["scope"] != "app_token", "invalidScope"),
        (
            body["targetAccounts"] != json!([ORG_ID]),
            "invalidTargetAccounts",
        ),
    ];
    if let Some((_, problem)) = problems.iter().find(|(bad, _)| *bad) {
        return json_reply(stream, "400 Bad Request", &json!({"message": problem}));
    }
    let key = json!({
        "authorizationId": format!("9d8e7f6a-0000-4000-8000-{:012}", state.keys.len() + 1),
        "displayName": body["displayName"],
        "publicData": public,
        "validFrom": "2026-11-22T00:00:00Z",
        "validTo": valid_to,
        "scope": "app_token",
        "targetAccounts": [ORG_ID],
        "isValid": true,
        "isPublic": true,
        "token": null,
        "userId": "a1b2c3d4-0000-4000-8000-000000000001"
    });
    if let Some(path) = &state.authorized_keys {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .unwrap();
        writeln!(file, "{public}").unwrap();
    }
    state.keys.push(key.clone());
    json_reply(stream, "200 OK", &key);
}

fn issue(state: &mut CloudState) -> Value {
    state.issued += 1;
    let access = format!("at-{}-secret", state.issued);
    let refresh = format!("rt-{}-secret", state.issued);
    if !(state.reject_first_token && state.issued == 1) {
        state.valid_tokens.push(access.clone());
    }
    state.refresh_tokens.push(refresh.clone());
    json!({"token_type": "Bearer", "scope": "499b84ac-1321-427f-aa17-267ca6975798/user_impersonation", "expires_in": 3599, "access_token": access, "refresh_token": refresh, "id_token": "e30.e30."})
}

fn entra_error(stream: &mut TcpStream, error: &str, description: &str) {
    json_reply(
        stream,
        "400 Bad Request",
        &json!({"error": error, "error_description": format!("{description}\r\nTrace ID: 0000\r\nCorrelation ID: 0000\r\nTimestamp: 2026-11-22 00:00:00Z"), "error_codes": [70016]}),
    );
}

fn entra(stream: &mut TcpStream, state: &mut CloudState, endpoint: &str, request: &Request) {
    let params = if request.method == "GET" {
        request.query.clone()
    } else {
        form(&request.body)
    };
    if params.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return entra_error(
            stream,
            "unauthorized_client",
            "AADSTS700016: Application not found in the directory.",
        );
    }
    match endpoint {
        "devicecode" => {
            assert!(params["scope"].contains("499b84ac-1321-427f-aa17-267ca6975798/.default"));
            json_reply(
                stream,
                "200 OK",
                &json!({"device_code": "dc-secret", "user_code": "FAKE-CODE", "verification_uri": "https://microsoft.com/devicelogin", "expires_in": 900, "interval": 1, "message": "To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code FAKE-CODE to authenticate."}),
            );
        }
        "authorize" => {
            let redirect = params.get("redirect_uri").cloned().unwrap_or_default();
            let ok = params.get("response_type").map(String::as_str) == Some("code")
                && params.get("code_challenge_method").map(String::as_str) == Some("S256")
                && redirect.starts_with("http://localhost:");
            if !ok {
                return reply(stream, "400 Bad Request", &[], "bad authorize request");
            }
            let code = format!("code-{}", state.codes.len() + 1);
            state.codes.insert(
                code.clone(),
                (params["code_challenge"].clone(), redirect.clone()),
            );
            let location = format!("{redirect}?code={code}&state={}", params["state"]);
            reply(stream, "302 Found", &[("Location", &location)], "");
        }
        "token" => match params.get("grant_type").map(String::as_str) {
            Some("urn:ietf:params:oauth:grant-type:device_code") => {
                if state.pending_polls > 0 {
                    state.pending_polls -= 1;
                    return entra_error(
                        stream,
                        "authorization_pending",
                        "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending.",
                    );
                }
                let tokens = issue(state);
                json_reply(stream, "200 OK", &tokens);
            }
            Some("authorization_code") => {
                let Some((challenge, redirect)) = state
                    .codes
                    .remove(params.get("code").map(String::as_str).unwrap_or(""))
                else {
                    return entra_error(
                        stream,
                        "invalid_grant",
                        "AADSTS70000: The provided code is invalid.",
                    );
                };
                let verifier = params.get("code_verifier").cloned().unwrap_or_default();
                let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(Sha256::digest(verifier.as_bytes()));
                if computed != challenge
                    || params.get("redirect_uri") != Some(&redirect)
                    || params.contains_key("client_secret")
                {
                    return entra_error(
                        stream,
                        "invalid_grant",
                        "AADSTS501481: The Code_Verifier does not match the code_challenge supplied in the authorization request.",
                    );
                }
                let tokens = issue(state);
                json_reply(stream, "200 OK", &tokens);
            }
            Some("refresh_token") => {
                let known = params
                    .get("refresh_token")
                    .is_some_and(|rt| state.refresh_tokens.contains(rt));
                if !known {
                    return entra_error(
                        stream,
                        "invalid_grant",
                        "AADSTS70008: The refresh token has expired.",
                    );
                }
                let tokens = issue(state);
                json_reply(stream, "200 OK", &tokens);
            }
            _ => entra_error(
                stream,
                "unsupported_grant_type",
                "AADSTS70003: unsupported grant type",
            ),
        },
        _ => reply(stream, "404 Not Found", &[], ""),
    }
}
