//! The one error type of the HTTP side. An [`ApiError`] is what the client reads (a status, a
//! message and a hint, as JSON `{"error": ..., "hint": ...}`) and, apart, what the log reads
//! (the cause, which may name database internals the client must not see). The [`log_errors`]
//! middleware writes that cause once, with the request's method and path, for every error.

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::store::StoreError;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// What happened, for the client.
    pub message: String,
    /// What to do about it, for the client.
    pub hint: String,
    /// The cause, for the server's log only.
    pub log: Option<String>,
    /// Seconds until a retry may succeed (`Retry-After`).
    pub retry_after: Option<u64>,
}

/// The cause of an error answer, carried from the handler to [`log_errors`].
#[derive(Debug, Clone)]
struct Cause(String);

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>, hint: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            hint: hint.into(),
            log: None,
            retry_after: None,
        }
    }

    /// The same error, with its cause for the log.
    pub fn logged(mut self, cause: impl std::fmt::Display) -> Self {
        self.log = Some(cause.to_string());
        self
    }

    /// The same error, with a `Retry-After`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The database did not answer: 503, the cause logged.
    pub fn unavailable(err: impl std::fmt::Display) -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the database is not answering",
            "try again; if it persists, check the server's database",
        )
        .logged(err)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        ApiError::unavailable(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(json!({ "error": self.message, "hint": self.hint })),
        )
            .into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(cause) = self.log {
            response.extensions_mut().insert(Cause(cause));
        }
        response
    }
}

/// Attaches the cause of an error answer made elsewhere (a dashboard page), for [`log_errors`].
pub fn with_cause(mut response: Response, cause: impl std::fmt::Display) -> Response {
    response.extensions_mut().insert(Cause(cause.to_string()));
    response
}

/// Logs every error answer once: server errors (5xx) with their cause as errors, the rest at
/// debug level (a client's mistake is not the server's problem).
pub async fn log_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let status = response.status();
    if let Some(Cause(cause)) = response.extensions().get::<Cause>() {
        tracing::error!(%method, %path, status = status.as_u16(), "{cause}");
    } else if status.is_server_error() {
        tracing::error!(%method, %path, status = status.as_u16(), "request failed");
    } else if status.is_client_error() {
        tracing::debug!(%method, %path, status = status.as_u16(), "request refused");
    }
    response
}
