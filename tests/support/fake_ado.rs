//! A stand-in for Azure DevOps on 127.0.0.1, for the requests the agent makes without signing in.
//! It follows ../shared/reference/azure-devops-api.md section 4.1: organization `contoso` is
//! backed by tenant [`TENANT`], `msaorg` by personal Microsoft accounts, `slow` answers after
//! 8 s, and every other organization does not exist (404).

/// A stand-in for Azure DevOps' unauthenticated tenant answer on 127.0.0.1, shaped as
/// ../shared/reference/azure-devops-api.md section 4.1 shows it: `HEAD
/// /{org}/_apis/connectionData` answered 401 with `WWW-Authenticate: Bearer
/// authorization_uri=…` and `X-VSS-ResourceTenant`. It records what it was asked.
pub struct FakeAzureDevOps {
    pub base: String,
    pub requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

impl FakeAzureDevOps {
    pub fn start() -> FakeAzureDevOps {
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
