//! Misbehaviour on demand, and Slack's rate limits: the next calls of a
//! method fail (429 with `Retry-After`, a Slack error code, a bare HTTP
//! status), every call of a method is answered late, or calls of a method
//! are held until the test releases them. Methods with a rate tier answer
//! 429 (with `Retry-After`) once a minute's calls are used up, as Slack
//! does. Faults and limits apply after the token check and before the
//! scope check.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

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

/// Calls a minute per method, by Slack's documented tiers (Tier 2: 20,
/// Tier 3: 50, Tier 4: 100), for the methods the people directory uses
/// and for App Home publishing.
pub const TIER_LIMITS: &[(&str, usize)] = &[
    ("users.info", 100),
    ("users.lookupByEmail", 50),
    ("users.list", 20),
    ("usergroups.list", 20),
    ("usergroups.users.list", 20),
    ("views.publish", 100),
];

const RATE_WINDOW: Duration = Duration::from_secs(60);

pub(super) struct FaultState {
    planned: Vec<PlannedFault>,
    latency: HashMap<String, Duration>,
    /// Calls allowed per minute, by method.
    limits: HashMap<String, usize>,
    /// When each rate-limited method was last answered, oldest first.
    recent: HashMap<String, VecDeque<Instant>>,
    /// Methods whose calls wait until released.
    held: tokio::sync::watch::Sender<BTreeSet<String>>,
    /// Calls waiting in a hold right now.
    waiting: usize,
}

impl Default for FaultState {
    fn default() -> Self {
        Self {
            planned: Vec::new(),
            latency: HashMap::new(),
            limits: TIER_LIMITS
                .iter()
                .map(|(m, n)| ((*m).to_owned(), *n))
                .collect(),
            recent: HashMap::new(),
            held: tokio::sync::watch::Sender::new(BTreeSet::new()),
            waiting: 0,
        }
    }
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

    /// Allow `per_minute` calls of `method` a minute (`None`: no limit).
    pub fn set_rate_limit(&self, method: &str, per_minute: Option<usize>) {
        let mut inner = self.lock();
        match per_minute {
            Some(n) => inner.faults.limits.insert(method.into(), n),
            None => inner.faults.limits.remove(method),
        };
    }

    /// Calls of `method` wait, unanswered, until [`FakeSlack::release`].
    pub fn hold(&self, method: &str) {
        self.lock().faults.held.send_modify(|held| {
            held.insert(method.to_owned());
        });
    }

    /// Answer the held calls of `method`, and later ones at once.
    pub fn release(&self, method: &str) {
        self.lock().faults.held.send_modify(|held| {
            held.remove(method);
        });
    }

    /// How many calls are waiting in a hold now.
    pub fn held_calls(&self) -> usize {
        self.lock().faults.waiting
    }
}

/// How long to wait before answering `method`.
pub(super) fn latency(inner: &Inner, method: &str) -> Option<Duration> {
    inner.faults.latency.get(method).copied()
}

/// Wait while `method` is held.
pub(super) async fn wait_while_held(inner: &super::SharedInner, method: &str) {
    let mut held = {
        let mut guard = inner.lock().unwrap();
        if !guard.faults.held.borrow().contains(method) {
            return;
        }
        guard.faults.waiting += 1;
        guard.faults.held.subscribe()
    };
    let _ = held.wait_for(|h| !h.contains(method)).await;
    inner.lock().unwrap().faults.waiting -= 1;
}

/// Slack's answer when this call would exceed the method's rate limit:
/// 429 with the seconds until the oldest call of the last minute ages out.
pub(super) fn over_limit(inner: &mut Inner, method: &str) -> Option<Fault> {
    let limit = *inner.faults.limits.get(method)?;
    let now = Instant::now();
    let recent = inner.faults.recent.entry(method.to_owned()).or_default();
    while recent
        .front()
        .is_some_and(|at| now.duration_since(*at) >= RATE_WINDOW)
    {
        recent.pop_front();
    }
    if recent.len() >= limit {
        let oldest = *recent.front()?;
        let left = RATE_WINDOW.saturating_sub(now.duration_since(oldest));
        return Some(Fault::RateLimited {
            retry_after: left.as_secs().max(1),
        });
    }
    recent.push_back(now);
    None
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
