//! What a converge records once it has seen the tailnet: the audit of its
//! write, and the status changes that the device's attributes now make
//! true. Called only by [`super::converge`], under the pair's lock.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::config::MissingAttribute;
use crate::domain::access::{access_until, needs_access, Wanted};
use crate::domain::{AccessRequest, RequestStatus};
use crate::state::AppState;
use crate::store::{Actor, NewJob, NotifyEvent, StoreError, Transition};

/// What the converge found on the device.
#[derive(Debug, Clone, Copy)]
pub enum Seen<'a> {
    /// Tailscale does not know the device any more: no access is left.
    DeviceGone,
    /// The device carries exactly this (nothing, for `None`).
    Matches(Option<&'a Wanted>),
}

const DEVICE_GONE: &str = "the device no longer exists in the tailnet";
const TIME_RAN_OUT: &str = "the approved time ran out before access could be granted";

/// The transition that `seen` makes true for `req`, if any.
fn transition_for(req: &AccessRequest, seen: Seen<'_>, now: DateTime<Utc>) -> Option<Transition> {
    use RequestStatus::*;
    let to = |status| Transition::new(req.id, req.status, status, Actor::System, now);
    let t = match (seen, req.status) {
        (Seen::DeviceGone, Active | Approved) => to(Failed)
            .failure(DEVICE_GONE)
            .detail(json!({ "error": DEVICE_GONE })),
        (Seen::DeviceGone, Revoking) => to(Revoked).detail(json!({ "removed": DEVICE_GONE })),
        (Seen::Matches(_), Approved) if req.failure_reason.is_some() => {
            let why = req.failure_reason.clone().unwrap_or_default();
            to(Failed).detail(json!({ "error": why, "attribute_absent": true }))
        }
        (Seen::Matches(Some(w)), Approved) if needs_access(req, now) => to(Active)
            .expires_at(access_until(req)?)
            .detail(json!({ "attribute_expiry": w.expiry })),
        (Seen::Matches(_), Approved) => to(Failed)
            .failure(TIME_RAN_OUT)
            .detail(json!({ "error": TIME_RAN_OUT })),
        (Seen::Matches(_), Revoking) => to(Revoked).detail(json!({ "removed": true })),
        (Seen::Matches(_), Active) if req.expires_at.is_some_and(|t| t <= now) => to(Expired),
        _ => return None,
    };
    Some(t)
}

/// Apply the status changes `seen` makes true. A request another writer
/// moved meanwhile (a cancel, another replica's converge) is left alone.
pub async fn record(
    state: &AppState,
    requests: &[AccessRequest],
    seen: Seen<'_>,
) -> Result<(), StoreError> {
    let now = state.now();
    for req in requests {
        if let Some(t) = transition_for(req, seen, now) {
            apply(state, req, t, now).await?;
        }
    }
    Ok(())
}

/// Move `req` by `t`, announcing the new status; false when it had moved.
async fn apply(
    state: &AppState,
    req: &AccessRequest,
    t: Transition,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let to = t.to;
    let t = t.job(NewJob::notify(req.id, NotifyEvent::reached(to), now));
    match state.store.transition(t).await {
        Ok(_) => {
            state.kick();
            let outcome = to.as_str();
            state
                .metrics
                .request_outcome(req.attribute.as_str(), outcome);
            match (req.status, to) {
                (RequestStatus::Approved, RequestStatus::Active) => {
                    state.metrics.grants.with_label_values(&["applied"]).inc();
                }
                (RequestStatus::Approved, RequestStatus::Failed) => {
                    state.metrics.grants.with_label_values(&["failed"]).inc();
                }
                _ => {}
            }
            tracing::info!(request = %req.id, from = %req.status, to = %to, node = %req.device.node_id, attribute = %req.attribute, "tailnet confirmed");
            Ok(true)
        }
        Err(StoreError::Conflict { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The device lacks the attribute that active grants among `requests` put
/// there: someone removed it outside accessbot. By default those grants end
/// (an admin's cut-off stands); with `worker.missing_attribute = "reapply"`
/// nothing ends and the converge sets it again. Returns the grants ended.
pub async fn removed_outside(
    state: &AppState,
    requests: &[AccessRequest],
    now: DateTime<Utc>,
) -> Result<Vec<AccessRequest>, StoreError> {
    if state.config.worker.missing_attribute == MissingAttribute::Reapply {
        return Ok(Vec::new());
    }
    let mut ended = Vec::new();
    for req in requests {
        let cut_short = req.status == RequestStatus::Active && needs_access(req, now);
        if !cut_short {
            continue;
        }
        let t = Transition::new(
            req.id,
            RequestStatus::Active,
            RequestStatus::Revoked,
            Actor::Tailnet,
            now,
        )
        .detail(json!({ "reason": "the attribute was removed from the device outside accessbot" }));
        if apply(state, req, t, now).await? {
            tracing::warn!(request = %req.id, node = %req.device.node_id, attribute = %req.attribute, "attribute removed outside accessbot; the grant ends");
            ended.push(req.clone());
        }
    }
    Ok(ended)
}

/// The audit of a write, on each request of the pair: what the device was
/// given (or that the attribute was removed).
pub async fn record_write(
    state: &AppState,
    requests: &[AccessRequest],
    target: Option<&Wanted>,
    reapplied: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let (action, detail) = match target {
        Some(w) if reapplied => (
            "reapplied",
            json!({ "until": w.expiry, "reason": "attribute missing from the device" }),
        ),
        Some(w) => (
            "attribute_set",
            json!({ "value": w.value, "expiry": w.expiry, "for_request": w.for_request }),
        ),
        None => ("attribute_removed", json!({})),
    };
    for req in requests {
        state
            .store
            .append_audit(req.id, now, &Actor::System, action, detail.clone())
            .await?;
    }
    if reapplied {
        state.metrics.reapplied.inc();
    }
    Ok(())
}
