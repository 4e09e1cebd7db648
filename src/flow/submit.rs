//! A submitted request form: every field re-checked against config and the
//! tailnet, then stored before anyone is told.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::domain::policy::{device_allowed, plan_approval, ApprovalPlan};
use crate::domain::profile::format_duration;
use crate::domain::{
    AccessRequest, DevicePolicy, Profile, Reason, RequestId, RequestStatus, SlackUserId,
};
use crate::slack::payload::ViewPayload;
use crate::slack::views::form::ids;
use crate::state::AppState;
use crate::store::{Actor, JobKind, NewJob};

/// Errors to show next to the form's fields, by block ID.
pub type FieldErrors = BTreeMap<&'static str, String>;

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
    view: &ViewPayload,
) -> Result<Accepted, FieldErrors> {
    let mut errors = FieldErrors::new();
    let mut fail = |field: &'static str, msg: &str| {
        errors.entry(field).or_insert_with(|| msg.to_owned());
    };

    let profile: Option<&Profile> = match view.input(ids::PROFILE, ids::PROFILE) {
        None => {
            fail(ids::PROFILE, "Please choose what you need.");
            None
        }
        Some(attr) => state.config.profile(&attr).or_else(|| {
            fail(
                ids::PROFILE,
                "That access is not offered (any more). Please choose another.",
            );
            None
        }),
    };

    let reason = Reason::parse(&view.input(ids::REASON, ids::REASON).unwrap_or_default())
        .map_err(|e| fail(ids::REASON, &e.to_string()))
        .ok();

    let duration = match view
        .input(ids::DURATION, ids::DURATION)
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs)
    {
        None => {
            fail(ids::DURATION, "Please choose how long you need access.");
            None
        }
        Some(d) if profile.is_some_and(|p| !p.allows_duration(d)) => {
            let max = profile.map(|p| format_duration(p.max_duration));
            fail(
                ids::DURATION,
                &format!(
                    "Please choose one of the offered durations (at most {}).",
                    max.unwrap_or_default()
                ),
            );
            None
        }
        Some(d) => Some(d),
    };

    let node = match view.input(ids::DEVICE, ids::DEVICE) {
        None => {
            fail(ids::DEVICE, "Please choose a device.");
            None
        }
        Some(raw) => super::devices::parse_node_id(&raw).or_else(|| {
            fail(ids::DEVICE, DEVICE_NOT_FOUND);
            None
        }),
    };

    let chosen = match view
        .input(ids::APPROVER, ids::APPROVER)
        .filter(|s| !s.is_empty())
        .map(|s| SlackUserId::parse(&s))
    {
        Some(Err(_)) => {
            fail(ids::APPROVER, "That person cannot approve this access.");
            None
        }
        Some(Ok(u)) => Some(Some(u)),
        None => Some(None),
    };

    // The slow part: Slack and Tailscale lookups, side by side.
    let deadline = tokio::time::Instant::now() + LOOKUP_BUDGET;
    let (email, device, approvers) = tokio::join!(
        tokio::time::timeout_at(deadline, state.people.email_of(requester)),
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
    let email = match email {
        Ok(Ok(e)) => e,
        _ => None,
    };

    let device = match device {
        None => None,
        Some(Ok(Ok(Some(d)))) => Some(d),
        Some(Ok(Ok(None))) => {
            fail(ids::DEVICE, DEVICE_NOT_FOUND);
            None
        }
        Some(_) => {
            fail(
                ids::DEVICE,
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
            fail(ids::DEVICE, why);
        }
    }

    let plan = match (profile, chosen, approvers) {
        (Some(p), Some(chosen), Some(Ok(Ok((eligible, _))))) => {
            plan_approval(p, &eligible, requester, chosen.as_ref())
                .map_err(|e| fail(ids::APPROVER, &e.to_string()))
                .ok()
        }
        (Some(_), Some(_), Some(_)) => {
            fail(
                ids::APPROVER,
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

/// Store an accepted request with the jobs that follow from it, then wake the worker.
pub async fn create(state: &AppState, accepted: &Accepted) -> anyhow::Result<()> {
    let req = &accepted.request;
    let now = state.now();
    let mut jobs = Vec::new();
    match accepted.plan {
        ApprovalPlan::Ask(_) => {
            jobs.push(NewJob::notify(req.id, "requested", now));
            if let Some(after) = state.config.requests.remind_after {
                let at = now + chrono::Duration::from_std(after)?;
                jobs.push(NewJob::notify(req.id, "reminder", at));
            }
        }
        ApprovalPlan::SelfApproved => {
            jobs.push(NewJob::now(req.id, JobKind::Grant, now));
            jobs.push(NewJob::notify(req.id, "approved", now));
        }
    }
    state.store.create_request(req, &jobs).await?;
    if accepted.plan == ApprovalPlan::SelfApproved {
        state
            .store
            .append_audit(
                req.id,
                now,
                &Actor::User(req.requester.clone()),
                RequestStatus::Approved.as_str(),
                serde_json::json!({ "self_approved": true }),
            )
            .await?;
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
    Ok(())
}
