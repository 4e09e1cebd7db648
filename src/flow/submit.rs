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

/// Check the form's values. Nothing in the view is trusted.
pub async fn validate(
    state: &AppState,
    requester: &SlackUserId,
    view: &ViewPayload,
) -> Result<Accepted, FieldErrors> {
    let mut errors = FieldErrors::new();

    let profile: Option<&Profile> = match view.input(ids::PROFILE, ids::PROFILE) {
        None => {
            errors.insert(ids::PROFILE, "Please choose what you need.".into());
            None
        }
        Some(attr) => {
            let p = state.config.profile(&attr);
            if p.is_none() {
                errors.insert(
                    ids::PROFILE,
                    "That access is not offered (any more). Please choose another.".into(),
                );
            }
            p
        }
    };

    let reason = match Reason::parse(&view.input(ids::REASON, ids::REASON).unwrap_or_default()) {
        Ok(r) => Some(r),
        Err(e) => {
            errors.insert(ids::REASON, e.to_string());
            None
        }
    };

    let duration = match view
        .input(ids::DURATION, ids::DURATION)
        .and_then(|s| s.parse::<u64>().ok())
    {
        None => {
            errors.insert(
                ids::DURATION,
                "Please choose how long you need access.".into(),
            );
            None
        }
        Some(secs) => {
            let d = Duration::from_secs(secs);
            match profile {
                Some(p) if !p.allows_duration(d) => {
                    errors.insert(
                        ids::DURATION,
                        format!(
                            "Please choose one of the offered durations (at most {}).",
                            format_duration(p.max_duration)
                        ),
                    );
                    None
                }
                _ => Some(d),
            }
        }
    };

    let email = match tokio::time::timeout(LOOKUP_BUDGET, state.people.email_of(requester)).await {
        Ok(Ok(e)) => e,
        _ => None,
    };

    let device = match view.input(ids::DEVICE, ids::DEVICE) {
        None => {
            errors.insert(ids::DEVICE, "Please choose a device.".into());
            None
        }
        Some(raw) => match super::devices::parse_node_id(&raw) {
            None => {
                errors.insert(
                    ids::DEVICE,
                    "That device was not found in the tailnet.".into(),
                );
                None
            }
            Some(node) => {
                match tokio::time::timeout(LOOKUP_BUDGET, state.devices.find(&node)).await {
                    Ok(Ok(Some(d))) => Some(d),
                    Ok(Ok(None)) => {
                        errors.insert(
                            ids::DEVICE,
                            "That device was not found in the tailnet.".into(),
                        );
                        None
                    }
                    Ok(Err(_)) | Err(_) => {
                        errors.insert(
                            ids::DEVICE,
                            "Could not reach Tailscale to check the device. Please try again."
                                .into(),
                        );
                        None
                    }
                }
            }
        },
    };
    if let (Some(p), Some(d)) = (profile, device.as_ref()) {
        if !device_allowed(p, super::devices::facts(d), email.as_deref()) {
            let why = match p.devices {
                DevicePolicy::Own => "You can only request this access for your own devices.",
                DevicePolicy::OwnAndTagged => {
                    "You can only request this access for your own devices or tagged servers."
                }
                DevicePolicy::Any => "That device cannot be chosen.",
            };
            errors.insert(ids::DEVICE, why.into());
        }
    }

    let chosen = view
        .input(ids::APPROVER, ids::APPROVER)
        .filter(|s| !s.is_empty());
    let chosen = match chosen.as_deref().map(SlackUserId::parse) {
        Some(Err(_)) => {
            errors.insert(
                ids::APPROVER,
                "That person cannot approve this access.".into(),
            );
            return Err(errors);
        }
        Some(Ok(u)) => Some(u),
        None => None,
    };
    let plan = match profile {
        None => None,
        Some(p) => match tokio::time::timeout(LOOKUP_BUDGET, state.people.approvers(p)).await {
            Ok(Ok((eligible, _))) => {
                match plan_approval(p, &eligible, requester, chosen.as_ref()) {
                    Ok(plan) => Some(plan),
                    Err(e) => {
                        errors.insert(ids::APPROVER, e.to_string());
                        None
                    }
                }
            }
            _ => {
                errors.insert(
                    ids::APPROVER,
                    "Could not check the approvers with Slack. Please try again.".into(),
                );
                None
            }
        },
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

/// Store an accepted request with the jobs that follow from it, then wake the worker.
pub async fn create(state: &AppState, accepted: &Accepted) -> anyhow::Result<()> {
    let req = &accepted.request;
    let now = state.now();
    let mut jobs = Vec::new();
    match accepted.plan {
        ApprovalPlan::Ask(_) => {
            jobs.push(NewJob::now(
                req.id,
                JobKind::Notify {
                    event: "requested".into(),
                },
                now,
            ));
            if let Some(after) = state.config.requests.remind_after {
                let at = now + chrono::Duration::from_std(after)?;
                jobs.push(NewJob::now(
                    req.id,
                    JobKind::Notify {
                        event: "reminder".into(),
                    },
                    at,
                ));
            }
        }
        ApprovalPlan::SelfApproved => {
            jobs.push(NewJob::now(req.id, JobKind::Grant, now));
            jobs.push(NewJob::now(
                req.id,
                JobKind::Notify {
                    event: "approved".into(),
                },
                now,
            ));
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
