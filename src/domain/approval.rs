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
mod tests {
    use super::*;
    use crate::domain::{ApprovalPolicy, AttributeKey, AttributeValue, DevicePolicy};

    fn user(id: &str) -> SlackUserId {
        SlackUserId::parse(id).unwrap()
    }

    fn profile(mode: ApprovalMode, required: u32, can_self: bool, confirm: bool) -> Profile {
        Profile {
            attribute: AttributeKey::parse("custom:prod").unwrap(),
            description: "Production".into(),
            max_duration: Duration::from_secs(8 * 3600),
            approvers: vec![],
            can_self_approve: can_self,
            confirm_self_approval: confirm,
            notify_channel: None,
            devices: DevicePolicy::Own,
            value: AttributeValue::default(),
            approval: ApprovalPolicy {
                mode,
                required,
                ..Default::default()
            },
        }
    }

    fn listed(ids: &[&str]) -> EligibleApprovers {
        EligibleApprovers::Listed(ids.iter().map(|i| user(i)).collect())
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn break_glass_and_auto_approval_come_first() {
        let alice = user("UALICE");
        let eligible = listed(&["UBOB1"]);
        let mut p = profile(ApprovalMode::Chosen, 1, false, false);
        let auto = Requester {
            id: &alice,
            auto_approved: true,
        };
        assert_eq!(
            plan(&p, &eligible, auto, None),
            Ok(ApprovalPlan::AutoApproved)
        );
        p.approval.break_glass = true;
        assert_eq!(
            plan(&p, &eligible, auto, None),
            Ok(ApprovalPlan::BreakGlass)
        );
        assert!(ApprovalPlan::BreakGlass.approved_at_once());
        assert_eq!(
            ApprovalPlan::AutoApproved.decision_label(),
            Some("auto_approved")
        );
    }

    #[test]
    fn chosen_asks_the_chosen_and_any_asks_everyone() {
        let alice = user("UALICE");
        let bob = user("UBOB1");
        let me = Requester {
            id: &alice,
            auto_approved: false,
        };
        let eligible = listed(&["UALICE", "UBOB1"]);
        let chosen = profile(ApprovalMode::Chosen, 1, false, false);
        assert_eq!(
            plan(&chosen, &eligible, me, Some(&bob)),
            Ok(ApprovalPlan::Ask(bob.clone()))
        );
        assert_eq!(
            plan(&chosen, &eligible, me, None),
            Err(ApproverError::Missing)
        );
        let any = profile(ApprovalMode::Any, 1, false, false);
        assert_eq!(
            plan(&any, &eligible, me, None),
            Ok(ApprovalPlan::AskApprovers)
        );
        // A chosen approver sent anyway is ignored.
        assert_eq!(
            plan(&any, &eligible, me, Some(&bob)),
            Ok(ApprovalPlan::AskApprovers)
        );
        let self_ok = profile(ApprovalMode::Any, 1, true, false);
        assert_eq!(
            plan(&self_ok, &eligible, me, None),
            Ok(ApprovalPlan::SelfApproved)
        );
        let confirm = profile(ApprovalMode::Any, 1, true, true);
        assert_eq!(
            plan(&confirm, &eligible, me, None),
            Ok(ApprovalPlan::AskApprovers)
        );
        // Never self-approved when more than one approval is needed.
        let two = profile(ApprovalMode::Any, 2, true, false);
        assert_eq!(
            plan(&two, &eligible, me, None),
            Ok(ApprovalPlan::AskApprovers)
        );
    }

    #[test]
    fn who_may_decide() {
        let (alice, bob, carol, eve) =
            (user("UALICE"), user("UBOB1"), user("UCAROL"), user("UEVE1"));
        let eligible = listed(&["UALICE", "UBOB1", "UCAROL"]);
        let chosen = profile(ApprovalMode::Chosen, 1, false, false);
        assert_eq!(
            may_decide(&chosen, &eligible, &alice, Some(&bob), &bob),
            Ok(())
        );
        assert_eq!(
            may_decide(&chosen, &eligible, &alice, Some(&bob), &carol),
            Err(Refusal::NotYours)
        );
        let any = profile(ApprovalMode::Any, 1, false, false);
        assert_eq!(may_decide(&any, &eligible, &alice, None, &carol), Ok(()));
        // The request named bob under an earlier config: any approver now.
        assert_eq!(
            may_decide(&any, &eligible, &alice, Some(&bob), &carol),
            Ok(())
        );
        assert_eq!(
            may_decide(&any, &eligible, &alice, None, &eve),
            Err(Refusal::NotAnApprover)
        );
        assert_eq!(
            may_decide(&any, &eligible, &alice, None, &alice),
            Err(Refusal::NotAnApprover),
            "no self-approval"
        );
        let self_ok = profile(ApprovalMode::Any, 1, true, true);
        assert_eq!(
            may_decide(&self_ok, &eligible, &alice, None, &alice),
            Ok(())
        );
        let two = profile(ApprovalMode::Any, 2, true, true);
        assert_eq!(
            may_decide(&two, &eligible, &alice, None, &alice),
            Err(Refusal::OwnApproval(2)),
            "the requester never counts, even with can_self_approve"
        );
        assert_eq!(may_decide(&two, &eligible, &alice, None, &bob), Ok(()));
        assert_eq!(
            may_decide(&any, &EligibleApprovers::Anyone, &alice, None, &eve),
            Ok(()),
            "an approval channel open to anyone"
        );
    }

    #[test]
    fn reviewers_are_listed_approvers_but_the_requester() {
        let (alice, bob, eve) = (user("UALICE"), user("UBOB1"), user("UEVE1"));
        let eligible = listed(&["UALICE", "UBOB1"]);
        assert!(may_review(&eligible, &alice, &bob));
        assert!(!may_review(&eligible, &alice, &alice));
        assert!(!may_review(&eligible, &alice, &eve));
        assert!(!may_review(&EligibleApprovers::Anyone, &alice, &eve));
    }

    #[test]
    fn recipients_leave_out_the_requester_unless_they_may_confirm() {
        let people = [user("UALICE"), user("UBOB1"), user("UCAROL")];
        let alice = user("UALICE");
        let any = profile(ApprovalMode::Any, 1, false, false);
        assert_eq!(recipients(&any, &people, &alice), &people[1..]);
        let confirm = profile(ApprovalMode::Any, 1, true, true);
        assert_eq!(recipients(&confirm, &people, &alice), people);
        let many: Vec<SlackUserId> = (0..80).map(|i| user(&format!("U{i:08}"))).collect();
        assert_eq!(recipients(&any, &many, &alice).len(), MAX_APPROVER_DMS);
    }

    #[test]
    fn the_nth_distinct_approval_completes() {
        assert!(completes(1, 1));
        assert!(!completes(1, 2));
        assert!(completes(2, 2));
        assert!(completes(3, 2));
        assert!(completes(1, 0), "0 is read as 1");
        assert!(!completes(0, 1));
    }

    #[test]
    fn approvers_may_shorten_but_not_lengthen() {
        let p = profile(ApprovalMode::Any, 1, false, false);
        let eight = 8 * HOUR;
        assert_eq!(approved_duration(Some(&p), eight, None), Ok(None));
        assert_eq!(approved_duration(Some(&p), eight, Some(eight)), Ok(None));
        assert_eq!(
            approved_duration(Some(&p), eight, Some(HOUR)),
            Ok(Some(HOUR))
        );
        assert_eq!(
            approved_duration(Some(&p), HOUR, Some(2 * HOUR)),
            Err(DurationRefusal::Longer("1h".into()))
        );
        assert_eq!(
            approved_duration(Some(&p), eight, Some(Duration::from_secs(3601))),
            Err(DurationRefusal::NotOffered)
        );
        assert_eq!(
            approved_duration(None, eight, Some(HOUR)),
            Err(DurationRefusal::NotOffered),
            "the profile is gone"
        );
        let offered = approvable_durations(Some(&p), 2 * HOUR);
        assert_eq!(offered.first(), Some(&Duration::from_secs(300)));
        assert_eq!(offered.last(), Some(&(2 * HOUR)));
        assert!(offered.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(approvable_durations(None, HOUR), vec![HOUR]);
        assert_eq!(
            effective_duration(eight, [None, Some(2 * HOUR), Some(HOUR)]),
            HOUR
        );
        assert_eq!(effective_duration(eight, [None, None]), eight);
    }

    #[test]
    fn deny_reasons_are_trimmed_and_bounded() {
        assert_eq!(deny_reason(None), None);
        assert_eq!(deny_reason(Some("  \n ")), None);
        assert_eq!(
            deny_reason(Some(" use staging ")).as_deref(),
            Some("use staging")
        );
        let long = "é".repeat(MAX_DENY_REASON_LEN + 10);
        assert_eq!(
            deny_reason(Some(&long)).unwrap().chars().count(),
            MAX_DENY_REASON_LEN
        );
    }

    #[test]
    fn break_glass_needs_twenty_characters() {
        let short = Reason::parse("db down").unwrap();
        assert!(check_break_glass_reason(&short)
            .unwrap_err()
            .contains("has 7"));
        let enough = Reason::parse("primary db down, INC-7").unwrap();
        assert_eq!(check_break_glass_reason(&enough), Ok(()));
    }
}
