//! Misbehaviour on demand: the next calls of a method fail (429 with
//! `Retry-After`, a Slack error code, a bare HTTP status), or every call of
//! a method is answered late. Faults apply after the token check and
//! before the scope check.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::server::slack_error;
use super::{FakeSlack, Inner};

/// What to do instead of answering normally.
#[derive(Debug, Clone)]
pub enum Fault {
    /// HTTP 429 with `Retry-After` seconds.
    RateLimited { retry_after: u64 },
    /// HTTP 200 with `{"ok": false, "error": code}`.
    Error(String),
    /// A bare HTTP status (e.g. 500, 503).
    Status(u16),
}

struct PlannedFault {
    method: String,
    remaining: usize,
    fault: Fault,
}

#[derive(Default)]
pub(super) struct FaultState {
    planned: Vec<PlannedFault>,
    latency: HashMap<String, Duration>,
}

impl FakeSlack {
    /// Fail the next `n` calls of `method` with `fault`.
    pub fn fail_next(&self, method: &str, n: usize, fault: Fault) {
        self.lock().faults.planned.push(PlannedFault {
            method: method.into(),
            remaining: n,
            fault,
        });
    }

    /// Answer `method` only after `delay`.
    pub fn set_latency(&self, method: &str, delay: Duration) {
        self.lock().faults.latency.insert(method.into(), delay);
    }
}

/// How long to wait before answering `method`.
pub(super) fn latency(inner: &Inner, method: &str) -> Option<Duration> {
    inner.faults.latency.get(method).copied()
}

/// The fault planned for this call of `method`, if any (used up by it).
pub(super) fn take(inner: &mut Inner, method: &str) -> Option<Fault> {
    let slot = inner
        .faults
        .planned
        .iter_mut()
        .find(|f| f.method == method && f.remaining > 0)?;
    slot.remaining -= 1;
    Some(slot.fault.clone())
}

impl Fault {
    /// The response, and the outcome recorded for the call.
    pub(super) fn response(self) -> (Response, String) {
        match self {
            Fault::RateLimited { retry_after } => (
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", retry_after.to_string())],
                    Json(json!({ "ok": false, "error": "ratelimited" })),
                )
                    .into_response(),
                "ratelimited".to_owned(),
            ),
            Fault::Error(code) => (slack_error(&code), code),
            Fault::Status(s) => (
                StatusCode::from_u16(s).unwrap().into_response(),
                s.to_string(),
            ),
        }
    }
}
