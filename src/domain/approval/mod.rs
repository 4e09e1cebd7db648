//! Approval policies, decided from the config and already-resolved facts,
//! without I/O: what a submission leads to, who may approve or deny at
//! click time, how many approvals complete a request and for how long,
//! and who reviews a break-glass grant.

use std::time::Duration;

use super::policy::{can_decide, plan_approval, ApprovalPlan, ApproverError, EligibleApprovers};
use super::profile::format_duration;
use super::{ApprovalMode, Profile, Reason, SlackUserId};

/// Shortest reason a break-glass request may give.
pub const MIN_BREAK_GLASS_REASON: usize = 20;
/// Longest deny reason kept (the message's input allows the same).
pub const MAX_DENY_REASON_LEN: usize = 500;
/// Most approvers sent a DM of one request ("any"); a larger group should
/// use an approval channel.
pub const MAX_APPROVER_DMS: usize = 50;

/// What is known about the requester when a form is submitted.
#[derive(Clone, Copy, Debug)]
pub struct Requester<'a> {
    pub id: &'a SlackUserId,
    /// On the profile's `auto_approve` list (resolved).
    pub auto_approved: bool,
}

/// May `requester` approve their own request under this profile? Only
/// with `can_self_approve`, as an approver, and never towards more than
/// one approval.
pub fn may_self_approve(
    profile: &Profile,
    eligible: &EligibleApprovers,
    requester: &SlackUserId,
) -> bool {
    profile.can_self_approve && eligible.includes(requester) && profile.approval.required <= 1
}

/// Does one approver decide alone, the one the requester named?
fn chosen_alone(profile: &Profile) -> bool {
    profile.approval.mode == ApprovalMode::Chosen && profile.approval.required <= 1
}

/// What a valid submission leads to: break glass and auto-approval first,
/// then the chosen approver, or every approver.
pub fn plan(
    profile: &Profile,
    eligible: &EligibleApprovers,
    requester: Requester<'_>,
    chosen: Option<&SlackUserId>,
) -> Result<ApprovalPlan, ApproverError> {
    if profile.approval.break_glass {
        return Ok(ApprovalPlan::BreakGlass);
    }
    if requester.auto_approved {
        return Ok(ApprovalPlan::AutoApproved);
    }
    if chosen_alone(profile) {
        return plan_approval(profile, eligible, requester.id, chosen);
    }
    let self_now =
        may_self_approve(profile, eligible, requester.id) && !profile.confirm_self_approval;
    Ok(if self_now {
        ApprovalPlan::SelfApproved
    } else {
        ApprovalPlan::AskApprovers
    })
}

/// Why a click to approve or deny does not count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The request names another approver (or the clicker is not eligible).
    #[error("You cannot decide this request.")]
    NotYours,
    #[error("You can't approve this request: you are not one of its approvers.")]
    NotAnApprover,
    #[error(
        "Your own approval does not count: this access needs {0} approvals from other people."
    )]
    OwnApproval(u32),
}

/// May `clicker` approve or deny the request of `requester` (which named
/// `named` as its approver, if anyone), under the current config?
pub fn may_decide(
    profile: &Profile,
    eligible: &EligibleApprovers,
    requester: &SlackUserId,
    named: Option<&SlackUserId>,
    clicker: &SlackUserId,
) -> Result<(), Refusal> {
    if chosen_alone(profile) {
        if named.is_some_and(|n| n != clicker) {
            return Err(Refusal::NotYours);
        }
        return match can_decide(profile, eligible, requester, clicker) {
            true => Ok(()),
            false => Err(Refusal::NotYours),
        };
    }
    if clicker == requester && profile.approval.required > 1 {
        return Err(Refusal::OwnApproval(profile.approval.required));
    }
    let allowed = match clicker == requester {
        true => may_self_approve(profile, eligible, requester),
        false => eligible.includes(clicker),
    };
    if allowed {
        Ok(())
    } else {
        Err(Refusal::NotAnApprover)
    }
}

/// May `clicker` acknowledge (review) a break-glass grant? Its approvers
/// by name or group, never the requester, never "anyone".
pub fn may_review(
    eligible: &EligibleApprovers,
    requester: &SlackUserId,
    clicker: &SlackUserId,
) -> bool {
    clicker != requester
        && matches!(eligible, EligibleApprovers::Listed(set) if set.contains(clicker))
}

/// Who gets a DM asking to approve (approval = "any", no channel): the
/// approvers in config order, without the requester unless they may
/// confirm their own request, at most [`MAX_APPROVER_DMS`].
pub fn recipients(
    profile: &Profile,
    approvers: &[SlackUserId],
    requester: &SlackUserId,
) -> Vec<SlackUserId> {
    let self_ok = profile.can_self_approve && profile.approval.required <= 1;
    approvers
        .iter()
        .filter(|u| *u != requester || self_ok)
        .take(MAX_APPROVER_DMS)
        .cloned()
        .collect()
}

/// Is a request approved once it has `approvals` distinct approvals?
pub fn completes(approvals: usize, required: u32) -> bool {
    approvals >= required.max(1) as usize
}

/// Why a duration chosen by an approver is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationRefusal {
    #[error("You can approve for at most the {0} that was asked for.")]
    Longer(String),
    #[error("That duration is not offered for this access any more.")]
    NotOffered,
}

/// The durations an approver may choose: those the profile offers up to
/// the one asked for, and the one asked for itself, shortest first.
pub fn approvable_durations(profile: Option<&Profile>, asked: Duration) -> Vec<Duration> {
    let mut out: Vec<Duration> = profile
        .map(|p| p.allowed_durations())
        .unwrap_or_default()
        .into_iter()
        .filter(|d| *d < asked)
        .collect();
    out.push(asked);
    out
}

/// The duration an approver chose (`None`: as asked), checked against the
/// current profile: one it offers, and no longer than asked. `Ok(None)`
/// when it is the duration asked for.
pub fn approved_duration(
    profile: Option<&Profile>,
    asked: Duration,
    chosen: Option<Duration>,
) -> Result<Option<Duration>, DurationRefusal> {
    match chosen {
        None => Ok(None),
        Some(d) if d == asked => Ok(None),
        Some(d) if d > asked => Err(DurationRefusal::Longer(format_duration(asked))),
        Some(d) if profile.is_some_and(|p| p.allows_duration(d)) => Ok(Some(d)),
        Some(_) => Err(DurationRefusal::NotOffered),
    }
}

/// How long access lasts once approved: the shortest of what was asked
/// and what each approver chose.
pub fn effective_duration(
    asked: Duration,
    chosen: impl IntoIterator<Item = Option<Duration>>,
) -> Duration {
    chosen.into_iter().flatten().fold(asked, Duration::min)
}

/// A deny reason as typed: trimmed, cut to [`MAX_DENY_REASON_LEN`]
/// characters; `None` when there is none.
pub fn deny_reason(raw: Option<&str>) -> Option<String> {
    let trimmed = raw?.trim();
    (!trimmed.is_empty()).then(|| trimmed.chars().take(MAX_DENY_REASON_LEN).collect())
}

/// A break-glass request must say what is broken, in at least
/// [`MIN_BREAK_GLASS_REASON`] characters.
pub fn check_break_glass_reason(reason: &Reason) -> Result<(), String> {
    let len = reason.as_str().chars().count();
    if len >= MIN_BREAK_GLASS_REASON {
        Ok(())
    } else {
        Err(format!(
            "Break glass needs a reason of at least {MIN_BREAK_GLASS_REASON} characters (this one has {len}): say what is broken and why it cannot wait."
        ))
    }
}

#[cfg(test)]
mod tests;
