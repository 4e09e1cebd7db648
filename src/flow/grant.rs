//! The jobs that change the tailnet: set the attribute on approval, remove
//! (or shorten) it on revoke. Both run from the durable queue, so a crash
//! or an outage delays them but never loses or doubles them.

use chrono::{DateTime, Utc};

use super::jobs::{JobError, JobRun};
use crate::domain::{AccessRequest, RequestStatus};
use crate::state::AppState;
use crate::store::{Actor, NewJob, RequestFilter, StoreError, Transition};
use crate::tailscale::MAX_COMMENT_BYTES;

/// "accessbot: alice@example.com approved by bob@example.com: deploy hotfix 42"
pub fn comment(requester: &str, approver: &str, reason: &str) -> String {
    let text = if requester == approver {
        format!("accessbot: {requester} self-approved: {reason}")
    } else {
        format!("accessbot: {requester} approved by {approver}: {reason}")
    };
    crate::tailscale::truncate_bytes(&text, MAX_COMMENT_BYTES).to_owned()
}

/// Active grants of the request's attribute on its device (itself included).
async fn active_on_device(
    state: &AppState,
    req: &AccessRequest,
) -> Result<Vec<AccessRequest>, StoreError> {
    state
        .store
        .list_requests(&RequestFilter {
            statuses: vec![RequestStatus::Active],
            node_id: Some(req.device.node_id.clone()),
            attribute: Some(req.attribute.as_str().to_owned()),
            ..Default::default()
        })
        .await
}

/// The latest expiry among other active grants of the same attribute on the
/// same device: access must never be shortened by another grant or revoke.
async fn other_grants_until(
    state: &AppState,
    req: &AccessRequest,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(active_on_device(state, req)
        .await?
        .into_iter()
        .filter(|o| o.id != req.id)
        .filter_map(|o| o.expires_at)
        .max())
}

/// Apply a transition made by the worker. `Ok(false)`: another run got
/// there first (the state is already past `from`), nothing to count.
async fn apply(state: &AppState, t: Transition) -> Result<bool, JobError> {
    match state.store.transition(t).await {
        Ok(_) => {
            state.kick();
            Ok(true)
        }
        Err(StoreError::Conflict { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

async fn person(state: &AppState, user: &crate::domain::SlackUserId) -> String {
    match state.people.email_of(user).await {
        Ok(Some(email)) => email,
        _ => user.to_string(),
    }
}

async fn fail(state: &AppState, req: &AccessRequest, why: &str) -> Result<(), JobError> {
    let now = state.now();
    let t = Transition::new(
        req.id,
        RequestStatus::Approved,
        RequestStatus::Failed,
        Actor::System,
        now,
    )
    .failure(why)
    .detail(serde_json::json!({ "error": why }))
    .job(NewJob::notify(req.id, "failed", now));
    if apply(state, t).await? {
        state.metrics.grants.with_label_values(&["failed"]).inc();
        state
            .metrics
            .request_outcome(req.attribute.as_str(), "failed");
        tracing::warn!(request = %req.id, error = why, "grant failed");
    }
    Ok(())
}

/// approved → active: set the attribute until decision time + duration.
pub async fn run_grant(state: &AppState, req: AccessRequest, run: JobRun) -> Result<(), JobError> {
    if req.status != RequestStatus::Approved {
        return Ok(()); // already done by an earlier run
    }
    let now = state.now();
    let decided_at = req.decided_at.unwrap_or(req.updated_at);
    let expires_at = req.expiry_from(decided_at);
    if expires_at <= now {
        return fail(
            state,
            &req,
            "the approved time ran out before access could be granted",
        )
        .await;
    }
    let set_until = match other_grants_until(state, &req).await? {
        Some(other) if other > expires_at => other,
        _ => expires_at,
    };
    let requester = req
        .requester_email
        .clone()
        .unwrap_or_else(|| req.requester.to_string());
    let approver = match &req.decided_by {
        Some(u) if u == &req.requester => requester.clone(),
        Some(u) => person(state, u).await,
        None => "accessbot".into(),
    };
    let text = comment(&requester, &approver, req.reason.as_str());
    let result = state
        .tailscale
        .set_attribute(
            &req.device.node_id,
            &req.attribute,
            &req.value,
            Some(set_until),
            &text,
        )
        .await;
    match result.map_err(JobError::from) {
        Ok(()) => {
            let t = Transition::new(
                req.id,
                RequestStatus::Approved,
                RequestStatus::Active,
                Actor::System,
                state.now(),
            )
            .expires_at(expires_at)
            .detail(serde_json::json!({ "attribute_expiry": set_until, "comment": text }))
            .job(NewJob::notify(req.id, "granted", state.now()));
            if apply(state, t).await? {
                state.metrics.grants.with_label_values(&["applied"]).inc();
                state
                    .metrics
                    .request_outcome(req.attribute.as_str(), "active");
                keep_latest_expiry(state, &req).await;
            }
            tracing::info!(request = %req.id, node = %req.device.node_id, attribute = %req.attribute, until = %expires_at, "access granted");
            Ok(())
        }
        Err(JobError::Retry { error, .. }) if run.last_attempt => {
            fail(state, &req, &format!("Tailscale kept failing: {error}")).await
        }
        Err(JobError::Permanent(why)) => fail(state, &req, &why).await,
        Err(retry) => Err(retry),
    }
}

/// Grants of the same attribute on the same device may be applied at the
/// same moment (two approvals, two replicas), each computing its expiry
/// before the other is active, so the last write could shorten the other's
/// access. Run after becoming active (so every concurrent grant sees at
/// least the other one active, or reads the other's write): if the device
/// carries an earlier expiry than the latest active grant needs, set that.
async fn keep_latest_expiry(state: &AppState, req: &AccessRequest) {
    let needed = match active_on_device(state, req).await {
        Ok(active) => active.iter().filter_map(|r| r.expires_at).max(),
        Err(e) => {
            tracing::warn!(request = %req.id, error = %e, "could not check overlapping grants");
            return;
        }
    };
    let Some(needed) = needed else { return };
    let carried = match state.tailscale.get_attributes(&req.device.node_id).await {
        Ok(attrs) => attrs.expiry(&req.attribute),
        Err(e) => {
            // Reconciliation re-checks this within worker.reconcile_interval.
            tracing::warn!(request = %req.id, error = %e, "could not read the device's attributes back");
            return;
        }
    };
    if carried.is_some_and(|c| c >= needed) {
        return;
    }
    let text = format!(
        "accessbot: kept the latest expiry of the active grants after granting {}",
        req.id
    );
    match state
        .tailscale
        .set_attribute(
            &req.device.node_id,
            &req.attribute,
            &req.value,
            Some(needed),
            &text,
        )
        .await
    {
        Ok(()) => {
            tracing::info!(request = %req.id, until = %needed, "restored a longer overlapping grant's expiry")
        }
        Err(e) => {
            tracing::warn!(request = %req.id, error = %e, "could not restore the longer expiry")
        }
    }
}

/// After a revoke: delete the attribute, unless another active grant on the
/// same device and attribute outlives this one; then keep that one's expiry.
pub async fn run_revoke(
    state: &AppState,
    req: AccessRequest,
    _run: JobRun,
) -> Result<(), JobError> {
    let other = other_grants_until(state, &req).await?;
    let result = match other.filter(|until| *until > state.now()) {
        Some(until) => {
            let text = format!(
                "accessbot: request {} revoked; another grant lasts until {}",
                req.id,
                until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            state
                .tailscale
                .set_attribute(
                    &req.device.node_id,
                    &req.attribute,
                    &req.value,
                    Some(until),
                    &text,
                )
                .await
        }
        None => {
            state
                .tailscale
                .delete_attribute(&req.device.node_id, &req.attribute)
                .await
        }
    };
    match result {
        Ok(()) => Ok(()),
        // The device is gone: so is its access.
        Err(e) if e.status() == Some(404) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
