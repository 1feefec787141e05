//! A webhook receiver on 127.0.0.1 for the tests: it keeps every request (headers, lower-case
//! names, and body) and answers each with the next status of its script (200 once the script
//! is used up), as a Teams, Slack or ticketing endpoint would.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

pub(crate) struct Receiver {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    /// A receiver that answers `script` in order, then 200.
    pub(crate) fn start(script: &[u16]) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook/secret-path", listener.local_addr().unwrap());
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let script: Arc<Mutex<VecDeque<u16>>> =
            Arc::new(Mutex::new(script.iter().copied().collect()));
        let keep = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut headers = HashMap::new();
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = header.trim_end().split_once(':') {
                        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
                    }
                }
                let length: usize = headers
                    .get("content-length")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0u8; length];
                let _ = reader.read_exact(&mut body);
                keep.lock().unwrap().push(Received {
                    path,
                    headers,
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                let status = script.lock().unwrap().pop_front().unwrap_or(200);
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Receiver { url, received }
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits up to 20 s until `done` holds for what was received; returns it.
    pub(crate) fn wait_for(&self, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let got = self.received();
            if done(&got) || std::time::Instant::now() > until {
                return got;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}
