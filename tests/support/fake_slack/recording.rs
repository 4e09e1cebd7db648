//! Every call the fake received, with what it answered, for tests to
//! assert on.

use std::time::Instant;

use serde_json::Value;

use super::{FakeSlack, Inner};

/// One recorded Web API call.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    /// JSON body, form fields or query parameters, as one JSON object.
    pub params: Value,
    pub at: Instant,
    /// What the fake answered: `ok` or the error code / HTTP status.
    pub outcome: String,
}

pub(super) fn record(inner: &mut Inner, method: String, params: Value, outcome: String) {
    inner.calls.push(Call {
        method,
        params,
        at: Instant::now(),
        outcome,
    });
}

impl FakeSlack {
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Parameters of every successful call of `method`.
    pub fn calls_to(&self, method: &str) -> Vec<Value> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.method == method && c.outcome == "ok")
            .map(|c| c.params.clone())
            .collect()
    }

    pub fn count(&self, method: &str) -> usize {
        self.calls_to(method).len()
    }
}
