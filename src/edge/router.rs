//! The HTTP router: Slack endpoints behind signature verification, health,
//! readiness and metrics.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use secrecy::ExposeSecret;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

use super::{handlers, server, signature};
use crate::state::AppState;

/// Largest Slack request body accepted (Slack's own are far smaller).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The public router. `/metrics` is on it unless `server.metrics_listen`
/// gives it a listener of its own ([`metrics_router`]).
pub fn router(state: AppState) -> Router {
    let slack = Router::new()
        .route("/slack/interactions", post(handlers::interactions))
        .route("/slack/options", post(handlers::interactions))
        .route("/slack/commands", post(handlers::commands))
        .route("/slack/events", post(handlers::events))
        // Only these routes: any other path is a plain 404.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            verify_slack_signature,
        ));
    let mut public = Router::new()
        .merge(slack)
        .route(server::HEALTH_PATH, get(|| async { "ok" }))
        .route("/readyz", get(readyz));
    if state.config.server.metrics_listen.is_none() {
        public = public.route("/metrics", get(metrics));
    }
    let limit = (state.in_flight.clone(), state.metrics.clone());
    public
        .with_state(state)
        .layer(middleware::from_fn_with_state(
            limit,
            server::in_flight_limit,
        ))
        // A span per request (method, path), so a handler's logs say which
        // request they belong to; the response (status, latency) at debug.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::DEBUG)),
        )
}

/// `/metrics` alone, for `server.metrics_listen`.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Rejects anything not signed by Slack before a handler sees it, and keeps
/// the raw body for the handlers (typed events drop fields we need).
async fn verify_slack_signature(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let declared_too_big = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > MAX_BODY_BYTES);
    if declared_too_big {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    // The whole body within the deadline: a client trickling bytes holds a
    // connection and a request slot.
    let deadline = state.config.server.limits.body_timeout;
    let bytes = match tokio::time::timeout(deadline, axum::body::to_bytes(body, MAX_BODY_BYTES))
        .await
    {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
        Err(_) => return (StatusCode::REQUEST_TIMEOUT, "request body too slow").into_response(),
    };
    let Some(secret) = state.config.slack.signing_secret.as_ref() else {
        tracing::error!("SLACK_SIGNING_SECRET is not set; refusing Slack request");
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(e) = signature::verify(
        secret.expose_secret().as_bytes(),
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
        &bytes,
        state.clock.now().timestamp(),
    ) {
        tracing::warn!(path = %parts.uri.path(), error = %e, "rejected Slack request");
        return (StatusCode::UNAUTHORIZED, "invalid signature").into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(),
    )
        .into_response()
}
