//! Extending an active grant (Extend, on the requester's DM or App Home).
//!
//! The click opens a small form ([`form`]); its submission ([`submit`])
//! either adds the time at once, when the profile's
//! `extend_without_approval` allows it, or creates a request to extend the
//! grant (`extends` = the grant) that goes through the profile's approval
//! policy like any request. Once that request is approved, its grant job
//! adds the time ([`apply`]) instead of granting anything itself. Either
//! way the grant's expiry moves by a compare-and-set in the store
//! ([`crate::store::Store::extend_grant`]) with a converge job for the
//! grant, so the attribute's new expiry is written by the one writer.

pub mod apply;
pub mod form;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::submit::{self, Accepted, NOBODY_TO_ASK};
use crate::domain::approval::Requester;
use crate::domain::extension::{self, ExtendErrors, ExtendField, Path};
use crate::domain::policy::ApprovalPlan;
use crate::domain::{AccessRequest, Profile, Reason, RequestId, SlackUserId};
use crate::state::AppState;
use crate::store::{Actor, Extension, JobKind, NewJob, NotifyEvent, StoreError};

/// How long a submission may spend asking Slack who approves.
const LOOKUP_BUDGET: Duration = Duration::from_millis(2000);
/// Tries when another extension of the same grant lands meanwhile.
const ATTEMPTS: usize = 3;

/// What a valid submission did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Added at once: the grant now lasts until then.
    Extended { until: DateTime<Utc> },
    /// A request to extend it was made; approved as asked, the grant lasts
    /// until `until`.
    Asked {
        plan: ApprovalPlan,
        until: DateTime<Utc>,
    },
}

fn one(field: ExtendField, text: impl Into<String>) -> ExtendErrors {
    ExtendErrors::from([(field, text.into())])
}

/// The Extend form as submitted by `requester` for grant `grant_id`
/// (from the modal's metadata: untrusted, checked again here): `extra`
/// more time, for `reason`. Once per submitted view (`view_id`): a
/// submission delivered twice extends once.
pub async fn submit(
    state: &AppState,
    requester: &SlackUserId,
    grant_id: Option<RequestId>,
    extra: Option<Duration>,
    reason: &str,
    view_id: &str,
) -> Result<Outcome, ExtendErrors> {
    let mut errors = ExtendErrors::new();
    let reason = Reason::parse(reason)
        .map_err(|e| errors.insert(ExtendField::Reason, e.to_string()))
        .ok();
    let Some(extra) = extra else {
        errors.insert(ExtendField::Extra, "Please choose how much longer.".into());
        return Err(errors);
    };
    let Some(grant_id) = grant_id else {
        return Err(one(ExtendField::Extra, NOT_FOUND));
    };
    for _ in 0..ATTEMPTS {
        let attempt = try_once(state, requester, grant_id, extra, reason.as_ref(), view_id);
        match attempt.await {
            Ok(Some(outcome)) => return Ok(outcome),
            // Another extension (or a revoke) landed meanwhile: look again.
            Ok(None) => continue,
            Err(Problem::Fields(mut found)) => {
                found.append(&mut errors);
                return Err(found);
            }
            Err(Problem::Failed(e)) => {
                tracing::error!(grant = %grant_id, error = %e, "could not extend");
                return Err(one(ExtendField::Reason, NOT_SAVED));
            }
        }
    }
    Err(one(ExtendField::Reason, NOT_SAVED))
}

const NOT_FOUND: &str = "That access does not exist.";
const NOT_SAVED: &str = "Your extension could not be saved. Please try again in a moment.";

enum Problem {
    Fields(ExtendErrors),
    Failed(anyhow::Error),
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        Self::Failed(e.into())
    }
}

/// One look at the grant and one write; `None` when the grant changed
/// between them.
async fn try_once(
    state: &AppState,
    requester: &SlackUserId,
    grant_id: RequestId,
    extra: Duration,
    reason: Option<&Reason>,
    view_id: &str,
) -> Result<Option<Outcome>, Problem> {
    let refused = |text: String| Problem::Fields(one(ExtendField::Extra, text));
    let Some(grant) = state.store.get_request(grant_id).await? else {
        return Err(refused(NOT_FOUND.into()));
    };
    let Some(profile) = super::profile_of(state, &grant) else {
        return Err(refused(extension::Refusal::NoProfile.to_string()));
    };
    let trail = state.store.audit_events(grant_id).await?;
    let applied_before = trail.iter().any(|e| {
        e.action == super::notify::facts::EXTENDED
            && e.detail.get("view").and_then(|v| v.as_str()) == Some(view_id)
    });
    if let (true, Some(until)) = (applied_before, grant.expires_at) {
        return Ok(Some(Outcome::Extended { until }));
    }
    let used = super::notify::facts::added_without_approval(&trail);
    let now = state.now();
    let path = extension::check(&grant, requester, profile, used, extra, now)
        .map_err(|r| refused(r.to_string()))?;
    let Some(reason) = reason else {
        return Err(Problem::Fields(ExtendErrors::new()));
    };
    match path {
        Path::WithoutApproval { until } => extend_now(state, &grant, until, reason, view_id).await,
        Path::NeedsApproval { until } => {
            let plan = ask(state, &grant, profile, extra, reason, view_id).await?;
            Ok(Some(Outcome::Asked { plan, until }))
        }
    }
}

/// Add the time now, within the allowance.
async fn extend_now(
    state: &AppState,
    grant: &AccessRequest,
    until: DateTime<Utc>,
    reason: &Reason,
    view_id: &str,
) -> Result<Option<Outcome>, Problem> {
    let (Some(current), now) = (grant.expires_at, state.now()) else {
        return Ok(None);
    };
    let extra = (until - current).num_seconds().max(0);
    let ext = Extension {
        grant: grant.id,
        expected_until: current,
        new_until: until,
        actor: Actor::User(grant.requester.clone()),
        at: now,
        detail: json!({
            "extra_seconds": extra,
            "previous_until": current,
            "until": until,
            "reason": reason.as_str(),
            "requested_by": grant.requester,
            "without_approval": true,
            "view": view_id,
        }),
        request: None,
        jobs: after_extension(grant.id, None, now),
    };
    match state.store.extend_grant(&ext).await {
        Ok(_) => {
            state.kick();
            state
                .metrics
                .request_outcome(grant.attribute.as_str(), "extended");
            tracing::info!(grant = %grant.id, %until, "access extended without approval");
            Ok(Some(Outcome::Extended { until }))
        }
        Err(StoreError::ExpiryChanged(_) | StoreError::Conflict { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The jobs an extension enqueues with itself: the converge that moves the
/// attribute's expiry, and the messages (the grant's, and those of the
/// request to extend it that was applied).
pub(super) fn after_extension(
    grant: RequestId,
    request: Option<RequestId>,
    now: DateTime<Utc>,
) -> Vec<NewJob> {
    let mut jobs = vec![
        NewJob::now(grant, JobKind::Converge, now),
        NewJob::notify(grant, NotifyEvent::Extended, now),
    ];
    jobs.extend(request.map(|r| NewJob::notify(r, NotifyEvent::Extended, now)));
    jobs
}

/// Make the request to extend the grant, asking whom the profile's policy
/// says (see [`extension::plan`]).
async fn ask(
    state: &AppState,
    grant: &AccessRequest,
    profile: &Profile,
    extra: Duration,
    reason: &Reason,
    view_id: &str,
) -> Result<ApprovalPlan, Problem> {
    let refused = |text: &str| Problem::Fields(one(ExtendField::Extra, text));
    let requester = &grant.requester;
    let deadline = tokio::time::Instant::now() + LOOKUP_BUDGET;
    let (approvers, auto) = tokio::join!(
        tokio::time::timeout_at(deadline, state.people.approvers(profile)),
        submit::auto_approved(state, Some(profile), requester, deadline),
    );
    let Ok(Ok((eligible, named))) = approvers else {
        return Err(refused(
            "Could not check the approvers with Slack. Please try again.",
        ));
    };
    let who = Requester {
        id: requester,
        auto_approved: auto,
    };
    let plan = extension::plan(profile, &eligible, who, grant.decided_by.as_ref())
        .map_err(|e| refused(&e.to_string()))?;
    if plan == ApprovalPlan::AskApprovers && submit::nobody_to_ask(profile, &named, requester) {
        return Err(refused(NOBODY_TO_ASK));
    }
    let now = state.now();
    let (status, approver, decided_by, decided_at) = submit::stored_as(&plan, requester, now);
    let request = AccessRequest {
        id: RequestId::new(),
        requester: requester.clone(),
        requester_email: grant.requester_email.clone(),
        attribute: grant.attribute.clone(),
        value: grant.value.clone(),
        device: grant.device.clone(),
        duration: extra,
        approver,
        reason: reason.clone(),
        status,
        created_at: now,
        updated_at: now,
        decided_by_email: decided_by.as_ref().and(grant.requester_email.clone()),
        decided_by,
        decided_at,
        expires_at: None,
        failure_reason: None,
        extends: Some(grant.id),
    };
    let accepted = Accepted { request, plan };
    submit::create(state, &accepted, view_id)
        .await
        .map_err(Problem::Failed)?;
    Ok(accepted.plan)
}
