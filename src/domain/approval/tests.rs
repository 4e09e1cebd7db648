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
        allow_guests: false,
        extend_without_approval: None,
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
    let (alice, bob, carol, eve) = (user("UALICE"), user("UBOB1"), user("UCAROL"), user("UEVE1"));
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
