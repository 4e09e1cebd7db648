//! Who may request what, on which device, approved by whom — decided from
//! the config and already-resolved facts, without I/O.

use std::collections::BTreeSet;

use super::{DevicePolicy, Profile, SlackUserId};

/// The facts about a device that the rules look at.
#[derive(Clone, Copy, Debug)]
pub struct DeviceFacts<'a> {
    /// The owner's login (an e-mail); meaningless for tagged devices.
    pub owner: &'a str,
    pub tagged: bool,
}

/// Is this device one the requester (known by Slack e-mail) owns?
/// A tagged device is owned by its tags, never by a person.
pub fn is_own_device(device: DeviceFacts<'_>, requester_email: Option<&str>) -> bool {
    !device.tagged
        && requester_email
            .is_some_and(|email| !email.is_empty() && device.owner.eq_ignore_ascii_case(email))
}

/// May this requester ask for this profile on this device?
pub fn device_allowed(
    profile: &Profile,
    device: DeviceFacts<'_>,
    requester_email: Option<&str>,
) -> bool {
    match profile.devices {
        DevicePolicy::Own => is_own_device(device, requester_email),
        DevicePolicy::OwnAndTagged => device.tagged || is_own_device(device, requester_email),
        DevicePolicy::Any => true,
    }
}

/// The approvers of a profile with e-mails and groups resolved to users.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EligibleApprovers {
    /// The profile lists nobody: anyone in the workspace (but the requester,
    /// unless self-approval is allowed).
    Anyone,
    /// Exactly these users.
    Listed(BTreeSet<SlackUserId>),
}

impl EligibleApprovers {
    pub fn includes(&self, user: &SlackUserId) -> bool {
        match self {
            Self::Anyone => true,
            Self::Listed(set) => set.contains(user),
        }
    }
}

/// May `clicker` approve or deny a request by `requester` under the current config?
pub fn can_decide(
    profile: &Profile,
    eligible: &EligibleApprovers,
    requester: &SlackUserId,
    clicker: &SlackUserId,
) -> bool {
    if clicker == requester {
        return profile.can_self_approve && eligible.includes(clicker);
    }
    eligible.includes(clicker)
}

/// What happens after a valid submission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApprovalPlan {
    /// DM this approver with Approve / Deny (may be the requester when a
    /// self-approval must be confirmed).
    Ask(SlackUserId),
    /// Ask every eligible approver (DMs, or the profile's approval channel).
    AskApprovers,
    /// Approved on submission: self-approval without confirmation.
    SelfApproved,
    /// Approved on submission: the requester is on the profile's `auto_approve` list.
    AutoApproved,
    /// Granted on submission by the requester; announced and reviewed afterwards.
    BreakGlass,
}

impl ApprovalPlan {
    /// Is the request approved as it is stored?
    pub fn approved_at_once(&self) -> bool {
        matches!(
            self,
            Self::SelfApproved | Self::AutoApproved | Self::BreakGlass
        )
    }

    /// The `accessbot_decisions_total` label of an approval on submission.
    pub fn decision_label(&self) -> Option<&'static str> {
        match self {
            Self::SelfApproved => Some("self_approved"),
            Self::AutoApproved => Some("auto_approved"),
            Self::BreakGlass => Some("break_glass"),
            Self::Ask(_) | Self::AskApprovers => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApproverError {
    #[error("Please choose who should approve.")]
    Missing,
    #[error("You cannot approve your own request for this access.")]
    SelfApprovalNotAllowed,
    #[error("That person cannot approve this access.")]
    NotEligible,
}

/// Turns the approver chosen in the form (`None`: "no approval needed" /
/// left empty) into a plan, or says why it is not allowed.
pub fn plan_approval(
    profile: &Profile,
    eligible: &EligibleApprovers,
    requester: &SlackUserId,
    chosen: Option<&SlackUserId>,
) -> Result<ApprovalPlan, ApproverError> {
    let chosen = match chosen {
        Some(c) => c,
        // Leaving it empty means "no approval needed", only offered when
        // the requester may approve for themselves.
        None if profile.can_self_approve && eligible.includes(requester) => requester,
        None => return Err(ApproverError::Missing),
    };
    if chosen == requester {
        if !(profile.can_self_approve && eligible.includes(requester)) {
            return Err(ApproverError::SelfApprovalNotAllowed);
        }
        return Ok(if profile.confirm_self_approval {
            ApprovalPlan::Ask(requester.clone())
        } else {
            ApprovalPlan::SelfApproved
        });
    }
    if !eligible.includes(chosen) {
        return Err(ApproverError::NotEligible);
    }
    Ok(ApprovalPlan::Ask(chosen.clone()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::domain::{AttributeKey, AttributeValue};

    fn user(id: &str) -> SlackUserId {
        SlackUserId::parse(id).unwrap()
    }

    fn profile(devices: DevicePolicy, can_self: bool, confirm: bool) -> Profile {
        Profile {
            attribute: AttributeKey::parse("custom:prod").unwrap(),
            description: "Production".into(),
            max_duration: Duration::from_secs(3600),
            approvers: vec![],
            can_self_approve: can_self,
            confirm_self_approval: confirm,
            notify_channel: None,
            devices,
            value: AttributeValue::default(),
            allow_guests: false,
            extend_without_approval: None,
            approval: Default::default(),
        }
    }

    fn listed(ids: &[&str]) -> EligibleApprovers {
        EligibleApprovers::Listed(ids.iter().map(|i| user(i)).collect())
    }

    const ALICE_LAPTOP: DeviceFacts = DeviceFacts {
        owner: "Alice@Example.com",
        tagged: false,
    };
    const SERVER: DeviceFacts = DeviceFacts {
        owner: "tagged-devices",
        tagged: true,
    };
    const BOBS: DeviceFacts = DeviceFacts {
        owner: "bob@example.com",
        tagged: false,
    };

    #[test]
    fn own_devices_match_email_case_insensitively_and_never_tagged() {
        assert!(is_own_device(ALICE_LAPTOP, Some("alice@example.com")));
        assert!(!is_own_device(ALICE_LAPTOP, None));
        assert!(!is_own_device(ALICE_LAPTOP, Some("")));
        assert!(!is_own_device(
            DeviceFacts {
                owner: "alice@example.com",
                tagged: true
            },
            Some("alice@example.com")
        ));
    }

    #[test]
    fn device_policy_is_enforced() {
        let email = Some("alice@example.com");
        let own = profile(DevicePolicy::Own, false, false);
        assert!(device_allowed(&own, ALICE_LAPTOP, email));
        assert!(!device_allowed(&own, SERVER, email));
        assert!(!device_allowed(&own, BOBS, email));
        let tagged = profile(DevicePolicy::OwnAndTagged, false, false);
        assert!(device_allowed(&tagged, ALICE_LAPTOP, email));
        assert!(device_allowed(&tagged, SERVER, email));
        assert!(!device_allowed(&tagged, BOBS, email));
        let any = profile(DevicePolicy::Any, false, false);
        assert!(device_allowed(&any, BOBS, email));
        assert!(device_allowed(&any, SERVER, None));
    }

    #[test]
    fn deciding_needs_eligibility_and_self_approval_rules() {
        let p = profile(DevicePolicy::Own, false, false);
        let approvers = listed(&["UBOB1", "UCAROL"]);
        let alice = user("UALICE");
        assert!(can_decide(&p, &approvers, &alice, &user("UBOB1")));
        assert!(!can_decide(&p, &approvers, &alice, &user("UMALLORY")));
        assert!(!can_decide(&p, &approvers, &alice, &alice));
        assert!(can_decide(
            &p,
            &EligibleApprovers::Anyone,
            &alice,
            &user("UMALLORY")
        ));
        assert!(!can_decide(&p, &EligibleApprovers::Anyone, &alice, &alice));
        let selfish = profile(DevicePolicy::Own, true, true);
        assert!(
            !can_decide(&selfish, &approvers, &alice, &alice),
            "not a listed approver"
        );
        assert!(can_decide(&selfish, &listed(&["UALICE"]), &alice, &alice));
        assert!(can_decide(
            &selfish,
            &EligibleApprovers::Anyone,
            &alice,
            &alice
        ));
    }

    #[test]
    fn approval_plans() {
        use ApprovalPlan::{Ask, SelfApproved};
        use ApproverError::{Missing, NotEligible, SelfApprovalNotAllowed};
        let alice = user("UALICE");
        let bob = user("UBOB1");
        let eve = user("UEVE1");
        let strict = profile(DevicePolicy::Own, false, false);
        let self_ok = profile(DevicePolicy::Own, true, false);
        let confirm = profile(DevicePolicy::Own, true, true);
        let both = listed(&["UALICE", "UBOB1"]);
        let only_bob = listed(&["UBOB1"]);
        let anyone = EligibleApprovers::Anyone;
        for (row, (profile, eligible, chosen, expected)) in [
            (&strict, &both, Some(&bob), Ok(Ask(bob.clone()))),
            (&strict, &both, Some(&alice), Err(SelfApprovalNotAllowed)),
            (&strict, &both, None, Err(Missing)),
            (&strict, &only_bob, Some(&eve), Err(NotEligible)),
            (&self_ok, &both, Some(&alice), Ok(SelfApproved)),
            (&self_ok, &both, None, Ok(SelfApproved)),
            // Self-approval needs the requester to be an approver.
            (
                &self_ok,
                &only_bob,
                Some(&alice),
                Err(SelfApprovalNotAllowed),
            ),
            (&self_ok, &anyone, None, Ok(SelfApproved)),
            (&confirm, &both, Some(&alice), Ok(Ask(alice.clone()))),
        ]
        .into_iter()
        .enumerate()
        {
            assert_eq!(
                plan_approval(profile, eligible, &alice, chosen),
                expected,
                "row {row}"
            );
        }
    }
}
