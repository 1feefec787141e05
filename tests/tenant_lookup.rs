//! The unauthenticated tenant lookup of the `remotes` task against a local stand-in for Azure
//! DevOps. The repositories are written by hand (a minimal `.git`), so this runs everywhere,
//! the Windows build under Wine included.

mod support;

use serde_json::Value;
use support::{Sandbox, text};

/// A repository at `~/<rel>` whose `origin` is `url`: the files `git init` and
/// `git remote add` would write, and nothing more.
fn repo(sandbox: &Sandbox, rel: &str, url: &str) {
    let git = sandbox.paths.home.join(rel).join(".git");
    std::fs::create_dir_all(git.join("objects")).unwrap();
    std::fs::create_dir_all(git.join("refs").join("heads")).unwrap();
    std::fs::write(git.join("HEAD"), "ref: refs/heads/main\n").unwrap();
    std::fs::write(
        git.join("config"),
        format!("[core]\n\trepositoryformatversion = 0\n\tbare = false\n[remote \"origin\"]\n\turl = {url}\n"),
    )
    .unwrap();
}

fn items(report: &Value) -> Vec<Value> {
    support::task_items(report, "remotes")
}

fn item<'a>(items: &'a [Value], target: &str, kind: &str) -> &'a Value {
    items
        .iter()
        .find(|i| i["kind"] == kind && i["target"] == target)
        .unwrap_or_else(|| panic!("no {kind} item for {target}: {items:#?}"))
}

/// A stand-in for Azure DevOps' unauthenticated tenant answer on 127.0.0.1, shaped as
/// ../shared/reference/azure-devops-api.md section 4.1 shows it: `HEAD
/// /{org}/_apis/connectionData` answered 401 with `WWW-Authenticate: Bearer
/// authorization_uri=…` and `X-VSS-ResourceTenant`. It records what it was asked.
struct FakeAzureDevOps {
    base: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

impl FakeAzureDevOps {
    fn start() -> FakeAzureDevOps {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut request = String::new();
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                        request.push_str(&line);
                        line.clear();
                    }
                    log.lock().unwrap().push(request.clone());
                    let org = request.split('/').nth(1).unwrap_or_default().to_string();
                    let reply = match org.as_str() {
                        "contoso" => format!(
                            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer authorization_uri=https://login.microsoftonline.com/{TENANT}\r\nWWW-Authenticate: Basic realm=\"https://dev.azure.com/\"\r\nX-VSS-ResourceTenant: {TENANT}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        ),
                        "msaorg" => "HTTP/1.1 401 Unauthorized\r\nX-VSS-ResourceTenant: 00000000-0000-0000-0000-000000000000\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
                        "slow" => {
                            std::thread::sleep(std::time::Duration::from_secs(8));
                            "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
                        }
                        _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
                    };
                    let _ = stream.write_all(reply.as_bytes());
                });
            }
        });
        FakeAzureDevOps { base, requests }
    }
}

#[test]
fn each_organization_is_checked_once_for_its_tenant() {
    let sandbox = Sandbox::new();
    for (rel, org) in [
        ("a", "contoso"),
        ("b", "contoso"),
        ("c", "msaorg"),
        ("d", "gone"),
        ("e", "slow"),
    ] {
        repo(
            &sandbox,
            rel,
            &format!("https://dev.azure.com/{org}/proj/_git/{rel}"),
        );
    }
    let fake = FakeAzureDevOps::start();
    let out = sandbox
        .cmd()
        .args(["plan", "--json", "--only", "remotes"])
        .env(ado_cutover::agent::ado::tenant::BASE_URL_VAR, &fake.base)
        .env("ADO_CUTOVER_EXPECTED_TENANT", TENANT)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(10),
        "the unmoved organization needs the user: {}",
        text(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = items(&report);
    let org = |name: &str| item(&items, name, "organization").clone();
    assert_eq!(org("contoso")["status"], "info");
    assert!(org("contoso")["detail"].as_str().unwrap().contains(TENANT));
    assert_eq!(org("msaorg")["status"], "needs-user");
    assert!(
        org("msaorg")["detail"]
            .as_str()
            .unwrap()
            .contains("has not moved")
    );
    assert!(
        org("gone")["detail"]
            .as_str()
            .unwrap()
            .contains("has no organization gone")
    );
    let slow = org("slow");
    assert!(
        slow["detail"]
            .as_str()
            .unwrap()
            .contains("did not answer in time"),
        "{slow}"
    );

    let requests = fake.requests.lock().unwrap().clone();
    let contoso: Vec<&String> = requests
        .iter()
        .filter(|r| r.starts_with("HEAD /contoso/"))
        .collect();
    assert_eq!(
        contoso.len(),
        1,
        "one lookup per organization per run: {requests:#?}"
    );
    let request = contoso[0].to_ascii_lowercase();
    assert!(
        request.starts_with("head /contoso/_apis/connectiondata http/1.1"),
        "{request}"
    );
    assert!(
        request.contains("x-tfs-fedauthredirect: suppress"),
        "{request}"
    );
    assert!(request.contains("accept: application/json"), "{request}");
}
