//! An access request and its state machine.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AttributeKey, AttributeValue, NodeId, Reason, RequestId, SlackUserId};

/// Where a request is in its life.
///
/// `pending → approved → active → expired | revoking → revoked`,
/// `pending → denied | cancelled | timed_out`, `approved → failed | cancelled`,
/// `active → revoked` (the attribute was removed outside accessbot),
/// `active → failed` (the device is gone) and, for a request to extend
/// a grant (see [`AccessRequest::extends`]), `approved → extended` (the
/// extra time was added to the grant; the request itself never grants). A status that speaks of the
/// tailnet (`active`, `expired`, `revoked`, `failed`) is only reached once
/// the tailnet has been seen to match it; `revoking` is the time between a
/// Revoke and Tailscale's confirmation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Pending,
    Approved,
    Active,
    Expired,
    Revoking,
    Revoked,
    Denied,
    Cancelled,
    TimedOut,
    Failed,
    /// An extension request whose time was added to its grant.
    Extended,
}

impl RequestStatus {
    pub const ALL: [RequestStatus; 11] = [
        Self::Pending,
        Self::Approved,
        Self::Active,
        Self::Expired,
        Self::Revoking,
        Self::Revoked,
        Self::Denied,
        Self::Cancelled,
        Self::TimedOut,
        Self::Failed,
        Self::Extended,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Revoking => "revoking",
            Self::Revoked => "revoked",
            Self::Denied => "denied",
            Self::Cancelled => "cancelled",
            Self::TimedOut => "timed_out",
            Self::Failed => "failed",
            Self::Extended => "extended",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Where a request may need its attribute on the tailnet, or may have
    /// left it there: the statuses the one writer reads.
    pub const LIVE: [RequestStatus; 3] = [Self::Approved, Self::Active, Self::Revoking];

    /// The status in words ("timed out", "being revoked").
    pub fn describe(&self) -> String {
        match self {
            Self::Revoking => "being revoked".into(),
            other => other.as_str().replace('_', " "),
        }
    }

    /// No transition leaves a terminal state.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Expired
                | Self::Revoked
                | Self::Denied
                | Self::Cancelled
                | Self::TimedOut
                | Self::Failed
                | Self::Extended
        )
    }

    /// The state machine: is `self → to` allowed?
    pub fn can_become(&self, to: RequestStatus) -> bool {
        use RequestStatus::*;
        matches!(
            (self, to),
            (Pending, Approved | Denied | Cancelled | TimedOut)
                | (Approved, Active | Failed | Cancelled | Extended)
                | (Active, Expired | Revoking | Revoked | Failed)
                | (Revoking, Revoked)
        )
    }

    /// `self → to` as a checked step.
    pub fn transition(&self, to: RequestStatus) -> Result<RequestStatus, InvalidTransition> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(InvalidTransition { from: *self, to })
        }
    }
}

impl fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a request cannot go from {from} to {to}")]
pub struct InvalidTransition {
    pub from: RequestStatus,
    pub to: RequestStatus,
}

/// The device as it was when requested: what the approver was shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceSnapshot {
    pub node_id: NodeId,
    pub name: String,
    pub tags: Vec<String>,
    pub addresses: Vec<String>,
    /// The owner's login for a personal device; empty for a tagged one.
    pub owner: String,
    pub os: String,
}

/// One access request.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AccessRequest {
    pub id: RequestId,
    pub requester: SlackUserId,
    /// The requester's Slack e-mail when known (for comments and audit).
    pub requester_email: Option<String>,
    /// The profile's attribute key at request time.
    pub attribute: AttributeKey,
    /// The value that will be set, captured from the profile at request time.
    pub value: AttributeValue,
    pub device: DeviceSnapshot,
    pub duration: Duration,
    /// Who was asked to decide; `None` when no approval is needed.
    pub approver: Option<SlackUserId>,
    pub reason: Reason,
    pub status: RequestStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub decided_by: Option<SlackUserId>,
    /// The decider's Slack e-mail when known at decision time (for the
    /// attribute's comment; no Slack call is needed later).
    pub decided_by_email: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub failure_reason: Option<String>,
    /// The grant this request asks to extend: its duration is the extra
    /// time. Such a request never puts anything on the tailnet itself;
    /// once approved, its time is added to the grant (`extended`).
    pub extends: Option<RequestId>,
}

impl AccessRequest {
    /// Is this a request to extend a grant (not a grant of its own)?
    pub fn is_extension(&self) -> bool {
        self.extends.is_some()
    }

    /// When access ends if approved at `decided_at`, in whole seconds: the
    /// precision Tailscale keeps, so the stored expiry and the attribute's
    /// are the same instant.
    pub fn expiry_from(&self, decided_at: DateTime<Utc>) -> DateTime<Utc> {
        use chrono::SubsecRound;
        (decided_at + chrono::Duration::from_std(self.duration).unwrap_or(chrono::Duration::zero()))
            .trunc_subsecs(0)
    }
}

#[cfg(test)]
mod tests {
    use super::RequestStatus::*;
    use super::*;

    const ALLOWED: &[(RequestStatus, RequestStatus)] = &[
        (Pending, Approved),
        (Pending, Denied),
        (Pending, Cancelled),
        (Pending, TimedOut),
        (Approved, Active),
        (Approved, Failed),
        (Approved, Cancelled),
        (Approved, Extended),
        (Active, Expired),
        (Active, Revoking),
        (Active, Revoked),
        (Active, Failed),
        (Revoking, Revoked),
    ];

    #[test]
    fn every_pair_of_states_is_allowed_exactly_when_listed() {
        for from in RequestStatus::ALL {
            for to in RequestStatus::ALL {
                let expected = ALLOWED.contains(&(from, to));
                assert_eq!(from.can_become(to), expected, "{from} → {to}");
                match from.transition(to) {
                    Ok(s) => assert_eq!(s, to),
                    Err(e) => {
                        assert!(!expected);
                        assert_eq!(e, InvalidTransition { from, to });
                    }
                }
            }
        }
    }

    #[test]
    fn terminal_states_have_no_way_out() {
        for s in RequestStatus::ALL {
            let has_exit = RequestStatus::ALL.iter().any(|t| s.can_become(*t));
            assert_eq!(s.is_terminal(), !has_exit, "{s}");
        }
    }

    #[test]
    fn expiry_is_decision_time_plus_duration_in_whole_seconds() {
        let decided = DateTime::parse_from_rfc3339("2026-01-01T10:00:00.750Z")
            .unwrap()
            .with_timezone(&Utc);
        let req = AccessRequest {
            id: RequestId::new(),
            requester: SlackUserId::parse("U0ALICE01").unwrap(),
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
            duration: Duration::from_secs(3600),
            approver: None,
            reason: Reason::parse("why").unwrap(),
            status: Pending,
            created_at: decided,
            updated_at: decided,
            decided_by: None,
            decided_by_email: None,
            decided_at: None,
            expires_at: None,
            failure_reason: None,
            extends: None,
        };
        assert_eq!(
            req.expiry_from(decided).to_rfc3339(),
            "2026-01-01T11:00:00+00:00"
        );
    }

    #[test]
    fn statuses_round_trip_their_names() {
        for s in RequestStatus::ALL {
            assert_eq!(RequestStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(RequestStatus::parse("approve"), None);
    }
}
