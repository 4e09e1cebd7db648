//! Conversions between domain values and what the store writes, the same
//! for both backends (the [`super::dialect::Dialect`] then encodes times,
//! IDs and JSON its own way). Everything read back is validated again
//! through the domain types: a bad row is [`StoreError::Corrupt`], never a
//! panic.

use std::borrow::Cow;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{JobKind, StoreError, Transition};
use crate::domain::{AccessRequest, DeviceSnapshot, InvalidTransition, RequestStatus};

/// The `requests` columns that make an [`AccessRequest`].
macro_rules! request_columns {
    () => {
        "id, requester, requester_email, attribute, value, device, duration_secs, approver, \
         reason, status, created_at, updated_at, decided_by, decided_at, expires_at, failure_reason, \
         decided_by_email, extends"
    };
}
pub(super) use request_columns;

/// The `jobs` columns a claimed [`super::Job`] is read from.
macro_rules! job_columns {
    () => {
        "id, request_id, payload, run_at, attempts, last_error, lease_until"
    };
}
pub(super) use job_columns;

/// PostgreSQL cannot store NUL in text or JSONB; text from outside (Slack,
/// Tailscale error bodies) could carry one. Both backends replace it with
/// U+FFFD so they behave the same and a write never fails on it.
pub(super) fn clean(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

pub(super) fn clean_opt(s: Option<&str>) -> Option<String> {
    s.map(|s| clean(s).into_owned())
}

/// [`clean`] for every string and key inside a JSON value.
pub(super) fn clean_json(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) => Value::String(clean(s).into_owned()),
        Value::Array(a) => Value::Array(a.iter().map(clean_json).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (clean(k).into_owned(), clean_json(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whole seconds (durations come from minute-granular presets; anything
/// below a second is dropped).
pub(super) fn duration_secs(d: Duration) -> Result<i64, StoreError> {
    i64::try_from(d.as_secs())
        .map_err(|_| StoreError::Corrupt(format!("duration {d:?} is too long to store")))
}

pub(super) fn parse_status(raw: &str) -> Result<RequestStatus, StoreError> {
    RequestStatus::parse(raw).ok_or_else(|| StoreError::Corrupt(format!("unknown status {raw:?}")))
}

/// The device snapshot as stored (the node ID also has its own column).
pub(super) fn device_json(d: &DeviceSnapshot) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(d)
        .map(|v| clean_json(&v))
        .map_err(|e| StoreError::Corrupt(format!("device snapshot: {e}")))
}

/// The job's payload, and its tag (`grant`, `notify`…) for the `kind` column.
pub(super) fn job_payload(kind: &JobKind) -> Result<(serde_json::Value, String), StoreError> {
    let v = serde_json::to_value(kind)
        .map(|v| clean_json(&v))
        .map_err(|e| StoreError::Corrupt(format!("job payload: {e}")))?;
    let tag = v
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or("unknown")
        .to_owned();
    Ok((v, tag))
}

pub(super) fn parse_job_kind(id: i64, v: serde_json::Value) -> Result<JobKind, StoreError> {
    serde_json::from_value(v).map_err(|e| StoreError::Corrupt(format!("job {id} payload: {e}")))
}

/// A new request starts `pending`, or `approved` for a self-approval; any
/// other status would skip the state machine.
pub(super) fn check_new_status(status: RequestStatus) -> Result<(), StoreError> {
    match status {
        RequestStatus::Pending | RequestStatus::Approved => Ok(()),
        to => Err(InvalidTransition {
            from: RequestStatus::Pending,
            to,
        }
        .into()),
    }
}

/// Detail of the `created` audit event.
pub(super) fn created_detail(req: &AccessRequest) -> serde_json::Value {
    serde_json::json!({ "status": req.status.as_str() })
}

/// Why a compare-and-set updated no row, given the request's status now
/// (`None`: it does not exist).
pub(super) fn not_updated(t: &Transition, current: Option<&str>) -> Result<StoreError, StoreError> {
    Ok(match current {
        None => StoreError::NotFound(t.id),
        Some(raw) => StoreError::Conflict {
            id: t.id,
            expected: t.from,
            current: parse_status(raw)?,
        },
    })
}

/// `now + lease`, refusing a lease too long to represent.
pub(super) fn lease_until(
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<DateTime<Utc>, StoreError> {
    chrono::Duration::from_std(lease)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .ok_or_else(|| StoreError::Corrupt(format!("lease {lease:?} is too long")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NotifyEvent;

    #[test]
    fn nul_is_replaced_everywhere_in_json() {
        let v = serde_json::json!({"a\0": ["x\0y", 1, null, {"k": "\0"}]});
        assert_eq!(
            clean_json(&v),
            serde_json::json!({"a\u{FFFD}": ["x\u{FFFD}y", 1, null, {"k": "\u{FFFD}"}]})
        );
        assert!(matches!(clean("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn notify_events_keep_their_stored_names() {
        // Jobs queued before the events were an enum stored these strings.
        for old in [
            "requested",
            "reminder",
            "approved",
            "denied",
            "cancelled",
            "granted",
            "failed",
            "refresh",
            "expired",
            "timed_out",
            "revoked",
        ] {
            let kind = parse_job_kind(1, serde_json::json!({"kind": "notify", "event": old}))
                .unwrap_or_else(|e| panic!("{old}: {e}"));
            let JobKind::Notify { event } = kind else {
                panic!("{old} is not a notification")
            };
            assert_eq!(event.as_str(), old);
        }
    }

    #[test]
    fn home_jobs_are_keyed_by_person_and_keep_their_stored_form() {
        let user = crate::domain::SlackUserId::parse("U0ALICE01").unwrap();
        let kind = JobKind::Home { user: user.clone() };
        let (v, tag) = job_payload(&kind).unwrap();
        assert_eq!(tag, "home");
        assert_eq!(v, serde_json::json!({"kind": "home", "user": "U0ALICE01"}));
        assert_eq!(parse_job_kind(1, v).unwrap(), kind);
        assert_eq!(kind.coalesce_key().as_deref(), Some("home:U0ALICE01"));
        assert_eq!(JobKind::Grant.coalesce_key(), None);
        // A stored user ID is checked again when read.
        assert!(matches!(
            parse_job_kind(1, serde_json::json!({"kind": "home", "user": "nobody"})),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn job_payload_carries_its_tag() {
        let (v, tag) = job_payload(&JobKind::Notify {
            event: NotifyEvent::Approved,
        })
        .unwrap();
        assert_eq!(tag, "notify");
        assert_eq!(
            v,
            serde_json::json!({"kind": "notify", "event": "approved"})
        );
        assert_eq!(
            parse_job_kind(1, v).unwrap(),
            JobKind::Notify {
                event: NotifyEvent::Approved
            }
        );
        assert!(matches!(
            parse_job_kind(1, serde_json::json!({"kind": "launch"})),
            Err(StoreError::Corrupt(_))
        ));
    }
}
