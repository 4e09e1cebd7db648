//! An approved request to extend a grant. Its grant job never grants: it
//! adds the approved time to the grant it names (as far as the approval
//! allows: `max_duration` past it) and finishes the request
//! (`approved → extended`) in the same transaction, exactly once; or, when
//! the grant is no longer active, fails it (`approved → failed`) saying why.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::after_extension;
use crate::domain::extension::{approved_until, plain_time};
use crate::domain::profile::format_duration;
use crate::domain::{AccessRequest, RequestStatus};
use crate::flow::jobs::{JobError, JobRun};
use crate::state::AppState;
use crate::store::{Actor, Extension, NewJob, NotifyEvent, StoreError, Transition};

/// Tries when another extension of the same grant lands meanwhile.
const ATTEMPTS: usize = 3;

/// What to do with an approved request to extend a grant, given the grant now.
enum Next {
    Extend(Extension),
    Fail(String),
}

/// The grant job of an approved request to extend a grant. Should it keep
/// failing to the last attempt, the request fails rather than stay
/// approved for ever.
pub async fn run(state: &AppState, req: AccessRequest, run: JobRun) -> Result<(), JobError> {
    match apply(state, &req).await {
        Err(e) if run.last_attempt => {
            tracing::warn!(request = %req.id, error = ?e, "giving up on an extension");
            fail(
                state,
                &req,
                "accessbot could not apply it; please ask again",
            )
            .await
        }
        other => other,
    }
}

async fn apply(state: &AppState, req: &AccessRequest) -> Result<(), JobError> {
    if req.status != RequestStatus::Approved {
        return Ok(()); // applied by an earlier run, or cancelled
    }
    for _ in 0..ATTEMPTS {
        let ext = match next(state, req).await? {
            Next::Extend(ext) => ext,
            Next::Fail(why) => return fail(state, req, &why).await,
        };
        match state.store.extend_grant(&ext).await {
            Ok(_) => {
                state.kick();
                state
                    .metrics
                    .request_outcome(req.attribute.as_str(), "extended");
                tracing::info!(request = %req.id, grant = %ext.grant, until = %ext.new_until, "extension applied");
                return Ok(());
            }
            // Cancelled meanwhile: nothing to apply.
            Err(StoreError::Conflict { id, .. }) if id == req.id => return Ok(()),
            // The grant moved meanwhile (extended, revoked): look again.
            Err(StoreError::ExpiryChanged(_) | StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(JobError::retry("the grant kept changing"))
}

/// The extension to apply to the grant as it is now, or why it cannot be.
async fn next(state: &AppState, req: &AccessRequest) -> Result<Next, StoreError> {
    let now = state.now();
    let grant = match req.extends {
        Some(id) => state.store.get_request(id).await?,
        None => None,
    };
    let Some(grant) = grant else {
        return Ok(Next::Fail("the access it extends does not exist".into()));
    };
    let current = match (grant.status, grant.expires_at) {
        (RequestStatus::Active, Some(until)) if until > now => until,
        (RequestStatus::Active, _) => return Ok(Next::Fail("the access has ended".into())),
        (status, _) => {
            let why = format!("the access is {} now", status.describe());
            return Ok(Next::Fail(why));
        }
    };
    let Some(profile) = crate::flow::profile_of(state, req) else {
        return Ok(Next::Fail("this access is no longer offered".into()));
    };
    let approved_at = req.decided_at.unwrap_or(now);
    let max = profile.max_duration;
    let Some(until) = approved_until(current, req.duration, approved_at, max) else {
        return Ok(Next::Fail(format!(
            "it already lasts until {}, {} after this approval, the most it may",
            plain_time(current),
            format_duration(max)
        )));
    };
    Ok(Next::Extend(extension(req, &grant, current, until, now)))
}

fn extension(
    req: &AccessRequest,
    grant: &AccessRequest,
    current: DateTime<Utc>,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Extension {
    let actor = match &req.decided_by {
        Some(u) => Actor::User(u.clone()),
        None => Actor::System,
    };
    Extension {
        grant: grant.id,
        expected_until: current,
        new_until: until,
        actor,
        at: now,
        detail: json!({
            "extra_seconds": (until - current).num_seconds().max(0),
            "previous_until": current,
            "until": until,
            "reason": req.reason.as_str(),
            "requested_by": req.requester,
            "extension": req.id,
            "approved_by": req.decided_by,
        }),
        request: Some(req.id),
        jobs: after_extension(grant.id, Some(req.id), now),
    }
}

/// approved → failed, saying why (the requester and approvers are told).
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
    .detail(json!({ "error": why }))
    .job(NewJob::notify(req.id, NotifyEvent::Failed, now));
    match state.store.transition(t).await {
        Ok(_) => {
            state.kick();
            state
                .metrics
                .request_outcome(req.attribute.as_str(), "failed");
            tracing::warn!(request = %req.id, error = why, "extension not applied");
            Ok(())
        }
        Err(StoreError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
