//! The HTTP server loop, with the limits that keep one process standing
//! under load and attack (axum's own `serve` has none of them):
//!
//! - a client must send a request's headers within `header_timeout` (this
//!   also closes idle keep-alive connections), so half-open connections
//!   cannot pile up;
//! - at most `max_connections` connections are served; a few more (the
//!   overflow) are answered `503` with `Retry-After` (`/healthz` still
//!   `200`) and closed; beyond those, new connections are closed at once,
//!   so file descriptors stay bounded;
//! - graceful shutdown lets requests in progress finish, but ends after
//!   `shutdown_timeout` whatever is left (inside Kubernetes' grace period).
//!
//! The cap on requests in progress and the body deadline are middleware
//! ([`in_flight_limit`], and the body read in the signature check).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::ServerLimits;
use crate::metrics::Metrics;
use crate::state::InFlight;

/// The one path never refused for being busy: liveness must not fail
/// because the process is loaded.
pub const HEALTH_PATH: &str = "/healthz";

/// What a refused client is told to wait, in seconds.
const RETRY_AFTER_SECS: &str = "1";

/// How many connections past `max_connections` are still answered (503)
/// rather than closed unanswered.
fn overflow(max_connections: usize) -> usize {
    (max_connections / 16).clamp(8, 256)
}

/// `503 Service Unavailable` with `Retry-After`.
pub fn busy(why: &'static str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, RETRY_AFTER_SECS)],
        why,
    )
        .into_response()
}

/// Middleware: past `max_in_flight` requests in progress, `503` (never
/// for `/healthz`).
pub async fn in_flight_limit(
    State((limit, metrics)): State<(InFlight, Metrics)>,
    req: Request,
    next: Next,
) -> Response {
    if req.uri().path() == HEALTH_PATH {
        return next.run(req).await;
    }
    match limit.try_acquire() {
        Some(_slot) => next.run(req).await,
        None => {
            metrics.refused("in_flight");
            busy("too many requests in progress")
        }
    }
}

/// Middleware for connections past the cap: everything but `/healthz` is
/// refused, and the connection closed after the answer.
async fn over_capacity(req: Request, next: Next) -> Response {
    let mut response = if req.uri().path() == HEALTH_PATH {
        next.run(req).await
    } else {
        busy("too many connections")
    };
    response.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    response
}

/// Serves `router` on `listener` within `limits` until `shutdown`
/// resolves, then drains for at most `limits.shutdown_timeout`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    metrics: Metrics,
    shutdown: impl Future<Output = ()> + Send,
) {
    let stop = CancellationToken::new();
    let normal = Arc::new(Semaphore::new(limits.max_connections));
    let extra = overflow(limits.max_connections);
    let overflowing = Arc::new(Semaphore::new(extra));
    let refusing = router
        .clone()
        .layer(axum::middleware::from_fn(over_capacity));
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before
                    // it was accepted: pause briefly rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (permit, service) = match normal.clone().try_acquire_owned() {
            Ok(p) => (p, router.clone()),
            Err(_) => match overflowing.clone().try_acquire_owned() {
                Ok(p) => {
                    metrics.refused("connections");
                    (p, refusing.clone())
                }
                Err(_) => {
                    metrics.refused("connections");
                    drop(stream);
                    continue;
                }
            },
        };
        metrics.http_connections.inc();
        let (stop, metrics) = (stop.clone(), metrics.clone());
        connections.spawn(async move {
            serve_connection(stream, service, limits.header_timeout, stop).await;
            metrics.http_connections.dec();
            drop(permit);
        });
    }
    drop(listener);
    stop.cancel();
    let drained = tokio::time::timeout(limits.shutdown_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "shutdown deadline passed; closing the remaining connections"
        );
        connections.shutdown().await;
    }
}

/// One HTTP/1.1 connection (what Slack, probes and Prometheus speak),
/// closed gracefully (after the request in progress) once `stop` fires.
async fn serve_connection(
    stream: TcpStream,
    router: Router,
    header_timeout: Duration,
    stop: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let service = TowerToHyperService::new(router);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        // Timeouts and resets are what clients do; not worth a warning.
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
