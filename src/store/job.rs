//! The job queue's values: what a job does, a job to enqueue, a claimed
//! job, and the queue's statistics. Payloads are stored as JSON
//! (`{"kind": "notify", "event": "granted"}`); the names below are that
//! stored form, so jobs queued by an older version still decode.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{RequestId, RequestStatus, SlackUserId};

/// Why a request's Slack messages are sent or refreshed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyEvent {
    /// The form was submitted: DM the approver, tell the requester.
    Requested,
    /// Nudge the approver of a request still pending.
    Reminder,
    Approved,
    Denied,
    Cancelled,
    /// The attribute is on the device.
    Granted,
    Failed,
    /// Re-render every message to the request's current state.
    Refresh,
    Expired,
    TimedOut,
    /// A Revoke was clicked; access is being removed.
    Revoking,
    /// Tailscale refused to remove the attribute, or kept failing.
    RevokeFailed,
    /// The attribute is gone (or cut to another grant's expiry).
    Revoked,
    /// An approval was counted; more are needed (messages show progress).
    ApprovalAdded,
    /// An approver acknowledged a break-glass grant.
    Acknowledged,
    /// A break-glass grant's `review_within` passed: remind its approvers
    /// unless someone acknowledged it.
    ReviewDue,
    /// A grant was extended (its messages say the new time; its requester
    /// is told), or a request to extend one was applied.
    Extended,
}

impl NotifyEvent {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Reminder => "reminder",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Cancelled => "cancelled",
            Self::Granted => "granted",
            Self::Failed => "failed",
            Self::Refresh => "refresh",
            Self::Expired => "expired",
            Self::TimedOut => "timed_out",
            Self::Revoking => "revoking",
            Self::RevokeFailed => "revoke_failed",
            Self::Revoked => "revoked",
            Self::ApprovalAdded => "approval_added",
            Self::Acknowledged => "acknowledged",
            Self::ReviewDue => "review_due",
            Self::Extended => "extended",
        }
    }

    /// The event announcing that a request reached `status`.
    pub fn reached(status: RequestStatus) -> Self {
        match status {
            RequestStatus::Pending => Self::Requested,
            RequestStatus::Approved => Self::Approved,
            RequestStatus::Active => Self::Granted,
            RequestStatus::Expired => Self::Expired,
            RequestStatus::Revoking => Self::Revoking,
            RequestStatus::Revoked => Self::Revoked,
            RequestStatus::Denied => Self::Denied,
            RequestStatus::Cancelled => Self::Cancelled,
            RequestStatus::TimedOut => Self::TimedOut,
            RequestStatus::Failed => Self::Failed,
            RequestStatus::Extended => Self::Extended,
        }
    }
}

/// What a job does; the worker dispatches on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobKind {
    /// Bring the request's device and attribute to what the database says
    /// after an approval (approved → active | failed).
    Grant,
    /// The same after a Revoke (revoking → revoked), retried until
    /// Tailscale confirms or the grant's expiry passes.
    Revoke,
    /// The same after any other change of the request (a cancelled
    /// approval, an expiry), or when reconciliation found a difference.
    Converge,
    /// Send or refresh the Slack messages for the request's current state.
    Notify { event: NotifyEvent },
    /// Re-publish one person's App Home (no request: it lists many).
    /// Coalesced: at most one waits per person.
    Home { user: SlackUserId },
}

impl JobKind {
    /// Jobs with the same key are coalesced: enqueueing one while another
    /// waits (not running, not dead) adds nothing, and they run one at a
    /// time. `None`: the job is not coalesced by key.
    pub fn coalesce_key(&self) -> Option<String> {
        match self {
            Self::Home { user } => Some(format!("home:{user}")),
            _ => None,
        }
    }
}

/// A job to enqueue.
#[derive(Clone, Debug, PartialEq)]
pub struct NewJob {
    pub request_id: Option<RequestId>,
    pub kind: JobKind,
    pub run_at: DateTime<Utc>,
}

impl NewJob {
    pub fn now(request_id: RequestId, kind: JobKind, at: DateTime<Utc>) -> Self {
        Self {
            request_id: Some(request_id),
            kind,
            run_at: at,
        }
    }

    /// Send or refresh the request's Slack messages for `event` at `at`.
    pub fn notify(request_id: RequestId, event: NotifyEvent, at: DateTime<Utc>) -> Self {
        Self::now(request_id, JobKind::Notify { event }, at)
    }

    /// Re-publish `user`'s App Home at `at` (enqueue it with
    /// `Store::enqueue_once`, which coalesces per person).
    pub fn home(user: SlackUserId, at: DateTime<Utc>) -> Self {
        Self {
            request_id: None,
            kind: JobKind::Home { user },
            run_at: at,
        }
    }
}

/// A claimed job, leased to one worker until `lease_until`.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    pub id: i64,
    pub request_id: Option<RequestId>,
    pub kind: JobKind,
    pub run_at: DateTime<Utc>,
    /// Attempts so far, this one included.
    pub attempts: i32,
    pub last_error: Option<String>,
    pub lease_until: DateTime<Utc>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobStats {
    pub due: i64,
    pub dead: i64,
    pub oldest_due: Option<DateTime<Utc>>,
}
