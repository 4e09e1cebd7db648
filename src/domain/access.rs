//! What the tailnet should carry: for one (device, attribute key) pair, the
//! attribute's desired state follows from the requests on that pair alone.
//! Everything that writes an attribute computes it here, from requests read
//! under the pair's lock, so no stale list can decide a write.

use chrono::{DateTime, Utc};

use super::{AccessRequest, AttributeKey, AttributeValue, NodeId, RequestStatus};

/// A device and an attribute key: the unit that one writer at a time owns.
/// Tailscale treats keys case-insensitively, so the pair's identity does
/// too; it keeps the spelling it was made with, for writing.
#[derive(Clone, Debug)]
pub struct Pair {
    pub node: NodeId,
    pub key: AttributeKey,
    /// The key in lower case: the identity.
    folded: String,
}

impl Pair {
    pub fn new(node: NodeId, key: &AttributeKey) -> Self {
        Self {
            node,
            folded: key.as_str().to_ascii_lowercase(),
            key: key.clone(),
        }
    }

    pub fn of(req: &AccessRequest) -> Self {
        Self::new(req.device.node_id.clone(), &req.attribute)
    }

    /// A stable name, e.g. for a lock row: `nodeId/custom:key`.
    pub fn lock_name(&self) -> String {
        format!("{}/{}", self.node, self.folded)
    }

    /// Is `key` (as a device reports it) this pair's key?
    pub fn is_key(&self, key: &str) -> bool {
        key.eq_ignore_ascii_case(&self.folded)
    }

    pub fn covers(&self, req: &AccessRequest) -> bool {
        req.device.node_id == self.node && self.is_key(req.attribute.as_str())
    }

    fn identity(&self) -> (&NodeId, &str) {
        (&self.node, &self.folded)
    }
}

impl PartialEq for Pair {
    fn eq(&self, other: &Self) -> bool {
        self.identity() == other.identity()
    }
}

impl Eq for Pair {}

impl std::hash::Hash for Pair {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.identity().hash(state)
    }
}

impl PartialOrd for Pair {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pair {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.identity().cmp(&other.identity())
    }
}

/// The attribute as it should be on the device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    pub value: AttributeValue,
    pub expiry: DateTime<Utc>,
    /// The grant that sets the expiry (for the comment).
    pub for_request: super::RequestId,
}

/// When `req` would end if it is (or becomes) active: its stored expiry
/// once active, else decision time + duration.
pub fn access_until(req: &AccessRequest) -> Option<DateTime<Utc>> {
    if req.is_extension() {
        return None; // its time is its grant's
    }
    match req.status {
        RequestStatus::Active | RequestStatus::Revoking => req.expires_at,
        RequestStatus::Approved => req.decided_at.map(|d| req.expiry_from(d)),
        _ => None,
    }
}

/// How long after an attribute's expiry Tailscale may still be removing
/// it ("within a few minutes"): past this, an expired attribute is gone
/// whether or not accessbot saw it go.
pub const TAILSCALE_EXPIRY_LAG: chrono::Duration = chrono::Duration::minutes(5);

/// The latest moment `req` could have put access on the tailnet: its
/// expiry once active, or what its expiry would have been for an approval
/// (a write may have landed even when Tailscale's answer did not). `None`
/// for a request never decided, and for a request to extend a grant,
/// which never writes the tailnet itself.
pub fn could_last_until(req: &AccessRequest) -> Option<DateTime<Utc>> {
    if req.is_extension() {
        return None;
    }
    req.expires_at
        .or_else(|| req.decided_at.map(|d| req.expiry_from(d)))
}

/// Has Tailscale's own expiry ended any access `req` could have given, at
/// `now`? Then nothing of it can be left on the tailnet.
pub fn ended_by_expiry(req: &AccessRequest, now: DateTime<Utc>) -> bool {
    could_last_until(req).is_none_or(|until| until + TAILSCALE_EXPIRY_LAG <= now)
}

/// Does `req` need the attribute on its device at `now`? Active grants
/// before their expiry, and approvals still being granted (not given up).
/// Never a request to extend a grant: its grant carries the time.
pub fn needs_access(req: &AccessRequest, now: DateTime<Utc>) -> bool {
    if req.is_extension() {
        return false;
    }
    let live = match req.status {
        RequestStatus::Active => true,
        RequestStatus::Approved => req.failure_reason.is_none(),
        _ => false,
    };
    live && access_until(req).is_some_and(|until| until > now)
}

/// The desired state of a pair: absent (`None`), or the value of the grant
/// with the latest expiry among those that need access, until that expiry.
/// Overlapping grants never cut each other short.
pub fn wanted(requests: &[AccessRequest], now: DateTime<Utc>) -> Option<Wanted> {
    requests
        .iter()
        .filter(|r| needs_access(r, now))
        .filter_map(|r| access_until(r).map(|until| (until, r)))
        .max_by_key(|(until, r)| (*until, r.id))
        .map(|(expiry, r)| Wanted {
            value: r.value.clone(),
            expiry,
            for_request: r.id,
        })
}

/// What a device carries for the pair's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Carried {
    pub value: Option<serde_json::Value>,
    /// `None` when Tailscale did not say (`expiries` may be missing).
    pub expiry: Option<DateTime<Utc>>,
}

/// Slack between an attribute's expiry and the grant it is matched to
/// (Tailscale keeps whole seconds; clocks differ a little).
const EXPIRY_SLACK: chrono::Duration = chrono::Duration::minutes(1);

/// Could an attribute expiring at `expiry` have been put there by one of
/// `requests`? An attribute without an expiry never is accessbot's.
pub fn accounted_for(expiry: Option<DateTime<Utc>>, requests: &[AccessRequest]) -> bool {
    let latest = requests.iter().filter_map(could_last_until).max();
    matches!((expiry, latest), (Some(e), Some(l)) if e <= l + EXPIRY_SLACK)
}

/// Does the device already carry what is wanted? An expiry Tailscale does
/// not report cannot be compared (accessbot always sends one), so only the
/// value counts then.
pub fn matches(carried: &Carried, wanted: Option<&Wanted>) -> bool {
    match (wanted, &carried.value) {
        (None, None) => true,
        (None, Some(_)) | (Some(_), None) => false,
        (Some(w), Some(v)) => {
            *v == w.value.to_json() && carried.expiry.is_none_or(|e| e == w.expiry)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::domain::{DeviceSnapshot, Reason, RequestId, SlackUserId};

    fn at(mins: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + chrono::Duration::minutes(mins)
    }

    fn req(status: RequestStatus, decided: i64, hours: u64) -> AccessRequest {
        let decided_at = at(decided);
        let mut r = AccessRequest {
            id: RequestId::new(),
            requester: SlackUserId::parse("U0ALICE01").unwrap(),
            requester_email: None,
            attribute: AttributeKey::parse("custom:Prod").unwrap(),
            value: AttributeValue::Bool(true),
            device: DeviceSnapshot {
                node_id: NodeId::parse("n1").unwrap(),
                name: "laptop".into(),
                owner: String::new(),
                tags: vec![],
                os: String::new(),
                addresses: vec![],
            },
            duration: Duration::from_secs(hours * 3600),
            approver: None,
            reason: Reason::parse("why").unwrap(),
            status,
            created_at: decided_at,
            updated_at: decided_at,
            decided_by: None,
            decided_by_email: None,
            decided_at: Some(decided_at),
            expires_at: None,
            failure_reason: None,
            extends: None,
        };
        if matches!(status, RequestStatus::Active | RequestStatus::Revoking) {
            r.expires_at = Some(r.expiry_from(decided_at));
        }
        r
    }

    #[test]
    fn the_latest_expiry_among_grants_that_need_access_wins() {
        let short = req(RequestStatus::Active, 0, 1);
        let long = req(RequestStatus::Approved, 0, 8);
        let w = wanted(&[short.clone(), long.clone()], at(10)).unwrap();
        assert_eq!(w.expiry, at(8 * 60));
        assert_eq!(w.for_request, long.id);
        // Revoking, ended, given up or past expiry: nothing needed.
        let mut given_up = long.clone();
        given_up.failure_reason = Some("refused".into());
        let revoking = req(RequestStatus::Revoking, 0, 8);
        let expired = req(RequestStatus::Expired, 0, 8);
        assert_eq!(wanted(&[given_up, revoking, expired], at(10)), None);
        assert_eq!(wanted(&[short], at(61)), None, "its hour is over");
    }

    #[test]
    fn a_request_to_extend_a_grant_never_needs_access_itself() {
        let grant = req(RequestStatus::Active, 0, 1);
        let mut extension = req(RequestStatus::Approved, 10, 8);
        extension.extends = Some(grant.id);
        assert!(!needs_access(&extension, at(20)));
        assert_eq!(could_last_until(&extension), None);
        let w = wanted(&[grant.clone(), extension], at(20)).unwrap();
        assert_eq!((w.expiry, w.for_request), (at(60), grant.id));
    }

    #[test]
    fn what_a_device_carries_matches_by_value_and_expiry() {
        let w = wanted(&[req(RequestStatus::Active, 0, 1)], at(1));
        let carried = |value: Option<serde_json::Value>, expiry| Carried { value, expiry };
        let yes = Some(serde_json::json!(true));
        assert!(matches(&carried(yes.clone(), Some(at(60))), w.as_ref()));
        assert!(
            !matches(&carried(yes.clone(), Some(at(30))), w.as_ref()),
            "cut short"
        );
        assert!(!matches(
            &carried(Some(serde_json::json!(false)), Some(at(60))),
            w.as_ref()
        ));
        assert!(
            matches(&carried(yes.clone(), None), w.as_ref()),
            "expiry not reported"
        );
        assert!(!matches(&carried(None, None), w.as_ref()));
        assert!(
            !matches(&carried(yes, Some(at(60))), None),
            "must be removed"
        );
        assert!(matches(&carried(None, None), None));
    }

    #[test]
    fn pairs_ignore_the_keys_case() {
        let r = req(RequestStatus::Active, 0, 1);
        let pair = Pair::of(&r);
        let other = Pair::new(
            r.device.node_id.clone(),
            &AttributeKey::parse("custom:PROD").unwrap(),
        );
        assert_eq!(pair, other);
        assert!(pair.covers(&r) && pair.is_key("custom:prod"));
        assert_eq!(pair.lock_name(), "n1/custom:prod");
        assert_eq!(pair.key.as_str(), "custom:Prod", "written as spelled");
    }

    #[test]
    fn only_what_a_request_could_have_set_is_accounted_for() {
        let cancelled = req(RequestStatus::Cancelled, 0, 1);
        assert!(accounted_for(
            Some(at(60)),
            std::slice::from_ref(&cancelled)
        ));
        assert!(
            accounted_for(Some(at(61)), std::slice::from_ref(&cancelled)),
            "a minute's slack"
        );
        assert!(!accounted_for(
            Some(at(120)),
            std::slice::from_ref(&cancelled)
        ));
        assert!(
            !accounted_for(None, std::slice::from_ref(&cancelled)),
            "no expiry: not ours"
        );
        assert!(!accounted_for(Some(at(60)), &[]));
        assert!(!ended_by_expiry(&cancelled, at(62)));
        assert!(
            ended_by_expiry(&cancelled, at(65)),
            "Tailscale's own lag has passed"
        );
    }
}
