//! A submitted request form: every field re-checked against config and the
//! tailnet, then stored before anyone is told.

use std::time::Duration;

use serde_json::json;

use crate::domain::approval::{self, check_break_glass_reason, Requester};
use crate::domain::policy::{device_allowed, ApprovalPlan};
use crate::domain::profile::format_duration;
use crate::domain::{
    AccessRequest, DevicePolicy, Field, FieldErrors, Profile, Reason, RequestId, RequestStatus,
    SlackUserId, Submission,
};
use crate::state::AppState;
use crate::store::{Actor, Approval, JobKind, NewJob, NotifyEvent, Submitted};

/// How long a submission may spend on lookups: Slack wants an answer in 3 s.
const LOOKUP_BUDGET: Duration = Duration::from_millis(2000);

/// A request that passed every check.
pub struct Accepted {
    pub request: AccessRequest,
    pub plan: ApprovalPlan,
}

/// Check the form's values. Nothing in the view is trusted: the profile,
/// device, duration and approver are checked against config, the tailnet
/// and Slack, with all lookups sharing one deadline inside Slack's 3 s.
pub async fn validate(
    state: &AppState,
    requester: &SlackUserId,
    form: &Submission,
) -> Result<Accepted, FieldErrors> {
    let mut errors = FieldErrors::new();
    let mut fail = |field: Field, msg: &str| {
        errors.entry(field).or_insert_with(|| msg.to_owned());
    };

    let profile: Option<&Profile> = match form.get(Field::Profile) {
        None => {
            fail(Field::Profile, "Please choose what you need.");
            None
        }
        Some(attr) => state.config.profile(attr).or_else(|| {
            fail(
                Field::Profile,
                "That access is not offered (any more). Please choose another.",
            );
            None
        }),
    };

    let reason = Reason::parse(form.get(Field::Reason).unwrap_or_default())
        .map_err(|e| fail(Field::Reason, &e.to_string()))
        .ok();
    if let (Some(p), Some(r)) = (profile, &reason) {
        if p.approval.break_glass {
            if let Err(why) = check_break_glass_reason(r) {
                fail(Field::Reason, &why);
            }
        }
    }

    let duration = match form
        .get(Field::Duration)
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs)
    {
        None => {
            fail(Field::Duration, "Please choose how long you need access.");
            None
        }
        Some(d) if profile.is_some_and(|p| !p.allows_duration(d)) => {
            let max = profile.map(|p| format_duration(p.max_duration));
            fail(
                Field::Duration,
                &format!(
                    "Please choose one of the offered durations (at most {}).",
                    max.unwrap_or_default()
                ),
            );
            None
        }
        Some(d) => Some(d),
    };

    let node = match form.get(Field::Device) {
        None => {
            fail(Field::Device, "Please choose a device.");
            None
        }
        Some(raw) => super::devices::parse_node_id(raw).or_else(|| {
            fail(Field::Device, DEVICE_NOT_FOUND);
            None
        }),
    };

    // Only a profile whose form asks who approves reads the answer.
    let chosen = match form
        .get(Field::Approver)
        .filter(|s| !s.is_empty() && profile.is_some_and(Profile::asks_for_approver))
        .map(SlackUserId::parse)
    {
        Some(Err(_)) => {
            fail(Field::Approver, "That person cannot approve this access.");
            None
        }
        Some(Ok(u)) => Some(Some(u)),
        None => Some(None),
    };

    // The slow part: Slack and Tailscale lookups, side by side.
    let deadline = tokio::time::Instant::now() + LOOKUP_BUDGET;
    let (who, device, approvers, auto) = tokio::join!(
        tokio::time::timeout_at(deadline, state.people.user(requester)),
        async {
            match &node {
                Some(n) => Some(tokio::time::timeout_at(deadline, state.devices.find(n)).await),
                None => None,
            }
        },
        async {
            match profile {
                Some(p) => Some(tokio::time::timeout_at(deadline, state.people.approvers(p)).await),
                None => None,
            }
        },
        auto_approved(state, profile, requester, deadline),
    );
    let who = match who {
        Ok(Ok(u)) => Some(u),
        _ => None,
    };
    if let Some(p) = profile.filter(|p| !p.allow_guests) {
        match &who {
            Some(u) if u.is_guest => fail(
                Field::Profile,
                &format!(
                    "Guest accounts cannot request {}. Ask a full member of the workspace.",
                    p.display_name()
                ),
            ),
            Some(_) => {}
            None => fail(
                Field::Profile,
                "Could not check your Slack account right now. Please try again.",
            ),
        }
    }
    let email = who.and_then(|u| u.email);

    let device = match device {
        None => None,
        Some(Ok(Ok(Some(d)))) => Some(d),
        Some(Ok(Ok(None))) => {
            fail(Field::Device, DEVICE_NOT_FOUND);
            None
        }
        Some(_) => {
            fail(
                Field::Device,
                "Could not reach Tailscale to check the device. Please try again.",
            );
            None
        }
    };
    if let (Some(p), Some(d)) = (profile, device.as_ref()) {
        if !device_allowed(p, super::devices::facts(d), email.as_deref()) {
            let why = match (p.devices, email.is_some()) {
                (DevicePolicy::Any, _) => "That device cannot be chosen.",
                (_, false) => "Slack did not tell accessbot your e-mail address, so your devices cannot be recognised. Ask an admin to check the app's users:read.email scope.",
                (DevicePolicy::Own, true) => "You can only request this access for your own devices.",
                (DevicePolicy::OwnAndTagged, true) => {
                    "You can only request this access for your own devices or tagged servers."
                }
            };
            fail(Field::Device, why);
        }
    }

    let plan = match (profile, chosen, approvers) {
        (Some(p), Some(chosen), Some(Ok(Ok((eligible, named))))) => {
            let who = Requester {
                id: requester,
                auto_approved: auto,
            };
            match approval::plan(p, &eligible, who, chosen.as_ref()) {
                Ok(ApprovalPlan::AskApprovers) if nobody_to_ask(p, &named, requester) => {
                    fail(Field::Approver, NOBODY_TO_ASK);
                    None
                }
                Ok(plan) => Some(plan),
                Err(e) => {
                    fail(Field::Approver, &e.to_string());
                    None
                }
            }
        }
        (Some(_), Some(_), Some(_)) => {
            fail(
                Field::Approver,
                "Could not check the approvers with Slack. Please try again.",
            );
            None
        }
        _ => None,
    };

    match (profile, device, duration, reason, plan) {
        (Some(p), Some(d), Some(duration), Some(reason), Some(plan)) if errors.is_empty() => {
            let now = state.now();
            let (status, approver, decided_by, decided_at) = stored_as(&plan, requester, now);
            let email_copy = email.clone();
            Ok(Accepted {
                request: AccessRequest {
                    id: RequestId::new(),
                    requester: requester.clone(),
                    requester_email: email,
                    attribute: p.attribute.clone(),
                    value: p.value.clone(),
                    device: super::devices::snapshot(&d),
                    duration,
                    approver,
                    reason,
                    status,
                    created_at: now,
                    updated_at: now,
                    decided_by_email: decided_by.as_ref().and(email_copy),
                    decided_by,
                    decided_at,
                    expires_at: None,
                    failure_reason: None,
                    extends: None,
                },
                plan,
            })
        }
        _ => Err(errors),
    }
}

const DEVICE_NOT_FOUND: &str = "That device was not found in the tailnet.";
/// How a request is stored under `plan`: its status, the approver it
/// names, and who decided when, if it is approved as it is stored.
pub(super) fn stored_as(
    plan: &ApprovalPlan,
    requester: &SlackUserId,
    now: chrono::DateTime<chrono::Utc>,
) -> (
    RequestStatus,
    Option<SlackUserId>,
    Option<SlackUserId>,
    Option<chrono::DateTime<chrono::Utc>>,
) {
    match plan {
        ApprovalPlan::Ask(a) => (RequestStatus::Pending, Some(a.clone()), None, None),
        ApprovalPlan::AskApprovers => (RequestStatus::Pending, None, None, None),
        ApprovalPlan::SelfApproved | ApprovalPlan::BreakGlass => (
            RequestStatus::Approved,
            None,
            Some(requester.clone()),
            Some(now),
        ),
        // Nobody clicked: accessbot decided, by the profile's rule.
        ApprovalPlan::AutoApproved => (RequestStatus::Approved, None, None, Some(now)),
    }
}

pub(super) const NOBODY_TO_ASK: &str = "Nobody who can approve this access was found in Slack. Ask the accessbot admins to check the profile's approvers.";

/// Is the requester on the profile's `auto_approve` list? Not when Slack
/// cannot say in time: the request then goes to the approvers.
pub(super) async fn auto_approved(
    state: &AppState,
    profile: Option<&Profile>,
    requester: &SlackUserId,
    deadline: tokio::time::Instant,
) -> bool {
    let Some(p) = profile.filter(|p| !p.approval.auto_approve.is_empty()) else {
        return false;
    };
    match tokio::time::timeout_at(deadline, state.people.auto_approved(p)).await {
        Ok(Ok(auto)) => auto.contains(requester),
        _ => {
            tracing::warn!(profile = %p.attribute, "could not resolve auto_approve; asking the approvers");
            false
        }
    }
}

/// Every approver is asked by DM, but there is nobody to send one to.
pub(super) fn nobody_to_ask(
    profile: &Profile,
    named: &[(SlackUserId, String)],
    requester: &SlackUserId,
) -> bool {
    let ids: Vec<SlackUserId> = named.iter().map(|(u, _)| u.clone()).collect();
    profile.approval.channel.is_none() && approval::recipients(profile, &ids, requester).is_empty()
}

/// Store an accepted request with the jobs that follow from it, then wake
/// the worker: once per submitted view (`view_id`), so a submission
/// delivered twice creates one request, on any replica.
pub async fn create(
    state: &AppState,
    accepted: &Accepted,
    view_id: &str,
) -> anyhow::Result<Submitted> {
    let req = &accepted.request;
    let now = state.now();
    let mut jobs = Vec::new();
    // Recorded with the request: a crash cannot separate them.
    let approval = approved_on_submission(&accepted.plan, req);
    match &accepted.plan {
        ApprovalPlan::Ask(_) | ApprovalPlan::AskApprovers => {
            jobs.push(NewJob::notify(req.id, NotifyEvent::Requested, now));
            if let Some(after) = state.config.requests.remind_after {
                let at = now + chrono::Duration::from_std(after)?;
                jobs.push(NewJob::notify(req.id, NotifyEvent::Reminder, at));
            }
        }
        plan => {
            jobs.push(NewJob::now(req.id, JobKind::Grant, now));
            jobs.push(NewJob::notify(req.id, NotifyEvent::Approved, now));
            if *plan == ApprovalPlan::BreakGlass {
                let within = super::profile_of(state, req)
                    .map(|p| p.approval.review_within)
                    .unwrap_or(crate::domain::profile::DEFAULT_REVIEW_WITHIN);
                let at = now + chrono::Duration::from_std(within)?;
                jobs.push(NewJob::notify(req.id, NotifyEvent::ReviewDue, at));
            }
        }
    }
    let submitted = state
        .store
        .create_submitted_request(view_id, req, approval.as_ref(), &jobs)
        .await?;
    if let Submitted::Before(first) = submitted {
        tracing::info!(request = %first, view = view_id, "form submitted again; the request exists already");
        return Ok(submitted);
    }
    if let Some(label) = accepted.plan.decision_label() {
        state.metrics.decisions.with_label_values(&[label]).inc();
    }
    state
        .metrics
        .request_outcome(req.attribute.as_str(), "created");
    tracing::info!(request = %req.id, requester = %req.requester, attribute = %req.attribute, node = %req.device.node_id, status = %req.status, plan = ?accepted.plan, "access requested");
    state.kick();
    Ok(submitted)
}

/// The `approved` audit event of a request approved as it is stored: who
/// (the requester, or accessbot for an auto-approval) and by which rule.
fn approved_on_submission(plan: &ApprovalPlan, req: &AccessRequest) -> Option<Approval> {
    let requester = || Actor::User(req.requester.clone());
    let (actor, detail) = match plan {
        ApprovalPlan::SelfApproved => (requester(), json!({ "self_approved": true })),
        ApprovalPlan::AutoApproved => (
            Actor::System,
            json!({ "auto_approved": true, "requester": req.requester }),
        ),
        ApprovalPlan::BreakGlass => (requester(), json!({ "break_glass": true })),
        ApprovalPlan::Ask(_) | ApprovalPlan::AskApprovers => return None,
    };
    Some(Approval { actor, detail })
}
