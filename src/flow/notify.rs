//! Telling people: the job that posts and refreshes a request's Slack
//! messages. Messages are re-rendered from the stored state, so a retry or
//! a late run always shows the truth; a failed notification is retried and
//! never undoes a decision or a grant.

use slack_morphism::prelude::SlackMessageContent;

use super::jobs::{JobError, JobRun};
use crate::domain::{AccessRequest, RequestStatus, SlackUserId};
use crate::slack::api::SlackApiError;
use crate::slack::blocks::context;
use crate::slack::messages::{
    approver_message, channel_message, reminder_message, requester_message, MessageContext,
};
use crate::state::AppState;
use crate::store::{Actor, AuditEvent, MessageKind, MessageRef, StoreError};

/// Events after which the requester gets a new DM (a ping), not just an
/// edit, with the status the request has right after them. A ping whose
/// request has moved on since (a grant that expired before a Slack outage
/// ended) is skipped: the later event pings with the truth.
const REQUESTER_PINGS: &[(&str, RequestStatus)] = &[
    ("granted", RequestStatus::Active),
    ("failed", RequestStatus::Failed),
    ("denied", RequestStatus::Denied),
    ("timed_out", RequestStatus::TimedOut),
    ("expired", RequestStatus::Expired),
    ("revoked", RequestStatus::Revoked),
];

/// Told to the requester when their approver cannot be sent the request.
fn approver_unreachable_message(approver: &SlackUserId, e: &SlackApiError) -> SlackMessageContent {
    let text = format!(
        ":warning: accessbot could not send your request to <@{approver}> (Slack said: {}). \
         Cancel it and ask someone else to approve.",
        e.code().unwrap_or("error")
    );
    SlackMessageContent::new()
        .with_text(text.clone())
        .with_blocks(vec![crate::slack::blocks::section(text)])
}

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

    fn into_result(self) -> Result<(), JobError> {
        match self.0 {
            None => Ok(()),
            Some(e) => Err(JobError::Retry {
                error: e.to_string(),
                after: e.retry_after(),
            }),
        }
    }
}

/// Who ended the request early (revoke, cancel), from its audit trail.
fn closed_by(req: &AccessRequest, trail: &[AuditEvent]) -> Option<SlackUserId> {
    if !matches!(
        req.status,
        RequestStatus::Revoked | RequestStatus::Cancelled
    ) {
        return None;
    }
    trail
        .iter()
        .rev()
        .find(|e| e.action == req.status.as_str())
        .and_then(|e| match &e.actor {
            Actor::User(u) => Some(u.clone()),
            Actor::System => None,
        })
}

/// Whether `to` was already sent the message for `event` (a retried job
/// must not ping twice).
fn already_notified(trail: &[AuditEvent], event: &str, to: &str) -> bool {
    trail.iter().any(|e| {
        e.action == "notified"
            && e.detail.get("event").and_then(|v| v.as_str()) == Some(event)
            && e.detail.get("to").and_then(|v| v.as_str()) == Some(to)
    })
}

async fn record_notified(
    state: &AppState,
    req: &AccessRequest,
    event: &str,
    to: &str,
) -> Result<(), StoreError> {
    state
        .store
        .append_audit(
            req.id,
            state.now(),
            &Actor::System,
            "notified",
            serde_json::json!({ "event": event, "to": to }),
        )
        .await
}

async fn post_and_remember(
    state: &AppState,
    req: &AccessRequest,
    kind: MessageKind,
    channel: &str,
    content: SlackMessageContent,
) -> Result<Result<(), SlackApiError>, StoreError> {
    match state.slack.post_message(channel, content).await {
        Ok(posted) => {
            state
                .store
                .set_message_ref(
                    req.id,
                    &MessageRef {
                        kind,
                        channel: posted.channel,
                        ts: posted.ts,
                    },
                )
                .await?;
            Ok(Ok(()))
        }
        Err(e) => Ok(Err(e)),
    }
}

fn superseded() -> SlackMessageContent {
    SlackMessageContent::new()
        .with_text("This request was updated; see below.".to_owned())
        .with_blocks(vec![context("_This request was updated; see below._")])
}

pub async fn run_notify(
    state: &AppState,
    req: AccessRequest,
    event: &str,
    _run: JobRun,
) -> Result<(), JobError> {
    let refs = state.store.message_refs(req.id).await?;
    let find = |k: MessageKind| refs.iter().find(|r| r.kind == k).cloned();
    let trail = state.store.audit_events(req.id).await?;
    let closed = closed_by(&req, &trail);
    let name = super::profile_name(state, &req);
    let ctx = MessageContext {
        req: &req,
        profile_name: &name,
        closed_by: closed.as_ref(),
        pending_timeout: state.config.requests.pending_timeout,
    };
    let mut failures = Failures::default();
    let self_confirm = req.approver.as_ref() == Some(&req.requester);

    if event == "reminder" {
        if req.status == RequestStatus::Pending {
            if let Some(approver) = &req.approver {
                if let Err(e) = state
                    .slack
                    .post_message(approver.as_str(), reminder_message(&ctx))
                    .await
                {
                    failures.note("reminder", &req, e);
                }
            }
        }
        return failures.into_result();
    }

    // The approver's message: posted once, then kept in step with the state.
    match (find(MessageKind::ApproverDm), &req.approver) {
        (Some(m), _) => {
            if let Err(e) = state
                .slack
                .update_message(&m.channel, &m.ts, approver_message(&ctx))
                .await
            {
                failures.note("approver message update", &req, e);
            }
        }
        (None, Some(approver)) if event == "requested" => {
            if let Err(e) = post_and_remember(
                state,
                &req,
                MessageKind::ApproverDm,
                approver.as_str(),
                approver_message(&ctx),
            )
            .await?
            {
                if !e.is_transient() && approver != &req.requester {
                    // Nobody will ever see the buttons: say so, or the request
                    // just sits there until it times out.
                    let text = approver_unreachable_message(approver, &e);
                    if let Err(e) = state.slack.post_message(req.requester.as_str(), text).await {
                        failures.note("approver unreachable notice", &req, e);
                    }
                }
                failures.note("approver DM", &req, e);
            }
        }
        _ => {}
    }

    // The requester: a DM when the request is made and on each outcome; the
    // previous DM is edited so no stale button stays clickable.
    let previous = find(MessageKind::RequesterDm);
    let ping = REQUESTER_PINGS.contains(&(event, req.status))
        && !already_notified(&trail, event, "requester");
    if ping {
        match post_and_remember(
            state,
            &req,
            MessageKind::RequesterDm,
            req.requester.as_str(),
            requester_message(&ctx),
        )
        .await?
        {
            Ok(()) => {
                record_notified(state, &req, event, "requester").await?;
                if let Some(m) = &previous {
                    if let Err(e) = state
                        .slack
                        .update_message(&m.channel, &m.ts, superseded())
                        .await
                    {
                        failures.note("requester message update", &req, e);
                    }
                }
            }
            Err(e) => failures.note("requester DM", &req, e),
        }
    } else if let Some(m) = &previous {
        if let Err(e) = state
            .slack
            .update_message(&m.channel, &m.ts, requester_message(&ctx))
            .await
        {
            failures.note("requester message update", &req, e);
        }
    } else if event == "requested" && !self_confirm {
        if let Err(e) = post_and_remember(
            state,
            &req,
            MessageKind::RequesterDm,
            req.requester.as_str(),
            requester_message(&ctx),
        )
        .await?
        {
            failures.note("requester DM", &req, e);
        }
    }

    // The profile's channel: announced when granted, then kept in step.
    let channel = super::profile_of(state, &req).and_then(|p| p.notify_channel.clone());
    match (find(MessageKind::ChannelPost), channel) {
        (Some(m), _) => {
            if let Err(e) = state
                .slack
                .update_message(&m.channel, &m.ts, channel_message(&ctx))
                .await
            {
                failures.note("channel post update", &req, e);
            }
        }
        (None, Some(channel)) if event == "granted" && req.status == RequestStatus::Active => {
            if let Err(e) = post_and_remember(
                state,
                &req,
                MessageKind::ChannelPost,
                channel.as_str(),
                channel_message(&ctx),
            )
            .await?
            {
                failures.note("channel post", &req, e);
            }
        }
        _ => {}
    }

    failures.into_result()
}
