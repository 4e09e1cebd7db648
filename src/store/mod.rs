//! Durable state: access requests, their audit trail, Slack message
//! references and the job queue (outbox), on SQLite or PostgreSQL.
//!
//! The store never reads the clock: every time is passed in, so the worker
//! and tests control time. Both backends keep times to the microsecond
//! (finer parts are dropped), durations to the second, and replace NUL
//! characters in stored text with U+FFFD (PostgreSQL cannot store NUL).
//!
//! One implementation serves both backends: [`sql::SqlStore`] writes each
//! statement once, generic over a [`dialect::Dialect`] that says only what
//! differs: [`postgres`] (native UUID, TIMESTAMPTZ and JSONB columns, row
//! locks and `FOR UPDATE SKIP LOCKED`) and [`sqlite`] (TEXT IDs, INTEGER
//! microseconds, JSON text, `BEGIN IMMEDIATE`). A new store operation goes
//! in `sql.rs`; a new table's row reader and shared statements in a module
//! of its own like `requests.rs` and `jobs.rs`, binding times, request IDs
//! and JSON through the dialect.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{AccessRequest, NodeId, RequestId, RequestStatus, SlackUserId};

mod approvals;
mod codec;
pub mod connect;
pub mod dialect;
mod extend;
mod job;
mod jobs;
mod locks;
mod messages;
pub mod postgres;
mod requests;
pub mod sql;
pub mod sqlite;
mod submissions;
mod vote;
pub use connect::{connect, missing_sqlite_file};
pub use extend::Extension;
pub use job::{Job, JobKind, JobStats, NewJob, NotifyEvent};
pub use messages::{MessageKind, MessageRef};
pub use vote::{RecordedApproval, Vote, VoteOutcome};

/// Who caused an event: a Slack user, accessbot itself (worker, timeouts),
/// or the tailnet (an attribute removed outside accessbot).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Actor {
    User(SlackUserId),
    System,
    Tailnet,
}

impl Actor {
    /// Stored form: a Slack user ID, `system` or `tailnet`.
    pub fn as_str(&self) -> &str {
        match self {
            Actor::User(u) => u.as_str(),
            Actor::System => "system",
            Actor::Tailnet => "tailnet",
        }
    }

    pub fn parse(raw: &str) -> Self {
        match raw {
            "tailnet" => Actor::Tailnet,
            _ => SlackUserId::parse(raw)
                .map(Actor::User)
                .unwrap_or(Actor::System),
        }
    }
}

/// A change of status, applied only if the request is still in `from`.
#[derive(Clone, Debug)]
pub struct Transition {
    pub id: RequestId,
    pub from: RequestStatus,
    pub to: RequestStatus,
    pub actor: Actor,
    pub at: DateTime<Utc>,
    /// Free-form context for the audit event (e.g. Tailscale's error message).
    pub detail: serde_json::Value,
    /// Set `decided_by`/`decided_at` (approve, deny), and the decider's
    /// e-mail when known.
    pub decided_by: Option<(SlackUserId, Option<String>)>,
    /// Set `expires_at` (on activation).
    pub expires_at: Option<DateTime<Utc>>,
    /// Set `failure_reason` (on failure).
    pub failure_reason: Option<String>,
    /// Jobs enqueued in the same transaction: they exist iff the transition happened.
    pub jobs: Vec<NewJob>,
}

impl Transition {
    pub fn new(
        id: RequestId,
        from: RequestStatus,
        to: RequestStatus,
        actor: Actor,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            from,
            to,
            actor,
            at,
            detail: serde_json::Value::Null,
            decided_by: None,
            expires_at: None,
            failure_reason: None,
            jobs: Vec::new(),
        }
    }

    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }

    pub fn decided_by(mut self, who: SlackUserId, email: Option<String>) -> Self {
        self.decided_by = Some((who, email));
        self
    }

    pub fn expires_at(mut self, at: DateTime<Utc>) -> Self {
        self.expires_at = Some(at);
        self
    }

    pub fn failure(mut self, reason: impl Into<String>) -> Self {
        self.failure_reason = Some(reason.into());
        self
    }

    pub fn job(mut self, job: NewJob) -> Self {
        self.jobs.push(job);
        self
    }
}

/// The decision recorded with a request created already approved (a
/// self-approval without confirmation, an auto-approval, break glass):
/// its `approved` audit event.
#[derive(Clone, Debug, PartialEq)]
pub struct Approval {
    pub actor: Actor,
    pub detail: serde_json::Value,
}

/// An entry of a request's audit trail.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditEvent {
    pub id: i64,
    pub request_id: RequestId,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// `created`, or the new status for a transition, or another action name.
    pub action: String,
    pub detail: serde_json::Value,
}

/// Selects requests to list.
#[derive(Clone, Debug, Default)]
pub struct RequestFilter {
    pub requester: Option<SlackUserId>,
    /// Requests made by someone else than this person.
    pub not_requester: Option<SlackUserId>,
    pub approver: Option<SlackUserId>,
    /// Requests this person approved or denied.
    pub decided_by: Option<SlackUserId>,
    pub statuses: Vec<RequestStatus>,
    pub node_id: Option<NodeId>,
    pub attribute: Option<String>,
    pub created_since: Option<DateTime<Utc>>,
    /// Only requests whose `expires_at` is at or before this time.
    pub expires_before: Option<DateTime<Utc>>,
    /// Only requests created at or before this time.
    pub created_before: Option<DateTime<Utc>>,
    /// Only requests to extend this grant.
    pub extends: Option<RequestId>,
    pub limit: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The request is not in the expected state: someone else got there first.
    #[error("request {id} is {current}, not {expected}")]
    Conflict {
        id: RequestId,
        expected: RequestStatus,
        current: RequestStatus,
    },
    #[error("request {0} not found")]
    NotFound(RequestId),
    #[error(transparent)]
    InvalidTransition(#[from] crate::domain::InvalidTransition),
    /// An active grant's expiry is no longer the one an extension was
    /// computed from (another extension got there first).
    #[error("the expiry of request {0} changed meanwhile")]
    ExpiryChanged(RequestId),
    #[error("request {0} already exists")]
    Duplicate(RequestId),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The one interface to durable state; SQLite and PostgreSQL implement it
/// with identical behaviour (see the conformance tests).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which backend this is, for logs and `check`.
    fn backend(&self) -> &'static str;

    /// Cheap round trip for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Apply pending migrations (idempotent).
    async fn migrate(&self) -> Result<(), StoreError>;

    /// The migrations built into this binary that the database has not
    /// applied (a failed one counts as not applied), oldest first, each as
    /// `version/description` (e.g. `1/init`); all of them for an empty
    /// database. Only reads: never creates sqlx's bookkeeping table.
    async fn pending_migrations(&self) -> Result<Vec<String>, StoreError>;

    /// Store a new request (its status must be `pending`, or `approved` for a
    /// request approved on submission), its `created` audit event, the
    /// `approved` event of `approval` (at `decided_at`), and `jobs`, in one
    /// transaction. An ID already stored is [`StoreError::Duplicate`];
    /// another status is [`StoreError::InvalidTransition`].
    async fn create_request(
        &self,
        req: &AccessRequest,
        approval: Option<&Approval>,
        jobs: &[NewJob],
    ) -> Result<(), StoreError>;

    async fn get_request(&self, id: RequestId) -> Result<Option<AccessRequest>, StoreError>;

    /// Newest first.
    async fn list_requests(&self, filter: &RequestFilter)
        -> Result<Vec<AccessRequest>, StoreError>;

    /// How many requests match (the filter's limit is ignored).
    async fn count_requests(&self, filter: &RequestFilter) -> Result<i64, StoreError>;

    /// Compare-and-set `from → to`: succeeds for exactly one caller however
    /// many race, appends the audit event and enqueues the jobs in the same
    /// transaction, and returns the updated request. A request no longer in
    /// `from` gives [`StoreError::Conflict`] with its current status; an
    /// unknown one [`StoreError::NotFound`]. `from → to` outside the state
    /// machine is [`StoreError::InvalidTransition`], checked first.
    async fn transition(&self, t: Transition) -> Result<AccessRequest, StoreError>;

    /// Extend an active grant: compare-and-set on its status (`active`)
    /// and expiry (`expected_until`), which becomes `new_until`; appends
    /// the grant's `extended` audit event, finishes the extension request
    /// (`approved → extended`) if there is one, and enqueues the jobs, in
    /// one transaction. A grant no longer active is [`StoreError::Conflict`]
    /// (so is an extension request no longer approved, with its ID); one
    /// whose expiry moved is [`StoreError::ExpiryChanged`]. Returns the
    /// grant as extended.
    async fn extend_grant(&self, ext: &Extension) -> Result<AccessRequest, StoreError>;

    /// Record that granting an `approved` request was given up (`reason`),
    /// with an audit event `grant_given_up`; the request stays `approved`
    /// until its device is known to be without the attribute, then fails.
    /// False when the request is no longer `approved` or was already given up.
    async fn give_up_grant(
        &self,
        id: RequestId,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Take the lock `name` for `holder` until `now + ttl` when it is free,
    /// expired, or already this holder's; returns its fencing token, which
    /// grows with every take, or `None` when another holder has it.
    async fn acquire_lock(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Option<i64>, StoreError>;

    /// Extend a held lock to `now + ttl`; false when `token` lost it.
    async fn renew_lock(
        &self,
        name: &str,
        token: i64,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Let the lock go (a lost one is left alone).
    async fn release_lock(&self, name: &str, token: i64) -> Result<(), StoreError>;

    /// Remember (or replace) where one of a request's messages lives: one
    /// per kind and recipient. Here, in `append_audit` and in `enqueue`, an
    /// unknown request is [`StoreError::NotFound`].
    async fn set_message_ref(&self, id: RequestId, msg: &MessageRef) -> Result<(), StoreError>;

    /// Ordered by kind, then recipient.
    async fn message_refs(&self, id: RequestId) -> Result<Vec<MessageRef>, StoreError>;

    /// Record one approver's approval of a pending request, once per
    /// approver (a second click is [`VoteOutcome::AlreadyCounted`]). The
    /// approval that brings the count to `vote.required` moves the request
    /// `pending → approved` (decided by that approver, for the shortest
    /// duration any approver chose) with the `approved` audit event and
    /// `vote.on_approved`, in the same transaction as the count; an earlier
    /// one appends `approval_added` and `vote.on_counted`. However many
    /// race, on any replica, exactly one completes the request. A request
    /// no longer pending is [`StoreError::Conflict`] (nothing recorded).
    async fn approve(&self, vote: &Vote) -> Result<VoteOutcome, StoreError>;

    /// A request's approvals, oldest first.
    async fn approvals(&self, id: RequestId) -> Result<Vec<RecordedApproval>, StoreError>;

    /// Append the audit event `action` and enqueue `jobs` unless the
    /// request already has an event `action`: true when appended. Exactly
    /// one of any number of racing callers appends.
    async fn append_audit_once(
        &self,
        id: RequestId,
        at: DateTime<Utc>,
        actor: &Actor,
        action: &str,
        detail: serde_json::Value,
        jobs: &[NewJob],
    ) -> Result<bool, StoreError>;

    async fn append_audit(
        &self,
        id: RequestId,
        at: DateTime<Utc>,
        actor: &Actor,
        action: &str,
        detail: serde_json::Value,
    ) -> Result<(), StoreError>;

    /// Oldest first.
    async fn audit_events(&self, id: RequestId) -> Result<Vec<AuditEvent>, StoreError>;

    /// A job with a coalescing key ([`JobKind::coalesce_key`]) joins the
    /// job of its key that waits, if any, whose ID is returned. So do the
    /// jobs of `create_request` and `transition`.
    async fn enqueue(&self, job: &NewJob) -> Result<i64, StoreError>;

    /// Enqueue `job` unless a live (not dead, not leased) job already does
    /// the same: one of its coalescing key ([`JobKind::coalesce_key`]: one
    /// App Home refresh waits per person, enforced by a unique index, so
    /// also across replicas), else one of the same request and kind;
    /// `None` when there was one. Jobs of one key also run one at a time,
    /// oldest first.
    async fn enqueue_once(&self, job: &NewJob) -> Result<Option<i64>, StoreError>;

    /// Lease up to `limit` jobs that are due (`run_at <= now`) and not leased
    /// (or whose lease expired), to `worker` until `now + lease`. Each due job
    /// is handed to one claimer at a time, across processes.
    async fn claim_jobs(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError>;

    /// Keep a running job leased to `worker` until `until`. False if the
    /// lease was lost.
    async fn renew_job(
        &self,
        id: i64,
        worker: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Done: the job is removed from the queue. False if the lease was lost.
    async fn complete_job(&self, id: i64, worker: &str) -> Result<bool, StoreError>;

    /// Failed: run again at `retry_at`, or give up (`None`: kept as dead
    /// with its error). False if the lease was lost. A keyed job put back
    /// while another of its key waits is dropped for that one, which then
    /// runs no sooner than `retry_at`.
    async fn fail_job(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError>;

    /// Queue depth (due and not dead) and the `run_at` of the oldest due job.
    async fn job_stats(&self, now: DateTime<Utc>) -> Result<JobStats, StoreError>;

    /// Like [`Store::create_request`], once per form submission: the first
    /// call for `view_id` (the modal's view ID) creates the request; every
    /// later one, also concurrent and from other processes, writes nothing
    /// and answers which request the first created.
    async fn create_submitted_request(
        &self,
        view_id: &str,
        req: &AccessRequest,
        approval: Option<&Approval>,
        jobs: &[NewJob],
    ) -> Result<Submitted, StoreError>;

    /// A request's notification jobs: how many wait to run (due at `now`,
    /// or retrying later; not dead; not leased, as one running may have
    /// read the request before the latest change: a reminder scheduled for
    /// later is not waiting), and how many were given up. Only reads.
    async fn notification_jobs(
        &self,
        id: RequestId,
        now: DateTime<Utc>,
    ) -> Result<NotificationJobs, StoreError>;
}

/// What became of a form submission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Submitted {
    /// The request was created now.
    Now,
    /// The same view was submitted before and created this request; nothing
    /// was written this time.
    Before(RequestId),
}

/// See [`Store::notification_jobs`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NotificationJobs {
    pub waiting: i64,
    pub dead: i64,
}

pub type DynStore = Arc<dyn Store>;
