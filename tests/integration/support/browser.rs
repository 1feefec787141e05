//! Real headless Chromium (Debian's `chromium`), driven over the DevTools protocol: navigate,
//! read the page, take a screenshot. Its profile lives in a temporary folder.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

pub(crate) struct Browser {
    socket: WebSocket<TcpStream>,
    session: String,
    next_id: u64,
    child: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub(crate) fn launch() -> Browser {
        super::tools::require();
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--password-store=basic",
                "--remote-debugging-port=0",
                "--window-size=1280,1600",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .env("HOME", profile.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("Debian's chromium must be installed for this test (apt-get install chromium)");
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let mut address = None;
        for line in stderr.lines() {
            let line = line.unwrap();
            if let Some(at) = line.find("ws://") {
                address = Some(line[at..].trim().to_string());
                break;
            }
        }
        let address = address.expect("chromium printed no DevTools address");
        let url = url::Url::parse(&address).unwrap();
        let stream = TcpStream::connect((url.host_str().unwrap(), url.port().unwrap())).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let (socket, _) =
            tungstenite::client(address.as_str(), stream).expect("DevTools handshake");
        let mut browser = Browser {
            socket,
            session: String::new(),
            next_id: 0,
            child,
            _profile: profile,
        };
        let target = browser.call("Target.createTarget", json!({ "url": "about:blank" }));
        let target_id = target["targetId"].as_str().unwrap().to_string();
        let attached = browser.call(
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_string();
        browser
    }

    /// Sends one DevTools command and waits for its answer.
    pub(crate) fn call(&mut self, method: &str, params: Value) -> Value {
        self.try_call(method, params)
            .unwrap_or_else(|answer| panic!("{method}: {answer}"))
    }

    /// Sends one DevTools command and waits for its answer: its result, or the whole answer
    /// when it is an error.
    fn try_call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        self.socket
            .send(Message::Text(message.to_string().into()))
            .unwrap();
        loop {
            let Message::Text(text) = self.socket.read().expect("DevTools answer") else {
                continue;
            };
            let answer: Value = serde_json::from_str(&text).unwrap();
            if answer["id"] == id {
                return if answer["error"].is_null() {
                    Ok(answer["result"].clone())
                } else {
                    Err(answer)
                };
            }
        }
    }

    /// Evaluates `expression` while the page may be navigating (a form sent, a link followed):
    /// `None` when the page it was sent to went away before it answered.
    fn poll(&mut self, expression: &str) -> Option<Value> {
        const NAVIGATING: [&str; 3] = [
            "Inspected target navigated or closed",
            "Execution context was destroyed",
            "Cannot find context with specified id",
        ];
        let params = json!({ "expression": expression, "returnByValue": true });
        match self.try_call("Runtime.evaluate", params) {
            Ok(result) => Some(result["result"]["value"].clone()),
            Err(answer) => {
                let message = answer["error"]["message"].as_str().unwrap_or("");
                assert!(
                    NAVIGATING.iter().any(|m| message.contains(m)),
                    "Runtime.evaluate: {answer}"
                );
                None
            }
        }
    }

    /// Evaluates `expression` in the page (DevTools is not bound by the page's CSP).
    pub(crate) fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true }),
        );
        result["result"]["value"].clone()
    }

    /// Opens `url` and waits until the page has loaded.
    pub(crate) fn open(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url }));
        self.wait_loaded(url);
    }

    /// Waits until the page at `url` (or after it, a redirect) has loaded.
    pub(crate) fn wait_loaded(&mut self, url: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let state = self
                .poll("document.readyState + ' ' + location.href")
                .unwrap_or_default();
            let state = state.as_str().unwrap_or("");
            if state.starts_with("complete ") && !state.ends_with("about:blank") {
                return;
            }
            assert!(Instant::now() < deadline, "{url} did not load: {state}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `expression` is true in the page.
    pub(crate) fn wait_for(&mut self, expression: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.poll(&format!("!!({expression})")) != Some(Value::Bool(true)) {
            assert!(Instant::now() < deadline, "never true: {expression}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A PNG of the page.
    pub(crate) fn screenshot(&mut self) -> Vec<u8> {
        use base64::Engine;
        let shot = self.call(
            "Page.captureScreenshot",
            json!({ "format": "png", "captureBeyondViewport": true }),
        );
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
