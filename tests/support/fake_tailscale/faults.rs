//! Misbehaviour on demand, applied to every request after it is recorded
//! and before it is authenticated, in this order: held until released
//! ([`FakeTailnet::hold`], to make concurrency deterministic), delayed
//! ([`FakeTailnet::set_latency`]), failed ([`FakeTailnet::fail_next`]).
//! A write can also be applied and then answered with an error
//! ([`FakeTailnet::fail_next_after_applying`]): what a client sees when
//! its request timed out although Tailscale carried it out.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use tokio::sync::watch;

use super::server::error;
use super::{FakeTailnet, Shared};

/// Which requests a hold or fault applies to: this HTTP method and a path
/// containing this text.
struct RequestMatch {
    method: String,
    path_contains: String,
}

impl RequestMatch {
    fn new(method: &str, path_contains: &str) -> Self {
        Self {
            method: method.to_ascii_uppercase(),
            path_contains: path_contains.to_owned(),
        }
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method == method && path.contains(&self.path_contains)
    }
}

struct Fault {
    matching: RequestMatch,
    remaining: usize,
    status: u16,
    retry_after: Option<Duration>,
    /// Handle the request, then answer with the failure.
    after_applying: bool,
}

#[derive(Default)]
pub(super) struct FaultState {
    faults: Vec<Fault>,
    latency: Duration,
    holds: Vec<Arc<HoldInner>>,
}

/// Holds matching requests until released (or dropped). See [`FakeTailnet::hold`].
pub struct Hold {
    inner: Arc<HoldInner>,
    shared: Arc<Shared>,
}

struct HoldInner {
    matching: RequestMatch,
    released: watch::Sender<bool>,
    waiting: AtomicUsize,
    /// Matching requests still to let through before holding.
    skip: AtomicUsize,
}

impl Hold {
    /// How many requests are held right now.
    pub fn waiting(&self) -> usize {
        self.inner.waiting.load(Ordering::SeqCst)
    }

    /// Let every held request (and later matching ones) through.
    pub fn release(&self) {
        self.shared
            .state()
            .faults
            .holds
            .retain(|h| !Arc::ptr_eq(h, &self.inner));
        let _ = self.inner.released.send(true);
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.release();
    }
}

impl FakeTailnet {
    /// Answer the next `n` requests matching `method` and a path containing
    /// `path_contains` with `status` (and `Retry-After` in whole seconds)
    /// and `{"message": "injected failure"}`, before any auth check.
    pub fn fail_next(
        &self,
        method: &str,
        path_contains: &str,
        n: usize,
        status: u16,
        retry_after: Option<Duration>,
    ) {
        self.shared.state().faults.faults.push(Fault {
            matching: RequestMatch::new(method, path_contains),
            remaining: n,
            status,
            retry_after,
            after_applying: false,
        });
    }

    /// Carry out the next `n` requests matching `method` and `path_contains`,
    /// then answer them with `status` as if they had failed.
    pub fn fail_next_after_applying(
        &self,
        method: &str,
        path_contains: &str,
        n: usize,
        status: u16,
    ) {
        self.shared.state().faults.faults.push(Fault {
            matching: RequestMatch::new(method, path_contains),
            remaining: n,
            status,
            retry_after: None,
            after_applying: true,
        });
    }

    /// Forget every injected failure not yet used up.
    pub fn clear_faults(&self) {
        self.shared.state().faults.faults.clear();
    }

    /// Delay every answer by `latency` (zero for none).
    pub fn set_latency(&self, latency: Duration) {
        self.shared.state().faults.latency = latency;
    }

    /// Hold requests matching `method` and `path_contains` (after recording
    /// them) until the returned [`Hold`] is released or dropped.
    pub fn hold(&self, method: &str, path_contains: &str) -> Hold {
        self.hold_after(method, path_contains, 0)
    }

    /// [`FakeTailnet::hold`], letting the first `skip` matching requests
    /// through (e.g. hold the read-back after a write, not the read before).
    pub fn hold_after(&self, method: &str, path_contains: &str, skip: usize) -> Hold {
        let (released, _) = watch::channel(false);
        let inner = Arc::new(HoldInner {
            matching: RequestMatch::new(method, path_contains),
            released,
            waiting: AtomicUsize::new(0),
            skip: AtomicUsize::new(skip),
        });
        self.shared.state().faults.holds.push(inner.clone());
        Hold {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// What to do with a request after its holds and delays.
pub(super) enum Verdict {
    Handle,
    /// Answer with this instead of handling it.
    Refuse(Response),
    /// Handle it, then answer with this.
    HandleThenFail(Response),
}

/// Hold and delay the request as asked; then whether to handle it, and
/// whether to fail it (before or after handling).
pub(super) async fn intercept(shared: &Shared, method: &str, path: &str) -> Verdict {
    let hold = shared
        .state()
        .faults
        .holds
        .iter()
        .find(|h| h.matching.matches(method, path))
        .cloned();
    let skipped = hold.as_ref().is_some_and(|h| {
        h.skip
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    });
    if let (Some(hold), false) = (hold, skipped) {
        hold.waiting.fetch_add(1, Ordering::SeqCst);
        let mut released = hold.released.subscribe();
        let _ = released.wait_for(|r| *r).await;
        hold.waiting.fetch_sub(1, Ordering::SeqCst);
    }
    let latency = shared.state().faults.latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let (status, retry_after, after_applying) = {
        let mut state = shared.state();
        let Some(fault) = state
            .faults
            .faults
            .iter_mut()
            .find(|f| f.remaining > 0 && f.matching.matches(method, path))
        else {
            return Verdict::Handle;
        };
        fault.remaining -= 1;
        (fault.status, fault.retry_after, fault.after_applying)
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = error(status, "injected failure");
    if let Some(wait) = retry_after {
        response.headers_mut().insert(
            "retry-after",
            HeaderValue::from_str(&wait.as_secs().to_string()).expect("digits"),
        );
    }
    if after_applying {
        Verdict::HandleThenFail(response)
    } else {
        Verdict::Refuse(response)
    }
}
