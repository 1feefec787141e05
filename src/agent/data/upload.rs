//! Delivery of reports to `ado-cutover-server`. A user's run never waits long and never fails
//! because of it: every report goes to the [spool](crate::agent::data::spool) first and leaves it only once the
//! server has it. 5xx answers and timeouts are retried with backoff and jitter (an unreachable
//! server is not: the report waits for the next run), a 429 waits for
//! its Retry-After when that is short. A wrong token or address (401, 403, 404) stops delivery
//! with a hint that names the likely cause; a report the server cannot take (400, 413, 415,
//! 422) is set aside with its reason and the next one is sent, so one report never blocks the
//! rest. The server stores a report once however often it is sent (by `report_id`).

use std::path::Path;
use std::time::Duration;

use crate::agent::data::spool::Spool;
use crate::agent::fsutil;
use crate::agent::http;
use crate::agent::settings::Settings;
use crate::report::signature;

/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts per report for answers worth retrying.
const ATTEMPTS: u32 = 3;
/// The longest Retry-After worth waiting for in a user's run; longer ones wait for the next run.
const MAX_WAIT: Duration = Duration::from_secs(5);

/// Where reports go and the token that lets them in.
pub(crate) struct Endpoint {
    url: String,
    token: String,
}

/// What one delivery round did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Delivered {
    pub sent: usize,
    pub left: usize,
    /// Why delivery stopped, with a hint; `None` when everything went.
    pub problem: Option<String>,
    /// Reports the server refused for good, each with why: set aside, not sent again.
    pub set_aside: Vec<String>,
}

/// The answer to one request.
enum Answer {
    /// Stored (or stored before); with the device's key when the server gave it.
    Stored(Option<String>),
    /// Worth trying again, after this long if the server said.
    Retry(Option<Duration>, String),
    /// Will not work by trying again for any report (the token, the address): the reason and
    /// hint.
    Refused(String),
    /// This report will never be taken (too large, not readable by this server): the reason.
    NotThisOne(String),
}

impl Endpoint {
    /// The configured endpoint; `Ok(None)` when reporting is not configured.
    pub(crate) fn from_settings(settings: &Settings) -> Result<Option<Endpoint>, String> {
        let Some(base) = settings.report_endpoint() else {
            return Ok(None);
        };
        let Some(file) = settings.enrollment_token_file() else {
            return Err("report.endpoint is set but report.enrollment_token_file is not\nhint: set report.enrollment_token_file in the managed configuration".into());
        };
        let token = read_token(file)?;
        let base = base.trim_end_matches('/');
        let url = if base.ends_with("/api/v1/reports") {
            base.to_string()
        } else {
            format!("{base}/api/v1/reports")
        };
        Ok(Some(Endpoint { url, token }))
    }

    /// Sends every spooled report, oldest first, until one cannot be delivered.
    pub(crate) fn deliver(&self, spool: &Spool) -> Delivered {
        let agent = http::agent(TIMEOUT);
        let key_file = spool.key_file();
        let mut key = fsutil::read_capped_text(&key_file)
            .ok()
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty());
        let files = spool.list();
        let mut done = Delivered {
            left: files.len(),
            ..Delivered::default()
        };
        for file in files {
            let Ok(body) = std::fs::read(&file) else {
                continue;
            };
            match self.send_with_retries(&agent, &body, key.as_deref()) {
                Ok(given) => {
                    // The device's first report: keep the key it was given, privately.
                    if key.is_none()
                        && let Some(given) = given
                        && fsutil::write_atomic(&key_file, given.as_bytes(), 0o600).is_ok()
                    {
                        key = Some(given);
                    }
                    let _ = std::fs::remove_file(&file);
                    done.sent += 1;
                    done.left -= 1;
                }
                Err(Stop::NotThisOne(why)) => {
                    let name = file
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned();
                    let kept = match spool.set_aside(&file, &why) {
                        Ok(_) => "set aside",
                        Err(_) => "could not be set aside",
                    };
                    done.left -= 1;
                    done.set_aside.push(format!("{name}: {why} ({kept})"));
                }
                Err(Stop::All(problem)) => {
                    done.problem = Some(problem);
                    break;
                }
            }
        }
        done
    }

    fn send_with_retries(
        &self,
        agent: &ureq::Agent,
        body: &[u8],
        key: Option<&str>,
    ) -> Result<Option<String>, Stop> {
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            match self.send(agent, body, key) {
                Answer::Stored(given) => return Ok(given),
                Answer::Refused(why) => return Err(Stop::All(why)),
                Answer::NotThisOne(why) => return Err(Stop::NotThisOne(why)),
                Answer::Retry(wait, why) => {
                    last = why;
                    if attempt + 1 == ATTEMPTS {
                        break;
                    }
                    let wait = wait.unwrap_or_else(|| backoff(attempt));
                    if wait > MAX_WAIT {
                        break;
                    }
                    std::thread::sleep(wait);
                }
            }
        }
        Err(Stop::All(format!(
            "{last}\nhint: the report is kept and sent with the next run, or with `ado-cutover report --send`"
        )))
    }

    fn send(&self, agent: &ureq::Agent, body: &[u8], key: Option<&str>) -> Answer {
        let mut request = agent
            .post(&self.url)
            .header("Authorization", &format!("Bearer {}", self.token))
            .header("Content-Type", "application/json");
        if let Some(key) = key {
            request = request.header(signature::HEADER, &signature::sign(key, body));
        }
        let response = request.send(body);
        let response = match response {
            Ok(response) => response,
            Err(ureq::Error::Timeout(_)) => {
                return Answer::Retry(None, "the report server did not answer in time".into());
            }
            // Unreachable (offline, refused, no such host): trying again at once would only
            // keep the user waiting; the report waits in the spool instead.
            Err(_) => {
                return Answer::Refused(format!(
                    "the report server at {} could not be reached\nhint: the report is kept and sent with the next run, or with `ado-cutover report --send`",
                    self.url
                ));
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("Retry-After")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        match status {
            200..=299 => Answer::Stored(
                response
                    .into_body()
                    .read_to_string()
                    .ok()
                    .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
                    .and_then(|v| v["device_key"].as_str().map(str::to_string)),
            ),
            429 => Answer::Retry(retry_after, "the report server is busy (429)".into()),
            500..=599 => Answer::Retry(retry_after, format!("the report server failed ({status})")),
            401 => Answer::Refused(format!(
                "the report server refused the enrollment token ({status})\nhint: check report.enrollment_token_file against the server's enrollment token"
            )),
            403 => {
                let why = error_text(response);
                if why.contains("signs its reports") {
                    Answer::Refused(format!(
                        "the report server refused this device's report ({why})\nhint: if ado-cutover was reinstalled here, ask an admin to forget this device's key on its dashboard page"
                    ))
                } else {
                    Answer::Refused(format!(
                        "the report server refused the enrollment token ({status}: {why})\nhint: check report.enrollment_token_file against the server's enrollment token"
                    ))
                }
            }
            404 | 405 => Answer::Refused(format!(
                "{} is not an ado-cutover-server report address ({status})\nhint: check report.endpoint; it is the server's base URL, e.g. https://cutover.example.com",
                self.url
            )),
            400 | 413 | 415 | 422 => {
                let why = error_text(response);
                let advice = if status == 413 {
                    "it is larger than the server takes (its --max-report-bytes)"
                } else {
                    "if the server is older than this agent, upgrade ado-cutover-server"
                };
                Answer::NotThisOne(format!(
                    "the report server refused this report ({status}{}{why}); {advice}",
                    if why.is_empty() { "" } else { ": " }
                ))
            }
            _ => Answer::Refused(format!("the report server answered {status}")),
        }
    }
}

/// The `error` of a JSON error answer ("" when there is none).
fn error_text(response: ureq::http::Response<ureq::Body>) -> String {
    response
        .into_body()
        .read_to_string()
        .ok()
        .and_then(|body| serde_json::from_str::<serde_json::Value>(&body).ok())
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Why one report was not delivered.
enum Stop {
    /// Nothing can be delivered now (the token, the address, the network).
    All(String),
    /// Only this report: the server will never take it.
    NotThisOne(String),
}

/// Exponential backoff with jitter: about 0.5 s, 1 s, 2 s.
fn backoff(attempt: u32) -> Duration {
    let base = 500u64 << attempt.min(4);
    let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) * base / 512;
    Duration::from_millis(base + jitter)
}

/// The token in `file`: the first line that is not empty or a `#` comment; a line written by
/// ado-cutover-server (`enrollment=<token>`) works as it is.
fn read_token(file: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        format!(
            "cannot read the enrollment token file {}: {e}\nhint: check report.enrollment_token_file",
            file.display()
        )
    })?;
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.strip_prefix("enrollment=").unwrap_or(l).trim().to_string())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            format!(
                "the enrollment token file {} holds no token\nhint: put the server's enrollment token in it",
                file.display()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_files_plain_or_as_the_server_writes_them() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t");
        std::fs::write(&file, "  abc123  \n").unwrap();
        assert_eq!(read_token(&file).unwrap(), "abc123");
        std::fs::write(&file, "# enrollment token\nenrollment=def456\n").unwrap();
        assert_eq!(read_token(&file).unwrap(), "def456");
        std::fs::write(&file, "# nothing\n\n").unwrap();
        assert!(read_token(&file).unwrap_err().contains("hint:"));
    }

    /// A server on 127.0.0.1 that answers each connection with the next scripted response and
    /// records what it was sent.
    fn scripted(
        answers: &[&'static str],
    ) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        let answers: Vec<&'static str> = answers.to_vec();
        std::thread::spawn(move || {
            for answer in answers {
                let Ok((mut stream, _)) = listener.accept() else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // Read the head, then the body its Content-Length announces.
                loop {
                    let n = stream.read(&mut buf).unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                record
                    .lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&request).into_owned());
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        (base, seen)
    }

    fn endpoint(base: &str) -> Endpoint {
        Endpoint {
            url: format!("{base}/api/v1/reports"),
            token: "SECRET-TOKEN".into(),
        }
    }

    fn spool_with(n: usize) -> (tempfile::TempDir, Spool) {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path());
        for i in 0..n {
            let mut report = crate::agent::data::spool::sample_report(1_000_000 + i as i64);
            report.agent_version = format!("{i}");
            spool.add(&report).unwrap();
        }
        (dir, spool)
    }

    const ACCEPTED: &str =
        "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    const FAILED: &str =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    const BUSY: &str = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    const BUSY_LONG: &str = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 600\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    const TOO_NEW: &str =
        "HTTP/1.1 422 Unprocessable Entity\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

    #[test]
    fn server_errors_and_busy_answers_are_retried_then_delivered_in_order() {
        let (base, seen) = scripted(&[FAILED, BUSY, ACCEPTED, ACCEPTED]);
        let (_dir, spool) = spool_with(2);
        let started = std::time::Instant::now();
        let done = endpoint(&base).deliver(&spool);
        assert_eq!(
            done,
            Delivered {
                sent: 2,
                left: 0,
                problem: None,
                set_aside: Vec::new(),
            }
        );
        assert!(
            started.elapsed() >= Duration::from_millis(1400),
            "backoff, then Retry-After: 1"
        );
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 4);
        assert!(seen.iter().all(|r| {
            r.to_ascii_lowercase()
                .contains("authorization: bearer secret-token")
        }));
        assert!(
            seen[3].contains("\"agent_version\":\"1\""),
            "the older report goes first"
        );
        assert!(spool.list().is_empty());
    }

    #[test]
    fn a_long_retry_after_stops_and_keeps_the_reports_and_a_refused_report_is_set_aside() {
        let (base, _) = scripted(&[BUSY_LONG]);
        let (_dir, spool) = spool_with(2);
        let done = endpoint(&base).deliver(&spool);
        assert_eq!((done.sent, done.left), (0, 2));
        assert!(done.problem.unwrap().contains("busy (429)"));

        // The first report is refused for good: set aside, and the second still goes.
        let (base, seen) = scripted(&[TOO_NEW, ACCEPTED]);
        let done = endpoint(&base).deliver(&spool);
        assert_eq!(done.problem, None);
        assert_eq!((done.sent, done.left), (1, 0));
        assert_eq!(done.set_aside.len(), 1, "{:?}", done.set_aside);
        let why = &done.set_aside[0];
        assert!(
            why.contains("422") && why.contains("upgrade ado-cutover-server"),
            "{why}"
        );
        assert!(!why.contains("SECRET-TOKEN"));
        assert_eq!(seen.lock().unwrap().len(), 2, "a 422 is not retried");
        assert!(spool.list().is_empty());
    }

    #[test]
    fn backoff_grows_with_jitter() {
        for attempt in 0..3 {
            let d = backoff(attempt).as_millis() as u64;
            let base = 500u64 << attempt;
            assert!((base..base * 2).contains(&d), "{attempt}: {d}");
        }
    }
}
