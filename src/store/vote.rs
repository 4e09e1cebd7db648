//! Approvals of a pending request, one per approver, and what recording
//! one leads to (see [`super::Store::approve`]).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::NewJob;
use crate::domain::{AccessRequest, RequestId, SlackUserId};

/// One approver's click on Approve, already checked against the current config.
#[derive(Clone, Debug)]
pub struct Vote {
    pub id: RequestId,
    pub approver: SlackUserId,
    /// The approver's e-mail when known (for the attribute's comment).
    pub email: Option<String>,
    pub at: DateTime<Utc>,
    /// A shorter duration the approver chose (`None`: as asked).
    pub duration: Option<Duration>,
    /// Distinct approvals that complete the request (current config).
    pub required: u32,
    /// Enqueued with the approval that completes the request (the grant,
    /// its notification).
    pub on_approved: Vec<NewJob>,
    /// Enqueued with an approval that is counted but not yet enough.
    pub on_counted: Vec<NewJob>,
}

/// An approval as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecordedApproval {
    pub approver: SlackUserId,
    pub email: Option<String>,
    pub at: DateTime<Utc>,
    pub duration: Option<Duration>,
}

/// What recording a [`Vote`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum VoteOutcome {
    /// It was the last approval needed: the request is `approved`, its
    /// duration the shortest any approver chose.
    Approved(Box<AccessRequest>),
    /// Counted; more are needed. The approvals so far, this one included.
    Counted(Vec<RecordedApproval>),
    /// This approver had approved already: nothing changed.
    AlreadyCounted(Vec<RecordedApproval>),
}
