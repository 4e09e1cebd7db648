//! Approver decisions and the other buttons people press on a request.

use crate::domain::policy::{can_decide, EligibleApprovers};
use crate::domain::{AccessRequest, RequestId, RequestStatus, SlackUserId};
use crate::state::AppState;
use crate::store::{Actor, JobKind, NewJob, StoreError, Transition};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Deny,
}

/// What became of a button press.
#[derive(Debug)]
pub enum Outcome {
    Done(AccessRequest),
    /// The person may not do this; the text says why.
    Refused(String),
    /// Someone else got there first; the messages are refreshed.
    AlreadyDecided(AccessRequest),
    NotFound,
}

pub const NOT_YOURS: &str = "You cannot decide this request.";

/// Ask the worker to re-render every message of a request to its true
/// state: coalesced, and after the ack (see [`super::clicks::refresh`]).
pub async fn refresh(state: &AppState, req: &AccessRequest) {
    super::clicks::refresh(state, req);
}

async fn eligible(state: &AppState, req: &AccessRequest) -> Result<EligibleApprovers, String> {
    let Some(profile) = super::profile_of(state, req) else {
        return Err("This access is no longer offered, so the request cannot be changed.".into());
    };
    // A click must be answered within Slack's 3 s; approvers are usually cached.
    match tokio::time::timeout(ELIGIBILITY_BUDGET, state.people.approvers(profile)).await {
        Ok(Ok((eligible, _))) => Ok(eligible),
        _ => Err(
            "Could not check approvers with Slack right now. Please try again in a moment.".into(),
        ),
    }
}

/// How long a click may wait for Slack to say who the approvers are.
const ELIGIBILITY_BUDGET: std::time::Duration = std::time::Duration::from_millis(2000);

async fn apply(state: &AppState, req: AccessRequest, t: Transition) -> Result<Outcome, StoreError> {
    match state.store.transition(t).await {
        Ok(updated) => {
            state.kick();
            Ok(Outcome::Done(updated))
        }
        Err(StoreError::Conflict { .. }) => {
            let current = state.store.get_request(req.id).await?.unwrap_or(req);
            refresh(state, &current).await;
            Ok(Outcome::AlreadyDecided(current))
        }
        Err(e) => Err(e),
    }
}

/// Approve or deny: only the approver the request names, still eligible under
/// the current config; one click wins on any replica.
pub async fn decide(
    state: &AppState,
    id: RequestId,
    clicker: &SlackUserId,
    decision: Decision,
) -> Result<Outcome, StoreError> {
    let Some(req) = state.store.get_request(id).await? else {
        return Ok(Outcome::NotFound);
    };
    if req.approver.as_ref() != Some(clicker) {
        return Ok(Outcome::Refused(NOT_YOURS.into()));
    }
    let eligible = match eligible(state, &req).await {
        Ok(e) => e,
        Err(why) => return Ok(Outcome::Refused(why)),
    };
    let profile = super::profile_of(state, &req).expect("checked by eligible()");
    if !can_decide(profile, &eligible, &req.requester, clicker) {
        return Ok(Outcome::Refused(NOT_YOURS.into()));
    }
    if req.status != RequestStatus::Pending {
        refresh(state, &req).await;
        return Ok(Outcome::AlreadyDecided(req));
    }
    let now = state.now();
    let actor = Actor::User(clicker.clone());
    let t = match decision {
        Decision::Approve => Transition::new(
            id,
            RequestStatus::Pending,
            RequestStatus::Approved,
            actor,
            now,
        )
        .decided_by(clicker.clone())
        .job(NewJob::now(id, JobKind::Grant, now))
        .job(NewJob::notify(id, "approved", now)),
        Decision::Deny => Transition::new(
            id,
            RequestStatus::Pending,
            RequestStatus::Denied,
            actor,
            now,
        )
        .decided_by(clicker.clone())
        .job(NewJob::notify(id, "denied", now)),
    };
    let outcome = apply(state, req, t).await?;
    if let Outcome::Done(r) = &outcome {
        let label = if decision == Decision::Approve {
            "approved"
        } else {
            "denied"
        };
        state.metrics.decisions.with_label_values(&[label]).inc();
        if decision == Decision::Deny {
            state
                .metrics
                .request_outcome(r.attribute.as_str(), "denied");
        }
        tracing::info!(request = %id, decided_by = %clicker, decision = label, "request decided");
    }
    Ok(outcome)
}

/// The requester withdraws a pending request.
pub async fn cancel(
    state: &AppState,
    id: RequestId,
    clicker: &SlackUserId,
) -> Result<Outcome, StoreError> {
    let Some(req) = state.store.get_request(id).await? else {
        return Ok(Outcome::NotFound);
    };
    if &req.requester != clicker {
        return Ok(Outcome::Refused(
            "Only the requester can cancel this request.".into(),
        ));
    }
    if req.status != RequestStatus::Pending {
        refresh(state, &req).await;
        return Ok(Outcome::AlreadyDecided(req));
    }
    let now = state.now();
    let t = Transition::new(
        id,
        RequestStatus::Pending,
        RequestStatus::Cancelled,
        Actor::User(clicker.clone()),
        now,
    )
    .job(NewJob::notify(id, "cancelled", now));
    let outcome = apply(state, req, t).await?;
    if let Outcome::Done(r) = &outcome {
        state
            .metrics
            .request_outcome(r.attribute.as_str(), "cancelled");
    }
    Ok(outcome)
}

/// End an active grant early: the requester, the approver who decided, or
/// any eligible approver of the profile.
pub async fn revoke(
    state: &AppState,
    id: RequestId,
    clicker: &SlackUserId,
) -> Result<Outcome, StoreError> {
    let Some(req) = state.store.get_request(id).await? else {
        return Ok(Outcome::NotFound);
    };
    let allowed = if &req.requester == clicker || req.decided_by.as_ref() == Some(clicker) {
        true
    } else {
        match eligible(state, &req).await {
            Ok(EligibleApprovers::Listed(set)) => set.contains(clicker),
            // "Anyone may approve" does not make anyone a revoker.
            Ok(EligibleApprovers::Anyone) => false,
            Err(why) => return Ok(Outcome::Refused(why)),
        }
    };
    if !allowed {
        return Ok(Outcome::Refused("You cannot revoke this access.".into()));
    }
    if req.status != RequestStatus::Active {
        refresh(state, &req).await;
        return Ok(Outcome::AlreadyDecided(req));
    }
    let now = state.now();
    let t = Transition::new(
        id,
        RequestStatus::Active,
        RequestStatus::Revoked,
        Actor::User(clicker.clone()),
        now,
    )
    .detail(serde_json::json!({ "revoked_by": clicker }))
    .job(NewJob::now(id, JobKind::Revoke, now))
    .job(NewJob::notify(id, "revoked", now));
    let outcome = apply(state, req, t).await?;
    if let Outcome::Done(r) = &outcome {
        state
            .metrics
            .request_outcome(r.attribute.as_str(), "revoked");
        tracing::info!(request = %id, revoked_by = %clicker, "access revoked");
    }
    Ok(outcome)
}
