//! The HTTP router: Slack endpoints behind signature verification, health,
//! readiness and metrics.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::slack::signature;
use crate::state::AppState;

/// Largest Slack request body accepted (Slack's own are far smaller).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub fn router(state: AppState) -> Router {
    let slack = Router::new()
        .route("/slack/interactions", post(interactions))
        .route("/slack/options", post(interactions))
        .route("/slack/commands", post(commands))
        .route("/slack/events", post(events))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            verify_slack_signature,
        ));
    Router::new()
        .merge(slack)
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
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
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
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

async fn interactions(
    State(_state): State<AppState>,
    _headers: HeaderMap,
    _body: Bytes,
) -> Response {
    StatusCode::OK.into_response()
}

async fn commands(State(_state): State<AppState>, _body: Bytes) -> Response {
    StatusCode::OK.into_response()
}

#[derive(Deserialize)]
struct EventEnvelope {
    #[serde(rename = "type")]
    kind: String,
    challenge: Option<String>,
}

async fn events(body: Bytes) -> Response {
    let Ok(envelope) = serde_json::from_slice::<EventEnvelope>(&body) else {
        return (StatusCode::BAD_REQUEST, "not an Events API payload").into_response();
    };
    match (envelope.kind.as_str(), envelope.challenge) {
        ("url_verification", Some(challenge)) => {
            Json(serde_json::json!({ "challenge": challenge })).into_response()
        }
        _ => StatusCode::OK.into_response(),
    }
}
