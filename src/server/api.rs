//! The HTTP API: agents post reports; admins read devices and the fleet summary; health,
//! metrics and the OpenAPI document.
//!
//! Every error is an [`ApiError`], JSON `{"error": ..., "hint": ...}`: what happened and what to
//! do. Nothing from the request is echoed back into an error but the names of the fields serde
//! complains about.

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::State;
use super::auth::{Enrolled, Refused, Viewer};
use super::error::ApiError;
use super::metrics::Metrics;
use super::store::{DeviceFilter, PAGE_MAX, RefusedReport, Stored, millis};
use crate::report::signature;
use crate::report::{Report, SCHEMA_VERSION};
use subtle::ConstantTimeEq;

pub fn routes(_: &State) -> axum::Router<State> {
    axum::Router::new()
        .route("/api/v1/reports", post(receive))
        .route("/api/v1/summary", get(summary))
        .route("/api/v1/groups", get(groups))
        .route("/api/v1/inventory", get(inventory))
        .route("/api/v1/devices", get(devices))
        .route("/api/v1/devices/{device_id}/{user}", get(device))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
}

/// `POST /api/v1/reports`: one report from an agent, with its enrollment token.
async fn receive(
    axum::extract::State(state): axum::extract::State<State>,
    enrolled: Result<Enrolled, ApiError>,
    request: Request,
) -> Response {
    let response = match enrolled {
        Ok(enrolled) => ingest(&state, request, enrolled.label.as_deref())
            .await
            .into_response(),
        Err(refused) => refused.into_response(),
    };
    let counter = match response.status() {
        StatusCode::ACCEPTED => &state.metrics.accepted,
        StatusCode::OK => &state.metrics.duplicates,
        _ => &state.metrics.rejected,
    };
    Metrics::count(counter);
    response
}

async fn ingest(
    state: &State,
    request: Request,
    label: Option<&str>,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    if !is_json(&parts.headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a report must be sent as application/json",
            "send the header Content-Type: application/json",
        ));
    }
    let bytes = axum::body::to_bytes(body, state.limits.body_bytes)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the report is larger than {} bytes",
                    state.limits.body_bytes
                ),
                "this is not a report ado-cutover writes; check what sends it",
            )
        })?;
    let report = parse(&bytes)?;
    let device = &report.device.device_id;
    let user = &report.user.name;
    let report_id = report.report_id.to_string();
    let known = state.store.device_key(device, user).await?;
    if let Some((secret, first_report)) = &known {
        let presented = parts
            .headers
            .get(signature::HEADER)
            .and_then(|v| v.to_str().ok());
        let expected = signature::sign(secret, &bytes);
        let signed =
            presented.is_some_and(|sig| bool::from(sig.as_bytes().ct_eq(expected.as_bytes())));
        if !signed {
            // The report that enrolled the device, sent again because the answer was lost:
            // its key goes back with it. Any other report already stored changes nothing.
            if state.store.has_report(&report_id).await? {
                let key = (*first_report == report_id).then_some(secret.as_str());
                return Ok(stored_answer(StatusCode::OK, "duplicate", &report_id, key));
            }
            let reason = if presented.is_none() {
                "it is not signed"
            } else {
                "it is signed with another key"
            };
            state
                .store
                .add_refused(&RefusedReport {
                    device_id: device.clone(),
                    user_name: user.clone(),
                    hostname: report.device.hostname.clone(),
                    refused_at: millis(state.now()),
                    reason: reason.into(),
                })
                .await?;
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("this device signs its reports, and {reason}"),
                "if ado-cutover was reinstalled on this device or its data folder was lost, an admin forgets the device's key on its dashboard page; its next report is then taken",
            ));
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    // A device's first report gives it its key (trust on first use), in the same transaction.
    let new_secret = known.is_none().then(super::auth::random_token);
    let (stored, enrolled) = state
        .store
        .insert_enrolling(&report, &text, state.now(), new_secret.as_deref(), label)
        .await
        .map_err(|err| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the report could not be stored",
                "the agent keeps it and sends it again later",
            )
            .logged(format!("storing a report failed: {err}"))
        })?;
    let (status, word) = match stored {
        Stored::Accepted => (StatusCode::ACCEPTED, "accepted"),
        Stored::Duplicate => (StatusCode::OK, "duplicate"),
    };
    let key = enrolled
        .filter(|(_, first)| *first == report_id)
        .map(|(key, _)| key);
    Ok(stored_answer(status, word, &report_id, key.as_deref()))
}

/// The answer to a stored (or duplicate) report, with the device's key when it is given.
fn stored_answer(status: StatusCode, word: &str, report_id: &str, key: Option<&str>) -> Response {
    let mut body = json!({ "status": word, "report_id": report_id });
    if let Some(key) = key {
        body["device_key"] = json!(key);
    }
    (status, Json(body)).into_response()
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// Reads and checks a report: 400 for what is not JSON, 422 for JSON that is not a report this
/// server understands.
pub fn parse(bytes: &[u8]) -> Result<Report, ApiError> {
    // A report as the agent writes it reads straight into its type; anything else is read
    // again as plain JSON, to say exactly what is wrong with it (that reading is what a report
    // cost twice over before).
    let report = match serde_json::from_slice::<Report>(bytes) {
        Ok(report) if report.schema_version == SCHEMA_VERSION => report,
        _ => read_for_errors(bytes)?,
    };
    checked(report)
}

/// The report, when its values are within what the server takes.
fn checked(report: Report) -> Result<Report, ApiError> {
    validate(&report).map_err(|what| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            what,
            "send a report written by ado-cutover",
        )
    })?;
    Ok(report)
}

/// A report read as plain JSON first: which of the JSON, its schema version or its shape is
/// wrong, else the report.
fn read_for_errors(bytes: &[u8]) -> Result<Report, ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "the body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
            "send the report exactly as the agent wrote it",
        )
    })?;
    let version = value.get("schema_version").and_then(Value::as_u64);
    match version {
        Some(v) if v == u64::from(SCHEMA_VERSION) => {}
        Some(v) if v > u64::from(SCHEMA_VERSION) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("report schema {v} is newer than this server reads ({SCHEMA_VERSION})"),
                "upgrade ado-cutover-server before the agents",
            ));
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the report has no schema_version this server reads",
                "send a report written by ado-cutover",
            ));
        }
    }
    serde_json::from_value(value).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "the report does not match schema {SCHEMA_VERSION}: {}",
                describe(&e)
            ),
            "send a report written by ado-cutover",
        )
    })
}

/// A serde error without the offending value (it could be anything).
fn describe(err: &serde_json::Error) -> String {
    let text = err.to_string();
    // serde's messages quote the bad value after "invalid type:"/"invalid value:"; keep only
    // the kind of problem and the position.
    let kind = text.split(':').next().unwrap_or("invalid");
    match text.find("missing field") {
        Some(at) => text[at..]
            .split(" at line")
            .next()
            .unwrap_or(kind)
            .to_string(),
        None => format!("{kind} at line {}, column {}", err.line(), err.column()),
    }
}

fn validate(report: &Report) -> Result<(), String> {
    let identity = [
        ("device.device_id", &report.device.device_id),
        ("device.hostname", &report.device.hostname),
        ("user.name", &report.user.name),
    ];
    for (field, value) in identity {
        if value.trim().is_empty() {
            return Err(format!("{field} is empty"));
        }
    }
    match crate::report::limits::check(report) {
        Some(over) => Err(over),
        None => Ok(()),
    }
}

#[derive(serde::Deserialize)]
struct GroupQuery {
    group: Option<String>,
}

async fn summary(
    _: Viewer,
    axum::extract::State(state): axum::extract::State<State>,
    query: Result<Query<GroupQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            rejection.body_text(),
            "use group (a name GET /api/v1/groups lists), or no parameter for the whole fleet",
        )
    })?;
    let summary = match query.group.as_deref().filter(|g| !g.is_empty()) {
        None => state.summary().await?,
        Some(group) => state.store.summary_in(state.now(), 30, Some(group)).await?,
    };
    Ok(Json(summary).into_response())
}

async fn groups(
    _: Viewer,
    axum::extract::State(state): axum::extract::State<State>,
) -> Result<Response, ApiError> {
    Ok(Json(state.store.groups().await?).into_response())
}

#[derive(serde::Deserialize)]
struct InventoryQuery {
    organization: Option<String>,
    group: Option<String>,
}

/// The inventory (before the switch, and what is still open after it): of one organization,
/// or of every organization reported; each with its readiness lines.
async fn inventory(
    _: Viewer,
    axum::extract::State(state): axum::extract::State<State>,
    query: Result<Query<InventoryQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            rejection.body_text(),
            "use organization and group, as /api/v1/openapi.json describes",
        )
    })?;
    let group = query.group.as_deref().filter(|g| !g.is_empty());
    let orgs = match query.organization.as_deref().filter(|o| !o.is_empty()) {
        Some(org) => vec![org.to_lowercase()],
        None => state.store.inventory_organizations().await?,
    };
    let mut out = Vec::with_capacity(orgs.len());
    for org in &orgs {
        let inventory = state.store.inventory(org, group).await?;
        let mut value = serde_json::to_value(&inventory).unwrap_or_default();
        value["readiness"] = json!(inventory.readiness());
        out.push(value);
    }
    Ok(Json(json!({ "organizations": out })).into_response())
}

async fn devices(
    _: Viewer,
    axum::extract::State(state): axum::extract::State<State>,
    filter: Result<Query<DeviceFilter>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(filter) = filter.map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            rejection.body_text(),
            "use outcome, q, group, limit (1 to 1000) and offset (0 or more), as /api/v1/openapi.json describes",
        )
    })?;
    let limit = filter.limit.unwrap_or(PAGE_MAX).clamp(1, PAGE_MAX);
    let mut rows = state.store.devices(&filter, state.now(), limit + 1).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let mut response = Json(rows).into_response();
    if more {
        // The next page: the same query with this offset.
        let next = filter.offset.unwrap_or(0).max(0) + limit;
        response
            .headers_mut()
            .insert("x-next-offset", axum::http::HeaderValue::from(next));
    }
    Ok(response)
}

async fn device(
    _: Viewer,
    axum::extract::State(state): axum::extract::State<State>,
    Path((device_id, user)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    match state.store.device(&device_id, &user).await? {
        Some(detail) => Ok(Json(detail).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no report came from this device and user",
            "list devices with GET /api/v1/devices",
        )),
    }
}

async fn healthz(axum::extract::State(state): axum::extract::State<State>) -> Response {
    if state.store.healthy().await {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
    }
}

/// `GET /metrics`: open, or for a token that may read (an API token, or the admin token) when
/// the server was started with `--metrics-token`.
async fn metrics(
    axum::extract::State(state): axum::extract::State<State>,
    reader: Result<Viewer, Refused>,
) -> Response {
    if state.metrics_need_token
        && let Err(refused) = reader
    {
        return refused.into_response();
    }
    let fleet = state.fleet_cache.get(&state.store, state.now()).await;
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(fleet.as_ref()),
    )
        .into_response()
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(include_str!("openapi.json")),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fuzz (#19): whatever bytes arrive as a report, the parser answers a report of this
    /// schema or a 400/422 with words and a hint, never a panic, never a logged error.
    /// A report as the agent writes it.
    fn seed() -> String {
        json!({
            "schema_version": SCHEMA_VERSION, "report_id": "6f1c2a9e-3b7d-4c1e-9a2b-0d4e5f6a7b8c",
            "agent_version": "0.1.0", "mode": "run",
            "started_at": "2026-11-30T08:00:00Z", "finished_at": "2026-11-30T08:00:05Z",
            "device": {"hostname": "pc-1", "os": "windows", "os_version": "11", "arch": "x86_64", "device_id": "d1"},
            "user": {"name": "alice", "upn": "alice@contoso.com"},
            "outcome": "done",
            "organizations": [{"name": "contoso", "switch": "switched", "verified": "ok"}],
            "tasks": [{"id": "credentials", "status": "done", "summary": "cleared", "items": [
                {"kind": "store", "target": "git:https://dev.azure.com/contoso", "status": "done", "detail": "deleted"}]}]
        })
        .to_string()
    }

    /// What `parse` says of `text`, after checking that reading the JSON first says the same.
    fn parsed_both_ways(text: &str) -> Result<Report, (u16, String)> {
        let direct = parse(text.as_bytes()).map_err(|e| (e.status.as_u16(), e.message));
        let first_as_json = read_for_errors(text.as_bytes())
            .and_then(checked)
            .map_err(|e| (e.status.as_u16(), e.message));
        assert_eq!(
            direct.as_ref().map(|r| serde_json::to_string(r).unwrap()),
            first_as_json
                .as_ref()
                .map(|r| serde_json::to_string(r).unwrap()),
            "{text}"
        );
        direct
    }

    #[test]
    fn a_report_read_directly_is_taken_or_refused_as_when_read_as_json_first() {
        let report = seed();
        assert!(parsed_both_ways(&report).is_ok());
        let newer = report.replacen(
            &format!("\"schema_version\":{SCHEMA_VERSION}"),
            "\"schema_version\":99",
            1,
        );
        assert_ne!(newer, report);
        let (status, message) = parsed_both_ways(&newer).unwrap_err();
        assert_eq!(status, 422);
        assert!(
            message.contains("newer than this server reads"),
            "{message}"
        );
        let none = report.replacen(
            &format!("\"schema_version\":{SCHEMA_VERSION}"),
            "\"schema_version\":1.0",
            1,
        );
        assert_eq!(parsed_both_ways(&none).unwrap_err().0, 422);
        // A key twice: plain JSON keeps the last, and so does the report.
        let twice = report.replacen("{", "{\"outcome\":\"failed\",", 1);
        assert!(parsed_both_ways(&twice).is_ok());
        let unknown = report.replacen("{", "{\"extra\":1,", 1);
        let _ = parsed_both_ways(&unknown);
        assert_eq!(parsed_both_ways("{").unwrap_err().0, 400);
    }

    #[test]
    fn fuzz_report_json() {
        let report = seed();
        assert!(parse(report.as_bytes()).is_ok(), "the seed is a report");
        let dictionary: &[&[u8]] = &[
            b"{",
            b"}",
            b"[",
            b"]",
            b"\"",
            b":",
            b",",
            b"null",
            b"1e999",
            b"-0",
            b"\\u0000",
            b"\\ud800",
            b"\"schema_version\": 99",
            b"\"status\": \"failed\"",
        ];
        crate::fuzz::run("report JSON", &[report.as_bytes()], dictionary, |bytes| {
            // The direct reading takes and refuses exactly what reading the JSON first does.
            let first_as_json = read_for_errors(bytes).and_then(checked);
            match (parse(bytes), first_as_json) {
                (Ok(report), Ok(same)) => {
                    assert_eq!(report.schema_version, SCHEMA_VERSION);
                    assert_eq!(
                        serde_json::to_string(&report).unwrap(),
                        serde_json::to_string(&same).unwrap()
                    );
                }
                (Err(err), Err(same)) => {
                    assert!(matches!(err.status.as_u16(), 400 | 422), "{}", err.status);
                    assert!(!err.message.is_empty() && !err.hint.is_empty());
                    assert!(
                        err.log.is_none(),
                        "a client's mistake is not logged as an error"
                    );
                    assert_eq!((err.status, err.message), (same.status, same.message));
                }
                (parsed, other) => panic!(
                    "the two readings differ: {:?} and {:?}",
                    parsed.map(|r| r.report_id),
                    other.map(|r| r.report_id)
                ),
            }
        });
    }
}
