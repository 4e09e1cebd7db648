//! An eligible approver's Approve or Deny on a pending request (who may
//! click is checked in [`super::decide::decide_with`]). Each approval is
//! recorded once per approver; the one that completes the policy's
//! `approvals_required` approves the request and enqueues its grant in the
//! same transaction, exactly once across replicas. Any deny ends it.

use serde_json::json;

use super::decide::{apply, email_of, refresh, Choices, Outcome};
use crate::domain::approval::approved_duration;
use crate::domain::{AccessRequest, Profile, RequestStatus, SlackUserId};
use crate::state::AppState;
use crate::store::{
    Actor, JobKind, NewJob, NotifyEvent, StoreError, Transition, Vote, VoteOutcome,
};

/// "1 of 2 approvals".
fn progress(count: usize, required: u32) -> String {
    format!("{count} of {required} approvals")
}

pub(super) async fn approve(
    state: &AppState,
    req: AccessRequest,
    profile: &Profile,
    clicker: &SlackUserId,
    choices: Choices,
) -> Result<Outcome, StoreError> {
    let duration = match approved_duration(Some(profile), req.duration, choices.duration) {
        Ok(d) => d,
        Err(why) => return Ok(Outcome::Refused(why.to_string())),
    };
    let (id, now) = (req.id, state.now());
    let required = profile.approval.required;
    let vote = Vote {
        id,
        approver: clicker.clone(),
        email: email_of(state, clicker).await,
        at: now,
        duration,
        required,
        on_approved: vec![
            NewJob::now(id, JobKind::Grant, now),
            NewJob::notify(id, NotifyEvent::Approved, now),
        ],
        on_counted: vec![NewJob::notify(id, NotifyEvent::ApprovalAdded, now)],
    };
    let outcome = match state.store.approve(&vote).await {
        Ok(VoteOutcome::Approved(approved)) => {
            state
                .metrics
                .decisions
                .with_label_values(&["approved"])
                .inc();
            tracing::info!(request = %id, decided_by = %clicker, ?duration, "request approved");
            Outcome::Done(*approved)
        }
        Ok(VoteOutcome::Counted(so_far)) => {
            tracing::info!(request = %id, approver = %clicker, approvals = so_far.len(), required, "approval counted");
            Outcome::Noted(format!(
                "Your approval is counted: {}. Access is granted once {required} approvers have approved.",
                progress(so_far.len(), required)
            ))
        }
        Ok(VoteOutcome::AlreadyCounted(so_far)) => Outcome::Noted(format!(
            "You have already approved this request ({}).",
            progress(so_far.len(), required)
        )),
        Err(StoreError::Conflict { .. }) => {
            let current = state.store.get_request(id).await?.unwrap_or(req);
            refresh(state, &current).await;
            return Ok(Outcome::AlreadyDecided(current));
        }
        Err(e) => return Err(e),
    };
    state.kick();
    Ok(outcome)
}

/// Any eligible approver's deny ends the request, with the reason they
/// gave (the requester sees it), whatever approvals it had.
pub(super) async fn deny(
    state: &AppState,
    req: AccessRequest,
    clicker: &SlackUserId,
    choices: Choices,
) -> Result<Outcome, StoreError> {
    let (id, now) = (req.id, state.now());
    let detail = match &choices.deny_reason {
        Some(reason) => json!({ "reason": reason }),
        None => serde_json::Value::Null,
    };
    let t = Transition::new(
        id,
        RequestStatus::Pending,
        RequestStatus::Denied,
        Actor::User(clicker.clone()),
        now,
    )
    .decided_by(clicker.clone(), None)
    .detail(detail)
    .job(NewJob::notify(id, NotifyEvent::Denied, now));
    let outcome = apply(state, req, t).await?;
    if let Outcome::Done(r) = &outcome {
        let denied = RequestStatus::Denied.as_str();
        state.metrics.decisions.with_label_values(&[denied]).inc();
        state.metrics.request_outcome(r.attribute.as_str(), denied);
        tracing::info!(request = %id, decided_by = %clicker, "request denied");
    }
    Ok(outcome)
}
