//! The jobs that change the tailnet: after an approval, after a Revoke, and
//! after anything else that changes what a device should carry. Each runs
//! [`converge`] for the request's (device, attribute) pair from the durable
//! queue, so a crash or an outage delays it but never loses or doubles it;
//! the converge itself moves the request once Tailscale agrees.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::converge::{converge_for, ConvergeError};
use super::jobs::{JobError, JobRun};
use crate::domain::access::ended_by_expiry;
use crate::domain::{AccessRequest, RequestStatus};
use crate::state::AppState;
use crate::store::{Actor, NewJob, NotifyEvent, StoreError, Transition};

/// Failed attempts at removing access before people are told it could not
/// be removed yet (about a minute and a half of retries); a refusal is
/// told at once.
pub const REVOKE_PATIENCE: i32 = 4;

/// approved → active: converge the pair, which sets the attribute and then
/// activates (a request to extend a grant adds its time to that grant
/// instead, see [`super::extend::apply`]). When Tailscale refuses, or keeps failing past the retries,
/// the grant is given up: the request fails once the device is seen
/// without the attribute (a write that timed out may have landed).
pub async fn run_grant(state: &AppState, req: AccessRequest, run: JobRun) -> Result<(), JobError> {
    if req.is_extension() {
        // Never a grant of its own: its time goes to the grant it extends.
        return super::extend::apply::run(state, req, run).await;
    }
    if req.status != RequestStatus::Approved {
        return Ok(()); // done by an earlier run, or cancelled
    }
    if req.failure_reason.is_none() {
        match converge_for(state, &req).await {
            Ok(_) => return Ok(()),
            Err(e) if e.is_refusal() || run.last_attempt => {
                let why = match &e {
                    ConvergeError::Tailscale(te) if te.is_transient() => {
                        format!("Tailscale kept failing: {te}")
                    }
                    other => other.to_string(),
                };
                state.store.give_up_grant(req.id, &why, state.now()).await?;
                tracing::warn!(request = %req.id, error = why, "grant given up; making sure nothing is left on the device");
            }
            Err(e) => return Err(e.into()),
        }
    }
    // Given up: converge again without it, until the device is seen clean.
    match converge_for(state, &req).await {
        Ok(_) => Ok(()),
        Err(e) => give_up_or_retry(state, &req, e).await,
    }
}

/// After a Revoke (revoking → revoked): converge until Tailscale confirms.
/// When Tailscale refuses, or has not confirmed after [`REVOKE_PATIENCE`]
/// attempts, the requester, the person who revoked and the profile's
/// channel are told once that access could not be removed yet; retries go
/// on (capped backoff) until it is removed or the grant's expiry passes.
pub async fn run_revoke(state: &AppState, req: AccessRequest, run: JobRun) -> Result<(), JobError> {
    if req.status != RequestStatus::Revoking {
        return Ok(());
    }
    let e = match converge_for(state, &req).await {
        Ok(_) => return Ok(()),
        Err(e) => e,
    };
    let now = state.now();
    if ended_by_expiry(&req, now) {
        return end_at_expiry(state, &req, now).await;
    }
    if e.is_refusal() || run.attempts >= REVOKE_PATIENCE {
        announce_revoke_failure(state, &req, &e, now).await?;
    }
    Err(JobError::Again {
        error: e.to_string(),
        after: None,
    })
}

/// Any other change (a cancelled approval, an expiry, a difference found by
/// reconciliation): converge; retried while the request could still have
/// access on the tailnet.
pub async fn run_converge(
    state: &AppState,
    req: AccessRequest,
    _run: JobRun,
) -> Result<(), JobError> {
    match converge_for(state, &req).await {
        Ok(_) => Ok(()),
        Err(e) => give_up_or_retry(state, &req, e).await,
    }
}

/// Once Tailscale's own expiry has ended whatever `req` could have left on
/// the device, its status can say so without a confirmation; until then,
/// keep trying.
async fn give_up_or_retry(
    state: &AppState,
    req: &AccessRequest,
    e: ConvergeError,
) -> Result<(), JobError> {
    let now = state.now();
    let current = state
        .store
        .get_request(req.id)
        .await?
        .unwrap_or(req.clone());
    if !ended_by_expiry(&current, now) {
        return Err(JobError::Again {
            error: e.to_string(),
            after: None,
        });
    }
    let to = match current.status {
        RequestStatus::Approved => RequestStatus::Failed,
        RequestStatus::Active => RequestStatus::Expired,
        RequestStatus::Revoking => return end_at_expiry(state, &current, now).await,
        _ => return Ok(()),
    };
    settle_unconfirmed(state, &current, to, &e.to_string(), now).await
}

/// revoking → revoked when the grant's expiry has passed: Tailscale has
/// removed the attribute by itself.
async fn end_at_expiry(
    state: &AppState,
    req: &AccessRequest,
    now: DateTime<Utc>,
) -> Result<(), JobError> {
    settle_unconfirmed(
        state,
        req,
        RequestStatus::Revoked,
        "ended at its expiry",
        now,
    )
    .await
}

async fn settle_unconfirmed(
    state: &AppState,
    req: &AccessRequest,
    to: RequestStatus,
    why: &str,
    now: DateTime<Utc>,
) -> Result<(), JobError> {
    let mut t = Transition::new(req.id, req.status, to, Actor::System, now)
        .detail(json!({ "unconfirmed": why, "tailscale_expiry": true }))
        .job(NewJob::notify(req.id, NotifyEvent::reached(to), now));
    if to == RequestStatus::Failed && req.failure_reason.is_none() {
        t = t.failure(why);
    }
    match state.store.transition(t).await {
        Ok(_) | Err(StoreError::Conflict { .. }) => {
            state.kick();
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Tell people once that access could not be removed (yet), and count it.
async fn announce_revoke_failure(
    state: &AppState,
    req: &AccessRequest,
    e: &ConvergeError,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let trail = state.store.audit_events(req.id).await?;
    if trail.iter().any(|ev| ev.action == "revoke_failed") {
        return Ok(());
    }
    let reason = match e {
        ConvergeError::Tailscale(te) => te.to_string(),
        other => other.to_string(),
    };
    state
        .store
        .append_audit(
            req.id,
            now,
            &Actor::System,
            "revoke_failed",
            json!({ "error": reason, "until": req.expires_at }),
        )
        .await?;
    state
        .store
        .enqueue(&NewJob::notify(req.id, NotifyEvent::RevokeFailed, now))
        .await?;
    state.metrics.revoke_failures.inc();
    state.kick();
    tracing::error!(request = %req.id, error = reason, "could not remove access; retrying until its expiry");
    Ok(())
}
