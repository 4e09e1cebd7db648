//! Every request the fake received, recorded on arrival (before any hold
//! or fault) with the status it was answered, for tests to assert on.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{FakeTailnet, Shared};

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// The path exactly as sent (still percent-encoded).
    pub path: String,
    pub query: Option<String>,
    pub authorization: Option<String>,
    pub user_agent: Option<String>,
    pub content_type: Option<String>,
    /// The body parsed as JSON, when it is JSON.
    pub json: Option<Value>,
    /// The body as text (forms, broken JSON).
    pub body: String,
    /// When it arrived, by the fake's clock.
    pub at: DateTime<Utc>,
    /// The status answered; `None` while the request is still in flight.
    pub status: Option<u16>,
    seq: u64,
}

impl RecordedRequest {
    /// `"Basic"`, `"Bearer"` or `None`.
    pub fn auth_scheme(&self) -> Option<&str> {
        self.authorization
            .as_deref()
            .and_then(|a| a.split_whitespace().next())
    }
}

#[derive(Default)]
pub(super) struct Recording {
    requests: Vec<RecordedRequest>,
    next_seq: u64,
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Records a request as it arrives; the number to pass to [`answered`].
pub(super) fn arrived(shared: &Shared, parts: &Parts, body: &Bytes) -> u64 {
    let mut state = shared.state();
    let recording = &mut state.recording;
    let seq = recording.next_seq;
    recording.next_seq += 1;
    recording.requests.push(RecordedRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        authorization: header(&parts.headers, "authorization"),
        user_agent: header(&parts.headers, "user-agent"),
        content_type: header(&parts.headers, "content-type"),
        json: serde_json::from_slice(body).ok(),
        body: String::from_utf8_lossy(body).into_owned(),
        at: shared.clock.now(),
        status: None,
        seq,
    });
    seq
}

/// Notes the status request `seq` was answered with (unless the test
/// cleared the log meanwhile).
pub(super) fn answered(shared: &Shared, seq: u64, status: u16) {
    if let Some(r) = shared
        .state()
        .recording
        .requests
        .iter_mut()
        .rev()
        .find(|r| r.seq == seq)
    {
        r.status = Some(status);
    }
}

impl FakeTailnet {
    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state().recording.requests.clone()
    }

    /// How many requests had this method and a path containing `path_contains`.
    pub fn count(&self, method: &str, path_contains: &str) -> usize {
        self.shared
            .state()
            .recording
            .requests
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method) && r.path.contains(path_contains))
            .count()
    }

    pub fn clear_requests(&self) {
        self.shared.state().recording.requests.clear();
    }

    /// Wait (up to 10 s, then panic naming `what`) until `condition` holds.
    pub async fn wait_until(&self, what: &str, condition: impl Fn(&FakeTailnet) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !condition(self) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting until {what}; requests: {:#?}",
                self.requests()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
