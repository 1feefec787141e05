//! The accept loop: every connection is HTTP/1 with a header-read timeout (a client that does
//! not send a whole request head in time, including an idle keep-alive connection waiting for
//! its next request, is dropped), at most [`Limits::connections`] connections at once (more wait
//! in the kernel's queue until one ends, instead of using up the process's file descriptors),
//! and a graceful shutdown that lets requests in flight finish. The request timeout itself is a
//! middleware ([`request_timeout`]), so it covers slow request bodies too.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::Request as HttpRequest;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use super::Limits;
use super::auth::Peer;
use super::error::ApiError;

/// How long requests in flight may take to finish after a shutdown was asked for.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` resolves.
pub(super) async fn accept_loop(
    app: Router,
    listener: TcpListener,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, or a connection reset before it was taken:
                    // wait a moment rather than spin.
                    tracing::warn!("accepting a connection failed: {err}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let mut http = hyper::server::conn::http1::Builder::new();
        // A client may shut its sending side once its request is out: it still gets the answer
        // (the timeouts still end a connection that never completes its request).
        http.timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .half_close(true);
        // Every request learns its connection's peer (for the audit log).
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: HttpRequest<Incoming>| {
            request.extensions_mut().insert(Peer(peer));
            app.clone().oneshot(request)
        });
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN) => {
            tracing::warn!("requests still running after {} s were cut off at shutdown", DRAIN.as_secs());
        }
    }
    Ok(())
}

/// Answers 503 for a request that takes longer than [`Limits::request_timeout`] (reading a slow
/// body included), so one slow client never holds a connection and a database connection for
/// long.
pub(super) async fn request_timeout(
    axum::extract::State(limit): axum::extract::State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the request took longer than {} s", limit.as_secs_f32()),
            "send it again; an agent keeps its report and retries by itself",
        )
        .into_response(),
    }
}
