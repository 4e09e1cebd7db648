//! What accessbot answers Slack, independent of the transport: an HTTP
//! response, or the acknowledgement of a Socket Mode envelope.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug, Clone, PartialEq)]
pub enum Ack {
    /// Received; nothing to say (200 with an empty body).
    Empty,
    /// Received, with an answer Slack acts on: `response_action`, options,
    /// a URL-verification challenge.
    Json(serde_json::Value),
    /// Malformed: a 400 over HTTP. Over Socket Mode it is acknowledged (so
    /// Slack does not redeliver it) and logged.
    BadRequest(&'static str),
    /// Could not be handled now (e.g. the database is down): 503.
    Unavailable,
}

impl IntoResponse for Ack {
    fn into_response(self) -> Response {
        match self {
            Ack::Empty => StatusCode::OK.into_response(),
            Ack::Json(v) => Json(v).into_response(),
            Ack::BadRequest(why) => (StatusCode::BAD_REQUEST, why).into_response(),
            Ack::Unavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "temporarily unavailable").into_response()
            }
        }
    }
}
