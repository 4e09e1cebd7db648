//! The one writer of posture attributes. Every change to an attribute —
//! grant, revoke, expiry, a cancelled approval, reconciliation — goes
//! through [`converge`] for its (device, attribute key) pair, which:
//!
//! 1. takes the pair's lock (in this process, then across replicas: a
//!    lease row with a fencing token);
//! 2. reads the pair's requests from the database *after* taking it;
//! 3. reads what the device carries and computes what it should carry
//!    ([`crate::domain::access::wanted`]);
//! 4. writes the difference to Tailscale and reads it back;
//! 5. records what it did, and only then moves the requests whose status
//!    speaks of the tailnet (`active`, `expired`, `revoked`, `failed`).
//!
//! A list read before the lock can only say *which* pairs to converge; it
//! never decides a write. A status that says access exists or ended is
//! written after Tailscale was seen to agree.

use std::time::Duration;

use super::jobs::JobError;
use super::settle::{self, Seen};
use crate::domain::access::{accounted_for, matches, wanted, Carried, Pair, Wanted};
use crate::domain::{AccessRequest, RequestStatus};
use crate::state::AppState;
use crate::store::{RequestFilter, StoreError};
use crate::tailscale::{DeviceAttributes, TailscaleError};

/// How long the pair's lease lasts without renewal; renewed before each
/// Tailscale call, so it outlasts any one call (timeout and retries).
pub const LOCK_TTL: Duration = Duration::from_secs(120);
/// How long to wait for another replica's converge of the same pair.
const LOCK_WAIT: Duration = Duration::from_secs(10);
const LOCK_POLL: Duration = Duration::from_millis(50);

#[derive(Debug, thiserror::Error)]
pub enum ConvergeError {
    #[error(transparent)]
    Tailscale(#[from] TailscaleError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("another replica is changing this device's attribute")]
    Busy,
    #[error("lost the lock on this device's attribute to another replica")]
    LockLost,
    #[error("Tailscale answered, but the device does not carry the change: {0}")]
    NotApplied(String),
}

impl ConvergeError {
    /// Tailscale refused for good (not worth retrying soon).
    pub fn is_refusal(&self) -> bool {
        matches!(self, Self::Tailscale(e) if !e.is_transient())
    }
}

impl From<ConvergeError> for JobError {
    fn from(e: ConvergeError) -> Self {
        match e {
            ConvergeError::Tailscale(e) => e.into(),
            ConvergeError::Store(e) => e.into(),
            other => JobError::retry(other),
        }
    }
}

/// What one converge saw and did.
#[derive(Debug, Clone)]
pub struct Converged {
    /// The pair's requests as read under the lock (before the status
    /// changes this converge made).
    pub requests: Vec<AccessRequest>,
    /// The device's attributes after the converge; `None`: the device is gone.
    pub attributes: Option<DeviceAttributes>,
    /// Whether the attribute was written (set or removed).
    pub wrote: bool,
    /// Whether it was written back after disappearing while active grants
    /// needed it (only with `worker.missing_attribute = "reapply"`).
    pub reapplied: bool,
    /// Active grants that ended because their attribute was removed outside accessbot.
    pub ended_outside: Vec<AccessRequest>,
}

/// The pair's lease in the database, held for one converge.
struct Lease<'a> {
    state: &'a AppState,
    name: String,
    token: i64,
}

impl<'a> Lease<'a> {
    /// Take the pair's lease, waiting up to `wait` for another replica's.
    async fn take(
        state: &'a AppState,
        pair: &Pair,
        wait: Duration,
    ) -> Result<Lease<'a>, ConvergeError> {
        let name = pair.lock_name();
        let deadline = tokio::time::Instant::now() + wait;
        let mut waited = false;
        loop {
            let taken = state
                .store
                .acquire_lock(&name, &state.instance, state.now(), LOCK_TTL)
                .await?;
            if let Some(token) = taken {
                return Ok(Lease { state, name, token });
            }
            if !waited {
                waited = true;
                state.metrics.attribute_lock_waits.inc();
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ConvergeError::Busy);
            }
            tokio::time::sleep(LOCK_POLL).await;
        }
    }

    /// Still ours (extended): the fence before every write and record.
    async fn renew(&self) -> Result<(), ConvergeError> {
        let held = self
            .state
            .store
            .renew_lock(&self.name, self.token, self.state.now(), LOCK_TTL)
            .await?;
        if held {
            Ok(())
        } else {
            Err(ConvergeError::LockLost)
        }
    }

    async fn release(self) {
        if let Err(e) = self.state.store.release_lock(&self.name, self.token).await {
            // It runs out by itself.
            tracing::warn!(lock = %self.name, error = %e, "could not release an attribute lock");
        }
    }
}

/// Bring the pair's attribute on the tailnet to what its requests say, and
/// the requests to what the tailnet was seen to carry. Waits a while for a
/// converge of the same pair on another replica.
pub async fn converge(state: &AppState, pair: &Pair) -> Result<Converged, ConvergeError> {
    converge_within(state, pair, LOCK_WAIT, None).await
}

/// [`converge`] the pair of `req`, which may have just left it (a cancelled
/// approval, an expiry): what `req` could have put on the device is
/// removed even when no live request is left on the pair.
pub async fn converge_for(
    state: &AppState,
    req: &AccessRequest,
) -> Result<Converged, ConvergeError> {
    converge_within(state, &Pair::of(req), LOCK_WAIT, Some(req)).await
}

/// [`converge`], unless another replica is converging the pair right now
/// (`Busy` at once): for reconciliation, which only needs the pair done.
pub async fn converge_unless_busy(
    state: &AppState,
    pair: &Pair,
) -> Result<Converged, ConvergeError> {
    converge_within(state, pair, Duration::ZERO, None).await
}

async fn converge_within(
    state: &AppState,
    pair: &Pair,
    wait: Duration,
    trigger: Option<&AccessRequest>,
) -> Result<Converged, ConvergeError> {
    let waits = &state.metrics.attribute_lock_waits;
    let _local = state.pairs.lock(pair, || waits.inc()).await;
    let lease = Lease::take(state, pair, wait).await?;
    let result = converge_held(state, pair, &lease, trigger).await;
    lease.release().await;
    if let Err(e) = &result {
        tracing::warn!(node = %pair.node, error = %e, "could not converge a device's attribute");
    }
    result
}

/// The requests on the pair that may need, or may have left, its attribute
/// (never a request to extend a grant: the grant carries its time).
async fn live_requests(state: &AppState, pair: &Pair) -> Result<Vec<AccessRequest>, StoreError> {
    let on_device = state
        .store
        .list_requests(&RequestFilter {
            statuses: RequestStatus::LIVE.to_vec(),
            node_id: Some(pair.node.clone()),
            ..Default::default()
        })
        .await?;
    Ok(on_device
        .into_iter()
        .filter(|r| pair.covers(r) && !r.is_extension())
        .collect())
}

/// What the device carries for the pair's key (Tailscale's keys are
/// case-insensitive).
fn carried(attrs: &DeviceAttributes, pair: &Pair) -> Carried {
    let found = attrs
        .attributes
        .iter()
        .find(|(k, _)| pair.is_key(k))
        .map(|(k, v)| (k.clone(), v.clone()));
    Carried {
        expiry: found
            .as_ref()
            .and_then(|(k, _)| attrs.expiries.get(k).copied()),
        value: found.map(|(_, v)| v),
    }
}

async fn converge_held(
    state: &AppState,
    pair: &Pair,
    lease: &Lease<'_>,
    trigger: Option<&AccessRequest>,
) -> Result<Converged, ConvergeError> {
    let mut requests = live_requests(state, pair).await?;
    lease.renew().await?;
    let attrs = match state.tailscale.get_attributes(&pair.node).await {
        Ok(attrs) => attrs,
        Err(TailscaleError::NotFound { .. }) => {
            lease.renew().await?;
            settle::record(state, &requests, Seen::DeviceGone).await?;
            return Ok(Converged {
                requests,
                attributes: None,
                wrote: false,
                reapplied: false,
                ended_outside: Vec::new(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let now = state.now();
    let before = carried(&attrs, pair);
    let ended_outside = if before.value.is_none() {
        lease.renew().await?;
        settle::removed_outside(state, &requests, now).await?
    } else {
        Vec::new()
    };
    if !ended_outside.is_empty() {
        requests = live_requests(state, pair).await?;
    }
    let target = wanted(&requests, now);
    let mut after = attrs;
    // With no live request left, only what the request that asked for this
    // converge could have set is removed: an attribute an admin set by hand
    // is reported by reconciliation, never deleted.
    let ours = target.is_some()
        || !requests.is_empty()
        || accounted_for(
            before.expiry,
            trigger.map(std::slice::from_ref).unwrap_or_default(),
        );
    let wrote = ours && !matches(&before, target.as_ref());
    let mut reapplied = false;
    if wrote {
        lease.renew().await?;
        write(state, pair, target.as_ref(), &requests).await?;
        after = state.tailscale.get_attributes(&pair.node).await?;
        let back = carried(&after, pair);
        if !matches(&back, target.as_ref()) {
            return Err(ConvergeError::NotApplied(format!(
                "wanted {target:?}, the device carries {back:?}"
            )));
        }
        lease.renew().await?;
        // Only with `worker.missing_attribute = "reapply"` can an active
        // grant's missing attribute be written back.
        reapplied =
            before.value.is_none() && requests.iter().any(|r| r.status == RequestStatus::Active);
        settle::record_write(state, &requests, target.as_ref(), reapplied, now).await?;
    }
    lease.renew().await?;
    settle::record(state, &requests, Seen::Matches(target.as_ref())).await?;
    Ok(Converged {
        requests,
        attributes: Some(after),
        wrote,
        reapplied,
        ended_outside,
    })
}

/// Set or remove the attribute so that the device carries `target`.
async fn write(
    state: &AppState,
    pair: &Pair,
    target: Option<&Wanted>,
    requests: &[AccessRequest],
) -> Result<(), TailscaleError> {
    let key = &pair.key;
    match target {
        Some(w) => {
            let comment = requests
                .iter()
                .find(|r| r.id == w.for_request)
                .map(comment_for)
                .unwrap_or_default();
            state
                .tailscale
                .set_attribute(&pair.node, key, &w.value, Some(w.expiry), &comment)
                .await
        }
        None => match state.tailscale.delete_attribute(&pair.node, key).await {
            // Gone already; the read-back tells whether the device is.
            Err(TailscaleError::NotFound { .. }) => Ok(()),
            other => other,
        },
    }
}

/// "accessbot: alice@example.com approved by bob@example.com: deploy hotfix 42",
/// from what was stored at request and decision time (no Slack call).
pub fn comment_for(req: &AccessRequest) -> String {
    let requester = req
        .requester_email
        .clone()
        .unwrap_or_else(|| req.requester.to_string());
    let approver = match &req.decided_by {
        Some(u) if u == &req.requester => requester.clone(),
        Some(u) => req
            .decided_by_email
            .clone()
            .unwrap_or_else(|| u.to_string()),
        None => "accessbot".into(),
    };
    comment(&requester, &approver, req.reason.as_str())
}

/// "accessbot: alice@example.com approved by bob@example.com: deploy hotfix 42"
pub fn comment(requester: &str, approver: &str, reason: &str) -> String {
    let text = if requester == approver {
        format!("accessbot: {requester} self-approved: {reason}")
    } else {
        format!("accessbot: {requester} approved by {approver}: {reason}")
    };
    crate::tailscale::truncate_bytes(&text, crate::tailscale::MAX_COMMENT_BYTES).to_owned()
}
