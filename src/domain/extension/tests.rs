use super::*;
use crate::domain::{
    ApprovalPolicy, AttributeKey, AttributeValue, DevicePolicy, DeviceSnapshot, NodeId, Reason,
    RequestId,
};

const HOUR: Duration = Duration::from_secs(3600);

fn user(id: &str) -> SlackUserId {
    SlackUserId::parse(id).unwrap()
}

/// Minutes after a fixed instant.
fn at(mins: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap() + chrono::Duration::minutes(mins)
}

/// Production: 8h at most, 1h more without approval.
fn profile() -> Profile {
    Profile {
        attribute: AttributeKey::parse("custom:prod").unwrap(),
        description: "Production".into(),
        max_duration: 8 * HOUR,
        approvers: vec![],
        can_self_approve: false,
        confirm_self_approval: false,
        notify_channel: None,
        devices: DevicePolicy::Own,
        value: AttributeValue::default(),
        allow_guests: false,
        approval: ApprovalPolicy::default(),
        extend_without_approval: Some(HOUR),
    }
}

/// Alice's grant, approved at minute 0 for `hours`.
fn grant(hours: i64) -> AccessRequest {
    AccessRequest {
        id: RequestId::new(),
        requester: user("U0ALICE01"),
        requester_email: None,
        attribute: AttributeKey::parse("custom:prod").unwrap(),
        value: AttributeValue::Bool(true),
        device: DeviceSnapshot {
            node_id: NodeId::parse("n1").unwrap(),
            name: "laptop".into(),
            owner: String::new(),
            tags: vec![],
            os: String::new(),
            addresses: vec![],
        },
        duration: Duration::from_secs(hours as u64 * 3600),
        approver: Some(user("U0BOB0001")),
        reason: Reason::parse("why").unwrap(),
        status: RequestStatus::Active,
        created_at: at(0),
        updated_at: at(0),
        decided_by: Some(user("U0BOB0001")),
        decided_by_email: None,
        decided_at: Some(at(0)),
        expires_at: Some(at(hours * 60)),
        failure_reason: None,
        extends: None,
    }
}

fn alice() -> SlackUserId {
    user("U0ALICE01")
}

#[test]
fn a_little_more_within_the_window_needs_no_approval() {
    let g = grant(2);
    let path = check(&g, &alice(), &profile(), Duration::ZERO, HOUR, at(30));
    assert_eq!(path, Ok(Path::WithoutApproval { until: at(180) }));
    // The allowance is for all extensions together.
    let path = check(&g, &alice(), &profile(), HOUR / 2, HOUR, at(30));
    assert_eq!(path, Ok(Path::NeedsApproval { until: at(180) }));
    // More than the allowance needs approval.
    let path = check(&g, &alice(), &profile(), Duration::ZERO, 2 * HOUR, at(30));
    assert_eq!(path, Ok(Path::NeedsApproval { until: at(240) }));
    // A profile without an allowance always asks.
    let strict = Profile {
        extend_without_approval: None,
        ..profile()
    };
    let path = check(&g, &alice(), &strict, Duration::ZERO, HOUR / 4, at(30));
    assert_eq!(path, Ok(Path::NeedsApproval { until: at(135) }));
}

#[test]
fn without_approval_the_total_stays_within_max_duration_of_the_approval() {
    // Approved at 0 for 8h, extended so far to 7h30 past it: half an hour
    // more is free, an hour would pass 8h from the approval.
    let mut g = grant(8);
    g.expires_at = Some(at(7 * 60 + 30));
    let p = profile();
    let half = Duration::from_secs(30 * 60);
    assert_eq!(
        check(&g, &alice(), &p, Duration::ZERO, half, at(60)),
        Ok(Path::WithoutApproval { until: at(8 * 60) })
    );
    assert_eq!(
        check(&g, &alice(), &p, Duration::ZERO, HOUR, at(60)),
        Ok(Path::NeedsApproval {
            until: at(8 * 60 + 30)
        })
    );
}

#[test]
fn an_extension_no_approval_could_allow_is_refused_naming_the_latest_time() {
    let g = grant(8);
    // At minute 60 an approval reaches 9h at most: 2h more is too much.
    let refused = check(&g, &alice(), &profile(), Duration::ZERO, 2 * HOUR, at(60));
    let Err(Refusal::TooLong { latest, .. }) = &refused else {
        panic!("{refused:?}")
    };
    assert_eq!(latest, &plain_time(at(9 * 60)));
    let text = refused.unwrap_err().to_string();
    assert!(text.contains("Production lasts at most 8h"), "{text}");
    assert!(text.contains("2027-01-15 17:00 UTC"), "{text}");
    // The form offers only what an approval now could allow.
    assert_eq!(
        offered(&g, &alice(), &profile(), at(60)),
        Ok(vec![
            Duration::from_secs(300),
            Duration::from_secs(900),
            Duration::from_secs(1800),
            HOUR
        ])
    );
    let at_limit = offered(&g, &alice(), &profile(), at(0));
    assert!(
        matches!(at_limit, Err(Refusal::AtTheLimit { .. })),
        "{at_limit:?}"
    );
}

#[test]
fn only_the_requester_of_an_active_grant_extends_it_by_an_offered_duration() {
    let g = grant(2);
    let p = profile();
    let bob = user("U0BOB0001");
    assert_eq!(
        check(&g, &bob, &p, Duration::ZERO, HOUR, at(1)),
        Err(Refusal::NotRequester)
    );
    assert_eq!(
        check(&g, &alice(), &p, Duration::ZERO, HOUR + HOUR / 60, at(1)),
        Err(Refusal::NotOffered)
    );
    let mut revoking = g.clone();
    revoking.status = RequestStatus::Revoking;
    assert_eq!(
        check(&revoking, &alice(), &p, Duration::ZERO, HOUR, at(1)),
        Err(Refusal::NotActive("being revoked".into()))
    );
    // Past its expiry, not yet marked: it has ended.
    assert_eq!(
        check(&g, &alice(), &p, Duration::ZERO, HOUR, at(120)),
        Err(Refusal::Ended)
    );
    assert_eq!(offered(&g, &bob, &p, at(1)), Err(Refusal::NotRequester));
}

#[test]
fn an_approved_extension_reaches_at_most_max_duration_past_its_approval() {
    let grant_until = at(120);
    assert_eq!(
        approved_until(grant_until, HOUR, at(60), 8 * HOUR),
        Some(at(180))
    );
    // Approved late: past the original window is fine, past the approval's is not.
    assert_eq!(
        approved_until(grant_until, 8 * HOUR, at(100), 8 * HOUR),
        Some(at(100 + 8 * 60))
    );
    assert_eq!(approved_until(at(600), HOUR, at(60), 8 * HOUR), None);
}

#[test]
fn the_grants_decider_is_asked_again_while_eligible() {
    let p = profile();
    let (alice, bob, carol) = (alice(), user("U0BOB0001"), user("U0CAROL01"));
    let eligible = EligibleApprovers::Listed([bob.clone(), carol.clone()].into());
    let who = Requester {
        id: &alice,
        auto_approved: false,
    };
    assert_eq!(
        plan(&p, &eligible, who, Some(&bob)),
        Ok(ApprovalPlan::Ask(bob.clone()))
    );
    // No longer an approver, or nobody decided: every approver is asked.
    let only_carol = EligibleApprovers::Listed([carol.clone()].into());
    assert_eq!(
        plan(&p, &only_carol, who, Some(&bob)),
        Ok(ApprovalPlan::AskApprovers)
    );
    assert_eq!(
        plan(&p, &eligible, who, None),
        Ok(ApprovalPlan::AskApprovers)
    );
    // Self-approval and auto-approval apply as to any request.
    let mut own = p.clone();
    own.can_self_approve = true;
    let with_alice = EligibleApprovers::Listed([alice.clone(), bob.clone()].into());
    assert_eq!(
        plan(&own, &with_alice, who, Some(&alice)),
        Ok(ApprovalPlan::SelfApproved)
    );
    let auto = Requester {
        id: &alice,
        auto_approved: true,
    };
    assert_eq!(
        plan(&p, &eligible, auto, Some(&bob)),
        Ok(ApprovalPlan::AutoApproved)
    );
    // "any" and N-of-M ask every approver; break glass asks its approvers.
    let mut any = p.clone();
    any.approval.mode = ApprovalMode::Any;
    any.approval.required = 2;
    assert_eq!(
        plan(&any, &eligible, who, Some(&bob)),
        Ok(ApprovalPlan::AskApprovers)
    );
    let mut glass = p;
    glass.approval.break_glass = true;
    assert_eq!(
        plan(&glass, &eligible, who, Some(&alice)),
        Ok(ApprovalPlan::AskApprovers)
    );
}
