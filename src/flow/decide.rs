//! Approver decisions and the other buttons people press on a request.

use crate::domain::approval::may_decide;
use crate::domain::policy::EligibleApprovers;
use crate::domain::{AccessRequest, RequestId, RequestStatus, SlackUserId};
use crate::state::AppState;
use crate::store::{Actor, JobKind, NewJob, NotifyEvent, StoreError, Transition};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Deny,
}

/// What an approver chose next to the buttons; checked again before use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Choices {
    /// A shorter duration to approve for (`None`: as asked).
    pub duration: Option<std::time::Duration>,
    /// What to tell the requester when denying.
    pub deny_reason: Option<String>,
}

/// What became of a button press.
#[derive(Debug)]
pub enum Outcome {
    Done(AccessRequest),
    /// Nothing more to do; the text tells the person where things stand
    /// (e.g. "1 of 2 approvals").
    Noted(String),
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

pub(super) async fn eligible(
    state: &AppState,
    req: &AccessRequest,
) -> Result<EligibleApprovers, String> {
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

pub(super) async fn apply(
    state: &AppState,
    req: AccessRequest,
    t: Transition,
) -> Result<Outcome, StoreError> {
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

/// The clicker's e-mail for the attribute's comment, if Slack says it in
/// time (usually cached: approvers were just resolved).
pub(super) async fn email_of(state: &AppState, who: &SlackUserId) -> Option<String> {
    match tokio::time::timeout(EMAIL_BUDGET, state.people.email_of(who)).await {
        Ok(Ok(email)) => email,
        _ => None,
    }
}

const EMAIL_BUDGET: std::time::Duration = std::time::Duration::from_millis(500);

/// Approve or deny as the approver left it (no shorter duration, no reason).
pub async fn decide(
    state: &AppState,
    id: RequestId,
    clicker: &SlackUserId,
    decision: Decision,
) -> Result<Outcome, StoreError> {
    decide_with(state, id, clicker, decision, Choices::default()).await
}

/// Approve or deny: only an approver the current config allows (the one
/// the request names, when the requester chose), checked at click time;
/// see [`super::approve`].
pub async fn decide_with(
    state: &AppState,
    id: RequestId,
    clicker: &SlackUserId,
    decision: Decision,
    choices: Choices,
) -> Result<Outcome, StoreError> {
    let Some(req) = state.store.get_request(id).await? else {
        return Ok(Outcome::NotFound);
    };
    let eligible = match eligible(state, &req).await {
        Ok(e) => e,
        Err(why) => return Ok(Outcome::Refused(why)),
    };
    let profile = super::profile_of(state, &req).expect("checked by eligible()");
    let allowed = may_decide(
        profile,
        &eligible,
        &req.requester,
        req.approver.as_ref(),
        clicker,
    );
    if let Err(refusal) = allowed {
        return Ok(Outcome::Refused(refusal.to_string()));
    }
    if req.status != RequestStatus::Pending {
        refresh(state, &req).await;
        return Ok(Outcome::AlreadyDecided(req));
    }
    match decision {
        Decision::Approve => super::approve::approve(state, req, profile, clicker, choices).await,
        Decision::Deny => super::approve::deny(state, req, clicker, choices).await,
    }
}

/// Withdraw a request: the requester while it is pending; the requester or
/// the approver who approved it while the approval is not applied yet
/// (whatever an in-flight write left on the device is removed).
pub async fn cancel(
    state: &AppState,
    id: RequestId,
    clicker: &SlackUserId,
) -> Result<Outcome, StoreError> {
    let Some(req) = state.store.get_request(id).await? else {
        return Ok(Outcome::NotFound);
    };
    let is_requester = &req.requester == clicker;
    let is_decider = req.decided_by.as_ref() == Some(clicker);
    match req.status {
        RequestStatus::Pending if !is_requester => {
            return Ok(Outcome::Refused(super::clicks::NOT_REQUESTER.into()))
        }
        _ if !(is_requester || is_decider) => {
            return Ok(Outcome::Refused(super::clicks::NOT_CANCELLER.into()))
        }
        RequestStatus::Pending | RequestStatus::Approved => {}
        _ => {
            refresh(state, &req).await;
            return Ok(Outcome::AlreadyDecided(req));
        }
    }
    let now = state.now();
    let mut t = Transition::new(
        id,
        req.status,
        RequestStatus::Cancelled,
        Actor::User(clicker.clone()),
        now,
    )
    .job(NewJob::notify(id, NotifyEvent::Cancelled, now));
    // A request to extend a grant never wrote anything to take back.
    if req.status == RequestStatus::Approved && !req.is_extension() {
        t = t.job(NewJob::now(id, JobKind::Converge, now));
    }
    let outcome = apply(state, req, t).await?;
    if let Outcome::Done(r) = &outcome {
        state
            .metrics
            .request_outcome(r.attribute.as_str(), "cancelled");
    }
    Ok(outcome)
}

/// End an active grant early: the requester, the approver who decided, or
/// any eligible approver of the profile. The request is `revoking` until
/// Tailscale confirms the attribute is gone (see [`super::grant::run_revoke`]).
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
        RequestStatus::Revoking,
        Actor::User(clicker.clone()),
        now,
    )
    .detail(serde_json::json!({ "revoked_by": clicker }))
    .job(NewJob::now(id, JobKind::Revoke, now))
    .job(NewJob::notify(id, NotifyEvent::Revoking, now));
    let outcome = apply(state, req, t).await?;
    if let Outcome::Done(_) = &outcome {
        tracing::info!(request = %id, revoked_by = %clicker, "revoke requested");
    }
    Ok(outcome)
}
