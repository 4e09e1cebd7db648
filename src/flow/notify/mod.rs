//! Telling people: the job that posts and refreshes a request's Slack
//! messages. Messages are re-rendered from the stored state, so a retry or
//! a late run always shows the truth; a failed notification is retried and
//! never undoes a decision or a grant. One module per audience:
//! [`approvers`] (the DMs or the approval-channel post asking to decide,
//! and reminders), [`requester`], [`channel`] (the notify channel, its
//! break-glass review and revoke trouble); [`facts`] reads what they say
//! from the request's trail.

mod approvers;
mod channel;
pub mod facts;
mod requester;

use slack_morphism::prelude::SlackMessageContent;

use super::jobs::{JobError, JobRun};
use crate::domain::AccessRequest;
use crate::slack::api::SlackApiError;
use crate::slack::messages::{GrantNow, MessageContext};
use crate::state::AppState;
use crate::store::{Actor, AuditEvent, MessageKind, MessageRef, NotifyEvent, StoreError};
use facts::Facts;

/// Collects Slack failures: transient ones make the job retry (after the
/// other steps ran), permanent ones are logged and skipped.
#[derive(Default)]
struct Failures(Option<SlackApiError>);

impl Failures {
    fn note(&mut self, what: &str, req: &AccessRequest, e: SlackApiError) {
        if e.is_transient() {
            tracing::warn!(request = %req.id, what, error = %e, "notification failed; will retry");
            self.0.get_or_insert(e);
        } else {
            tracing::error!(request = %req.id, what, error = %e, "notification failed permanently");
        }
    }

    fn check(&mut self, what: &str, req: &AccessRequest, result: Result<(), SlackApiError>) {
        if let Err(e) = result {
            self.note(what, req, e);
        }
    }

    fn into_result(self) -> Result<(), JobError> {
        self.0.map_or(Ok(()), |e| Err(e.into()))
    }
}

/// One run of a notification job: the request, its trail, and why.
struct NotifyJob<'a> {
    req: &'a AccessRequest,
    trail: &'a [AuditEvent],
    event: NotifyEvent,
}

/// Whether `to` was already sent the message for `event` (a retried job
/// must not ping twice).
fn already_notified(trail: &[AuditEvent], event: NotifyEvent, to: &str) -> bool {
    trail.iter().any(|e| {
        e.action == "notified"
            && e.detail.get("event").and_then(|v| v.as_str()) == Some(event.as_str())
            && e.detail.get("to").and_then(|v| v.as_str()) == Some(to)
    })
}

async fn record_notified(
    state: &AppState,
    req: &AccessRequest,
    event: NotifyEvent,
    to: &str,
) -> Result<(), StoreError> {
    state
        .store
        .append_audit(
            req.id,
            state.now(),
            &Actor::System,
            "notified",
            serde_json::json!({ "event": event.as_str(), "to": to }),
        )
        .await
}

/// Post a message and remember where it lives as `kind` (for `recipient`).
async fn post_and_remember(
    state: &AppState,
    req: &AccessRequest,
    kind: MessageKind,
    recipient: Option<&crate::domain::SlackUserId>,
    channel: &str,
    content: SlackMessageContent,
) -> Result<Result<(), SlackApiError>, StoreError> {
    match state.slack.post_message(channel, content).await {
        Ok(posted) => {
            let msg = MessageRef {
                kind,
                recipient: recipient.cloned(),
                channel: posted.channel,
                ts: posted.ts,
            };
            state.store.set_message_ref(req.id, &msg).await?;
            Ok(Ok(()))
        }
        Err(e) => Ok(Err(e)),
    }
}

/// Edit a posted message to `content`.
async fn update(
    state: &AppState,
    req: &AccessRequest,
    what: &str,
    msg: &MessageRef,
    content: SlackMessageContent,
    failures: &mut Failures,
) {
    let sent = state
        .slack
        .update_message(&msg.channel, &msg.ts, content)
        .await;
    failures.check(what, req, sent);
}

/// A one-off message to `channel` for `event`, at most once per recipient
/// (`to` names it in the audit trail).
async fn ping_once(
    state: &AppState,
    job: &NotifyJob<'_>,
    to: &str,
    channel: &str,
    content: SlackMessageContent,
    failures: &mut Failures,
) -> Result<(), StoreError> {
    if already_notified(job.trail, job.event, to) {
        return Ok(());
    }
    match state.slack.post_message(channel, content).await {
        Ok(_) => record_notified(state, job.req, job.event, to).await,
        Err(e) => {
            failures.note(to, job.req, e);
            Ok(())
        }
    }
}

/// For a request to extend a grant: the grant as it stands now.
async fn grant_now(state: &AppState, req: &AccessRequest) -> Result<Option<GrantNow>, StoreError> {
    let Some(id) = req.extends else {
        return Ok(None);
    };
    let grant = state.store.get_request(id).await?;
    Ok(Some(GrantNow {
        status: grant.as_ref().map_or(req.status, |g| g.status),
        until: grant.and_then(|g| g.expires_at),
    }))
}

pub async fn run_notify(
    state: &AppState,
    req: AccessRequest,
    event: NotifyEvent,
    _run: JobRun,
) -> Result<(), JobError> {
    let profile = super::profile_of(state, &req);
    if event == NotifyEvent::ReviewDue {
        // Recorded first, so the messages below show it is overdue.
        if !channel::review_overdue(state, &req).await? {
            return Ok(());
        }
    }
    let refs = state.store.message_refs(req.id).await?;
    let trail = state.store.audit_events(req.id).await?;
    if !matches!(event, NotifyEvent::Reminder | NotifyEvent::ReviewDue) {
        // Before the Slack messages: their retries must not hold it up.
        super::home::refresh_concerned(state, &req, &trail).await?;
    }
    let approvals = state.store.approvals(req.id).await?;
    let closed = facts::closed_by(&req, &trail);
    let trouble = facts::revoke_failure(&req, &trail);
    let approved_by = approvals.into_iter().map(|a| a.approver).collect();
    let facts = Facts::read(&req, &trail, approved_by, profile);
    let name = super::profile_name(state, &req);
    let grant = grant_now(state, &req).await?;
    let added = match req.is_extension() {
        true => Vec::new(),
        false => facts::added(&trail),
    };
    let ctx = MessageContext {
        req: &req,
        profile_name: &name,
        closed_by: closed.as_ref(),
        pending_timeout: state.config.requests.pending_timeout,
        revoke_failure: trouble.as_deref(),
        approval: facts.view(),
        grant,
        added: &added,
    };
    let job = NotifyJob {
        req: &req,
        trail: &trail,
        event,
    };
    let mut failures = Failures::default();

    match event {
        NotifyEvent::Reminder => {
            approvers::remind(state, &job, &ctx, &refs, &mut failures).await?;
            return failures.into_result();
        }
        NotifyEvent::ReviewDue => {
            channel::remind_reviewers(state, &job, &ctx, profile, &mut failures).await?;
        }
        _ => {}
    }
    channel::revoke_trouble(state, &job, &ctx, &mut failures).await?;
    approvers::sync(state, &job, &ctx, &refs, profile, &mut failures).await?;
    let previous = refs
        .iter()
        .find(|r| r.kind == MessageKind::RequesterDm)
        .cloned();
    requester::sync(state, &job, &ctx, previous, &mut failures).await?;
    channel::sync(state, &job, &ctx, &refs, profile, &mut failures).await?;
    failures.into_result()
}
