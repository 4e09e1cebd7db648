//! What the tailnet should carry: for one (device, attribute key) pair, the
//! attribute's desired state follows from the requests on that pair alone.
//! Everything that writes an attribute computes it here, from requests read
//! under the pair's lock, so no stale list can decide a write.

use chrono::{DateTime, Utc};

use super::{AccessRequest, AttributeKey, AttributeValue, NodeId, RequestStatus};

/// A device and an attribute key: the unit that one writer at a time owns.
/// Tailscale treats keys case-insensitively, so the pair does too.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pair {
    pub node: NodeId,
    /// The key in lower case (identity); the spelling written comes from
    /// the requests.
    key: String,
}

impl Pair {
    pub fn new(node: NodeId, key: &AttributeKey) -> Self {
        Self {
            node,
            key: key.as_str().to_ascii_lowercase(),
        }
    }

    pub fn of(req: &AccessRequest) -> Self {
        Self::new(req.device.node_id.clone(), &req.attribute)
    }

    /// A stable name, e.g. for a lock row: `nodeId/custom:key`.
    pub fn lock_name(&self) -> String {
        format!("{}/{}", self.node, self.key)
    }

    /// Is `key` (as a device reports it) this pair's key?
    pub fn is_key(&self, key: &str) -> bool {
        key.eq_ignore_ascii_case(&self.key)
    }

    pub fn covers(&self, req: &AccessRequest) -> bool {
        req.device.node_id == self.node && req.attribute.as_str().eq_ignore_ascii_case(&self.key)
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
/// for a request never decided.
pub fn could_last_until(req: &AccessRequest) -> Option<DateTime<Utc>> {
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
pub fn needs_access(req: &AccessRequest, now: DateTime<Utc>) -> bool {
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
    /// `None` when the attribute has no expiry or Tailscale did not say.
    pub expiry: Option<DateTime<Utc>>,
    /// Whether Tailscale reported expiries at all (`expiries` may be missing).
    pub expiries_known: bool,
}

/// Does the device already carry what is wanted? An expiry Tailscale does
/// not report cannot be compared, so only the value counts then.
pub fn matches(carried: &Carried, wanted: Option<&Wanted>) -> bool {
    match (wanted, &carried.value) {
        (None, None) => true,
        (None, Some(_)) | (Some(_), None) => false,
        (Some(w), Some(v)) => {
            *v == w.value.to_json() && (!carried.expiries_known || carried.expiry == Some(w.expiry))
        }
    }
}
