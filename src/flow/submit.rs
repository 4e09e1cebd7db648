//! A submitted request form: every field re-checked against config and the
//! tailnet, then stored before anyone is told.

use std::time::Duration;

use crate::domain::policy::{device_allowed, plan_approval, ApprovalPlan};
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

    let chosen = match form
        .get(Field::Approver)
        .filter(|s| !s.is_empty())
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
    let (who, device, approvers) = tokio::join!(
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
        (Some(p), Some(chosen), Some(Ok(Ok((eligible, _))))) => {
            plan_approval(p, &eligible, requester, chosen.as_ref())
                .map_err(|e| fail(Field::Approver, &e.to_string()))
                .ok()
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
            let (status, approver, decided_by, decided_at) = match &plan {
                ApprovalPlan::Ask(a) => (RequestStatus::Pending, Some(a.clone()), None, None),
                ApprovalPlan::SelfApproved => (
                    RequestStatus::Approved,
                    None,
                    Some(requester.clone()),
                    Some(now),
                ),
            };
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
                },
                plan,
            })
        }
        _ => Err(errors),
    }
}

const DEVICE_NOT_FOUND: &str = "That device was not found in the tailnet.";

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
    let mut approval = None;
    match accepted.plan {
        ApprovalPlan::Ask(_) => {
            jobs.push(NewJob::notify(req.id, NotifyEvent::Requested, now));
            if let Some(after) = state.config.requests.remind_after {
                let at = now + chrono::Duration::from_std(after)?;
                jobs.push(NewJob::notify(req.id, NotifyEvent::Reminder, at));
            }
        }
        ApprovalPlan::SelfApproved => {
            jobs.push(NewJob::now(req.id, JobKind::Grant, now));
            jobs.push(NewJob::notify(req.id, NotifyEvent::Approved, now));
            // Recorded with the request: a crash cannot separate them.
            approval = Some(Approval {
                actor: Actor::User(req.requester.clone()),
                detail: serde_json::json!({ "self_approved": true }),
            });
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
    if approval.is_some() {
        state
            .metrics
            .decisions
            .with_label_values(&["self_approved"])
            .inc();
    }
    state
        .metrics
        .request_outcome(req.attribute.as_str(), "created");
    tracing::info!(request = %req.id, requester = %req.requester, attribute = %req.attribute, node = %req.device.node_id, status = %req.status, "access requested");
    state.kick();
    Ok(submitted)
}
