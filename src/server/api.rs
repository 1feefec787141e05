//! The HTTP API: agents post reports; admins read devices and the fleet summary; health,
//! metrics and the OpenAPI document.
//!
//! Every error is JSON `{"error": ..., "hint": ...}`: what happened and what to do. Nothing from
//! the request is echoed back into an error but the names of the fields serde complains about.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::State;
use super::auth::{self, Admin};
use super::metrics::Metrics;
use super::store::{DeviceFilter, Stored};
use crate::report::{Report, SCHEMA_VERSION};

/// The longest text a report field may hold, and the most items in a report.
const MAX_FIELD: usize = 4096;
const MAX_ITEMS: usize = 10_000;

pub fn routes(_: &State) -> axum::Router<State> {
    axum::Router::new()
        .route("/api/v1/reports", post(receive))
        .route("/api/v1/summary", get(summary))
        .route("/api/v1/devices", get(devices))
        .route("/api/v1/devices/{device_id}/{user}", get(device))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
}

/// A JSON error response.
pub fn error(status: StatusCode, what: &str, hint: &str) -> Response {
    (status, Json(json!({ "error": what, "hint": hint }))).into_response()
}

/// `POST /api/v1/reports`: one report from an agent, with its enrollment token.
async fn receive(
    axum::extract::State(state): axum::extract::State<State>,
    request: Request,
) -> Response {
    let response = ingest(&state, request).await;
    let counter = match response.status() {
        StatusCode::ACCEPTED => &state.metrics.accepted,
        StatusCode::OK => &state.metrics.duplicates,
        _ => &state.metrics.rejected,
    };
    Metrics::count(counter);
    response
}

async fn ingest(state: &State, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Some(token) = auth::bearer(&parts.headers) else {
        return error(
            StatusCode::UNAUTHORIZED,
            "no enrollment token was sent",
            "set report.enrollment_token_file in the agent's managed configuration",
        );
    };
    match state.tokens.kind_of(token) {
        Some(auth::Kind::Enrollment) => {}
        // The admin token reads everything; it must not also be able to write reports, so a
        // leaked admin script cannot forge a fleet's state.
        Some(auth::Kind::Admin) => {
            return error(
                StatusCode::FORBIDDEN,
                "the admin token cannot send reports",
                "agents send reports with the enrollment token (report.enrollment_token_file)",
            );
        }
        None => {
            return error(
                StatusCode::UNAUTHORIZED,
                "the enrollment token is not valid",
                "check the token in the agent's managed configuration against the server's",
            );
        }
    }
    if let Err(wait) = state.rate.check(token, state.now()) {
        let mut response = error(
            StatusCode::TOO_MANY_REQUESTS,
            "too many reports for this token",
            "the agent retries later by itself",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, wait.into());
        return response;
    }
    if !is_json(&parts.headers) {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a report must be sent as application/json",
            "send the header Content-Type: application/json",
        );
    }
    let bytes = match axum::body::to_bytes(body, state.limits.body_bytes).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!(
                    "the report is larger than {} bytes",
                    state.limits.body_bytes
                ),
                "this is not a report ado-cutover writes; check what sends it",
            );
        }
    };
    let report = match parse(&bytes) {
        Ok(report) => report,
        Err((status, what, hint)) => return error(status, &what, hint),
    };
    let text = String::from_utf8_lossy(&bytes);
    match state.store.insert(&report, &text, state.now()).await {
        Ok(Stored::Accepted) => (
            StatusCode::ACCEPTED,
            Json(json!({ "status": "accepted", "report_id": report.report_id })),
        )
            .into_response(),
        Ok(Stored::Duplicate) => (
            StatusCode::OK,
            Json(json!({ "status": "duplicate", "report_id": report.report_id })),
        )
            .into_response(),
        Err(err) => {
            eprintln!("error: storing a report failed: {err}");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the report could not be stored",
                "the agent keeps it and sends it again later",
            )
        }
    }
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
pub fn parse(bytes: &[u8]) -> Result<Report, (StatusCode, String, &'static str)> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        (
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
            return Err((
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("report schema {v} is newer than this server reads ({SCHEMA_VERSION})"),
                "upgrade ado-cutover-server before the agents",
            ));
        }
        _ => {
            return Err((
                StatusCode::UNPROCESSABLE_ENTITY,
                "the report has no schema_version this server reads".into(),
                "send a report written by ado-cutover",
            ));
        }
    }
    let report: Report = serde_json::from_value(value).map_err(|e| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "the report does not match schema {SCHEMA_VERSION}: {}",
                describe(&e)
            ),
            "send a report written by ado-cutover",
        )
    })?;
    validate(&report).map_err(|what| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            what,
            "send a report written by ado-cutover",
        )
    })?;
    Ok(report)
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
        if value.len() > 255 {
            return Err(format!("{field} is longer than 255 bytes"));
        }
    }
    let items: usize = report.tasks.iter().map(|t| t.items.len()).sum();
    if items > MAX_ITEMS {
        return Err(format!("the report has more than {MAX_ITEMS} items"));
    }
    let long = report.tasks.iter().any(|t| {
        t.id.len() > 64
            || t.summary.len() > MAX_FIELD
            || t.items.iter().any(|i| {
                i.kind.len() > 64 || i.target.len() > MAX_FIELD || i.detail.len() > MAX_FIELD
            })
    });
    if long {
        return Err(format!(
            "a task or item field is longer than {MAX_FIELD} bytes"
        ));
    }
    Ok(())
}

async fn summary(_: Admin, axum::extract::State(state): axum::extract::State<State>) -> Response {
    match state.store.summary(state.now(), 30).await {
        Ok(summary) => Json(summary).into_response(),
        Err(err) => unavailable(err),
    }
}

async fn devices(
    _: Admin,
    axum::extract::State(state): axum::extract::State<State>,
    Query(filter): Query<DeviceFilter>,
) -> Response {
    match state.store.devices(&filter, state.now(), 10_000).await {
        Ok(rows) => Json(rows).into_response(),
        Err(err) => unavailable(err),
    }
}

async fn device(
    _: Admin,
    axum::extract::State(state): axum::extract::State<State>,
    Path((device_id, user)): Path<(String, String)>,
) -> Response {
    match state.store.device(&device_id, &user).await {
        Ok(Some((device, reports, latest))) => {
            Json(json!({ "device": device, "reports": reports, "latest": latest })).into_response()
        }
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "no report came from this device and user",
            "list devices with GET /api/v1/devices",
        ),
        Err(err) => unavailable(err),
    }
}

fn unavailable(err: super::store::StoreError) -> Response {
    eprintln!("error: reading the database failed: {err}");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the database is not answering",
        "try again; if it persists, check the server's database",
    )
}

async fn healthz(axum::extract::State(state): axum::extract::State<State>) -> Response {
    if state.store.healthy().await {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
    }
}

async fn metrics(axum::extract::State(state): axum::extract::State<State>) -> Response {
    let summary = state.store.summary(state.now(), 1).await;
    let (devices, stale) = match &summary {
        Ok(s) => (s.outcomes.clone().into_iter().collect::<Vec<_>>(), s.stale),
        Err(_) => (Vec::new(), 0),
    };
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(&devices, stale),
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
