//! What the messages say besides the request's row, read from its audit
//! trail and approvals: who ended it early, why a revoke is unconfirmed,
//! how it was approved, why it was denied, the duration asked for when an
//! approver shortened it, and where a break-glass review stands.

use std::time::Duration;

use crate::domain::approval::approvable_durations;
use crate::domain::profile::DEFAULT_REVIEW_WITHIN;
use crate::domain::{AccessRequest, Profile, RequestStatus, SlackUserId};
use crate::slack::messages::{Added, AddedHow, ApprovalView, Closer, Review, Via};
use crate::store::{Actor, AuditEvent};

/// The audit action of time added to a grant (on the grant, and on the
/// request to extend it that was applied).
pub const EXTENDED: &str = "extended";

/// Time added to a grant, oldest first, from its `extended` events.
pub fn added(trail: &[AuditEvent]) -> Vec<Added> {
    trail
        .iter()
        .filter(|e| e.action == EXTENDED)
        .map(|e| {
            let detail = &e.detail;
            let extra = detail.get("extra_seconds").and_then(|v| v.as_u64());
            let how = match detail.get("without_approval").and_then(|v| v.as_bool()) {
                Some(true) => AddedHow::WithoutApproval,
                _ => AddedHow::Approved(
                    detail
                        .get("approved_by")
                        .and_then(|v| v.as_str())
                        .and_then(|u| SlackUserId::parse(u).ok()),
                ),
            };
            Added {
                extra: Duration::from_secs(extra.unwrap_or_default()),
                how,
            }
        })
        .collect()
}

/// The extra time a grant got without a new approval, in all.
pub fn added_without_approval(trail: &[AuditEvent]) -> Duration {
    added(trail)
        .into_iter()
        .filter(|a| a.how == AddedHow::WithoutApproval)
        .map(|a| a.extra)
        .sum()
}

/// Audit actions of the break-glass review.
pub const ACKNOWLEDGED: &str = "acknowledged";
pub const REVIEW_OVERDUE: &str = "review_overdue";

/// Who ended the request early (revoke, cancel, or the tailnet), from its
/// audit trail.
pub(super) fn closed_by(req: &AccessRequest, trail: &[AuditEvent]) -> Option<Closer> {
    let actions: &[&str] = match req.status {
        RequestStatus::Revoking | RequestStatus::Revoked => &["revoked", "revoking"],
        RequestStatus::Cancelled => &["cancelled"],
        _ => return None,
    };
    trail
        .iter()
        .rev()
        .filter(|e| actions.contains(&e.action.as_str()))
        .find_map(|e| match &e.actor {
            Actor::User(u) => Some(Closer::Person(u.clone())),
            Actor::Tailnet => Some(Closer::Tailnet),
            Actor::System => None,
        })
}

/// Why Tailscale has not removed access, while a revoke is unconfirmed.
pub(super) fn revoke_failure(req: &AccessRequest, trail: &[AuditEvent]) -> Option<String> {
    if req.status != RequestStatus::Revoking {
        return None;
    }
    revoke_failure_reason(trail)
}

pub(super) fn revoke_failure_reason(trail: &[AuditEvent]) -> Option<String> {
    trail
        .iter()
        .rev()
        .find(|e| e.action == "revoke_failed")
        .map(|e| {
            e.detail
                .get("error")
                .and_then(|v| v.as_str())
                .unwrap_or("Tailscale did not confirm")
                .to_owned()
        })
}

fn last<'t>(trail: &'t [AuditEvent], action: &str) -> Option<&'t AuditEvent> {
    trail.iter().rev().find(|e| e.action == action)
}

/// How the request was approved: the rule recorded with its `approved` event.
pub fn via(trail: &[AuditEvent]) -> Via {
    let Some(approved) = last(trail, RequestStatus::Approved.as_str()) else {
        return Via::Approvers;
    };
    let flag = |key: &str| approved.detail.get(key).and_then(|v| v.as_bool()) == Some(true);
    if flag("break_glass") {
        Via::BreakGlass
    } else if flag("auto_approved") {
        Via::AutoApproved
    } else if flag("self_approved") {
        Via::SelfApproved
    } else {
        Via::Approvers
    }
}

/// Who acknowledged a break-glass grant, if anyone.
pub fn acknowledged_by(trail: &[AuditEvent]) -> Option<SlackUserId> {
    last(trail, ACKNOWLEDGED).and_then(|e| match &e.actor {
        Actor::User(u) => Some(u.clone()),
        _ => None,
    })
}

/// The facts, owned, that [`ApprovalView`] borrows.
pub(super) struct Facts {
    pub approved_by: Vec<SlackUserId>,
    pub required: u32,
    pub via: Via,
    pub deny_reason: Option<String>,
    pub asked: Option<Duration>,
    pub durations: Vec<Duration>,
    pub channel: Option<String>,
    pub review: Option<Review>,
}

impl Facts {
    pub fn read(
        req: &AccessRequest,
        trail: &[AuditEvent],
        approved_by: Vec<SlackUserId>,
        profile: Option<&Profile>,
    ) -> Self {
        let via = via(trail);
        let deny_reason = last(trail, RequestStatus::Denied.as_str())
            .and_then(|e| e.detail.get("reason")?.as_str().map(str::to_owned));
        let asked = last(trail, RequestStatus::Approved.as_str())
            .and_then(|e| e.detail.get("duration_asked_seconds")?.as_u64())
            .map(Duration::from_secs);
        let durations = match req.status {
            RequestStatus::Pending => approvable_durations(profile, req.duration),
            _ => Vec::new(),
        };
        let review = (via == Via::BreakGlass).then(|| Review {
            acknowledged_by: acknowledged_by(trail),
            overdue: last(trail, REVIEW_OVERDUE).is_some(),
            within: profile.map_or(DEFAULT_REVIEW_WITHIN, |p| p.approval.review_within),
        });
        Self {
            approved_by,
            required: profile.map_or(1, |p| p.approval.required),
            via,
            deny_reason,
            asked,
            durations,
            channel: profile
                .and_then(|p| p.approval.channel.as_ref())
                .map(|c| c.as_str().to_owned()),
            review,
        }
    }

    pub fn view(&self) -> ApprovalView<'_> {
        ApprovalView {
            approved_by: &self.approved_by,
            required: self.required,
            via: self.via,
            deny_reason: self.deny_reason.as_deref(),
            asked: self.asked,
            durations: &self.durations,
            channel: self.channel.as_deref(),
            review: self.review.clone(),
        }
    }
}
