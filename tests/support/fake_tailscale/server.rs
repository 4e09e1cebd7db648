//! The HTTP side: the routes, and the gate every request passes before
//! its handler — recorded, then held, delayed or failed on demand, then
//! authenticated.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::{attributes, auth, devices, faults, recording, Shared};

const TOKEN_PATH: &str = "/api/v2/oauth/token";

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(TOKEN_PATH, post(auth::oauth_token))
        .route("/api/v2/tailnet/{tailnet}/devices", get(devices::list))
        .route("/api/v2/device/{id}", get(devices::get))
        .route("/api/v2/device/{id}/attributes", get(attributes::list))
        .route(
            "/api/v2/device/{id}/attributes/{key}",
            post(attributes::set).delete(attributes::delete),
        )
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not found") })
        .layer(axum::middleware::from_fn_with_state(shared.clone(), gate))
        .with_state(shared)
}

/// Record, hold, delay, inject faults, authenticate; then route.
async fn gate(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 16 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let seq = recording::arrived(&shared, &parts, &bytes);
    let response = async {
        let verdict = faults::intercept(&shared, &method, &path).await;
        if let faults::Verdict::Refuse(injected) = verdict {
            return injected;
        }
        if path != TOKEN_PATH {
            match auth::authenticate(&shared, &parts.headers) {
                Some(principal) => {
                    parts.extensions.insert(principal);
                }
                None => return error(StatusCode::UNAUTHORIZED, "API token invalid"),
            }
        }
        let handled = next
            .run(Request::from_parts(parts, Body::from(bytes)))
            .await;
        match verdict {
            faults::Verdict::HandleThenFail(failure) if handled.status().is_success() => failure,
            _ => handled,
        }
    }
    .await;
    recording::answered(&shared, seq, response.status().as_u16());
    response
}

/// Tailscale's error shape: `{"message": …}`.
pub(super) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "message": message.into() }))).into_response()
}

pub(super) fn bad_request(message: impl Into<String>) -> Response {
    error(StatusCode::BAD_REQUEST, message)
}
