//! Telling people: the job that posts and refreshes a request's Slack
//! messages. Messages are re-rendered from the stored state, so a retry or
//! a late run always shows the truth; a failed notification is retried and
//! never undoes a decision or a grant.

use slack_morphism::prelude::SlackMessageContent;

use super::jobs::{JobError, JobRun};
use crate::domain::{AccessRequest, RequestStatus};
use crate::slack::api::SlackApiError;
use crate::slack::messages::{
    approver_message, channel_message, requester_message, Closer, MessageContext,
};
use crate::slack::notices;
use crate::state::AppState;
use crate::store::{Actor, AuditEvent, MessageKind, MessageRef, NotifyEvent, StoreError};

/// Events after which the requester gets a new DM (a ping), not just an
/// edit, with the status the request has right after them. A ping whose
/// request has moved on since (a grant that expired before a Slack outage
/// ended) is skipped: the later event pings with the truth.
const REQUESTER_PINGS: &[(NotifyEvent, RequestStatus)] = &[
    (NotifyEvent::Granted, RequestStatus::Active),
    (NotifyEvent::Failed, RequestStatus::Failed),
    (NotifyEvent::Denied, RequestStatus::Denied),
    (NotifyEvent::TimedOut, RequestStatus::TimedOut),
    (NotifyEvent::Expired, RequestStatus::Expired),
    (NotifyEvent::Revoked, RequestStatus::Revoked),
];

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

/// Who ended the request early (revoke, cancel, or the tailnet), from its
/// audit trail.
fn closed_by(req: &AccessRequest, trail: &[AuditEvent]) -> Option<Closer> {
    let actions: &[&str] = match req.status {
        RequestStatus::Revoking | RequestStatus::Revoked => &["revoked", "revoking"],
        RequestStatus::Cancelled => &["cancelled"],
        _ => return None,
    };
    trail
        .iter()
        .rev()
        .filter(|e| actions.contains(&e.action.as_str()))
        .find_map(|e| match &e.actor {
            Actor::User(u) => Some(Closer::Person(u.clone())),
            Actor::Tailnet => Some(Closer::Tailnet),
            Actor::System => None,
        })
}

/// Why Tailscale has not removed access, while a revoke is unconfirmed.
fn revoke_failure(req: &AccessRequest, trail: &[AuditEvent]) -> Option<String> {
    if req.status != RequestStatus::Revoking {
        return None;
    }
    revoke_failure_reason(trail)
}

fn revoke_failure_reason(trail: &[AuditEvent]) -> Option<String> {
    trail
        .iter()
        .rev()
        .find(|e| e.action == "revoke_failed")
        .map(|e| {
            e.detail
                .get("error")
                .and_then(|v| v.as_str())
                .unwrap_or("Tailscale did not confirm")
                .to_owned()
        })
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

async fn post_and_remember(
    state: &AppState,
    req: &AccessRequest,
    kind: MessageKind,
    channel: &str,
    content: SlackMessageContent,
) -> Result<Result<(), SlackApiError>, StoreError> {
    match state.slack.post_message(channel, content).await {
        Ok(posted) => {
            let msg = MessageRef {
                kind,
                channel: posted.channel,
                ts: posted.ts,
            };
            state.store.set_message_ref(req.id, &msg).await?;
            Ok(Ok(()))
        }
        Err(e) => Ok(Err(e)),
    }
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

/// One run of a notification job: the request, its trail, and why.
struct NotifyJob<'a> {
    req: &'a AccessRequest,
    trail: &'a [AuditEvent],
    event: NotifyEvent,
}

/// People told that access could not be removed are told when it is gone:
/// the requester, whoever revoked (if someone else), and the channel.
async fn tell_revoke_trouble(
    state: &AppState,
    job: &NotifyJob<'_>,
    ctx: &MessageContext<'_>,
    content: SlackMessageContent,
    failures: &mut Failures,
) -> Result<(), StoreError> {
    let req = job.req;
    if job.event == NotifyEvent::RevokeFailed {
        // The requester learns it from their edited DM too, but a ping is due.
        ping_once(
            state,
            job,
            "requester",
            req.requester.as_str(),
            content.clone(),
            failures,
        )
        .await?;
    }
    if let Some(Closer::Person(who)) = ctx.closed_by {
        if who != &req.requester {
            ping_once(
                state,
                job,
                "revoker",
                who.as_str(),
                content.clone(),
                failures,
            )
            .await?;
        }
    }
    if let Some(channel) = super::profile_of(state, req).and_then(|p| p.notify_channel.clone()) {
        ping_once(state, job, "channel", channel.as_str(), content, failures).await?;
    }
    Ok(())
}

pub async fn run_notify(
    state: &AppState,
    req: AccessRequest,
    event: NotifyEvent,
    _run: JobRun,
) -> Result<(), JobError> {
    let refs = state.store.message_refs(req.id).await?;
    let find = |k: MessageKind| refs.iter().find(|r| r.kind == k).cloned();
    let trail = state.store.audit_events(req.id).await?;
    if event != NotifyEvent::Reminder {
        // Before the Slack messages: their retries must not hold it up.
        super::home::refresh_concerned(state, &req, &trail).await?;
    }
    let closed = closed_by(&req, &trail);
    let trouble = revoke_failure(&req, &trail);
    let name = super::profile_name(state, &req);
    let ctx = MessageContext {
        req: &req,
        profile_name: &name,
        closed_by: closed.as_ref(),
        pending_timeout: state.config.requests.pending_timeout,
        revoke_failure: trouble.as_deref(),
    };
    let job = NotifyJob {
        req: &req,
        trail: &trail,
        event,
    };
    let mut failures = Failures::default();

    if event == NotifyEvent::Reminder {
        if let (RequestStatus::Pending, Some(approver)) = (req.status, &req.approver) {
            let sent = state
                .slack
                .post_message(approver.as_str(), notices::reminder(&ctx))
                .await;
            failures.check("reminder", &req, sent.map(|_| ()));
        }
        return failures.into_result();
    }
    if event == NotifyEvent::RevokeFailed && req.status == RequestStatus::Revoking {
        let why = trouble.as_deref().unwrap_or("Tailscale did not confirm");
        let alert = notices::revoke_failed(&ctx, why);
        tell_revoke_trouble(state, &job, &ctx, alert, &mut failures).await?;
    }
    if event == NotifyEvent::Revoked && revoke_failure_reason(&trail).is_some() {
        // The requester's own ping below says it; the others were warned.
        let done = notices::revoke_done(&ctx);
        tell_revoke_trouble(state, &job, &ctx, done, &mut failures).await?;
    }

    // The approver's message: posted once, then kept in step with the state.
    match (find(MessageKind::ApproverDm), &req.approver) {
        (Some(m), _) => {
            let sent = state
                .slack
                .update_message(&m.channel, &m.ts, approver_message(&ctx))
                .await;
            failures.check("approver message update", &req, sent);
        }
        (None, Some(approver)) if event == NotifyEvent::Requested => {
            let content = approver_message(&ctx);
            if let Err(e) = post_and_remember(
                state,
                &req,
                MessageKind::ApproverDm,
                approver.as_str(),
                content,
            )
            .await?
            {
                if !e.is_transient() && approver != &req.requester {
                    // Nobody will ever see the buttons: say so, or the request
                    // just sits there until it times out.
                    let text = notices::approver_unreachable(approver, &e);
                    let sent = state.slack.post_message(req.requester.as_str(), text).await;
                    failures.check("approver unreachable notice", &req, sent.map(|_| ()));
                }
                failures.note("approver DM", &req, e);
            }
        }
        _ => {}
    }

    requester(
        state,
        &job,
        &ctx,
        find(MessageKind::RequesterDm),
        &mut failures,
    )
    .await?;

    // The profile's channel: announced when granted, then kept in step.
    let channel = super::profile_of(state, &req).and_then(|p| p.notify_channel.clone());
    match (find(MessageKind::ChannelPost), channel) {
        (Some(m), _) => {
            let sent = state
                .slack
                .update_message(&m.channel, &m.ts, channel_message(&ctx))
                .await;
            failures.check("channel post update", &req, sent);
        }
        (None, Some(channel))
            if event == NotifyEvent::Granted && req.status == RequestStatus::Active =>
        {
            let content = channel_message(&ctx);
            let posted = post_and_remember(
                state,
                &req,
                MessageKind::ChannelPost,
                channel.as_str(),
                content,
            )
            .await?;
            failures.check("channel post", &req, posted);
        }
        _ => {}
    }

    failures.into_result()
}

/// The requester: a DM when the request is made and on each outcome; the
/// previous DM is edited so no stale button stays clickable.
async fn requester(
    state: &AppState,
    job: &NotifyJob<'_>,
    ctx: &MessageContext<'_>,
    previous: Option<MessageRef>,
    failures: &mut Failures,
) -> Result<(), StoreError> {
    let (req, event) = (job.req, job.event);
    let self_confirm = req.approver.as_ref() == Some(&req.requester);
    let ping = REQUESTER_PINGS.contains(&(event, req.status))
        && !already_notified(job.trail, event, "requester");
    let first = previous.is_none() && event == NotifyEvent::Requested && !self_confirm;
    if ping || first {
        let to = req.requester.as_str();
        let content = requester_message(ctx);
        match post_and_remember(state, req, MessageKind::RequesterDm, to, content).await? {
            Ok(()) if ping => {
                record_notified(state, req, event, "requester").await?;
                if let Some(m) = &previous {
                    let sent = state
                        .slack
                        .update_message(&m.channel, &m.ts, notices::superseded())
                        .await;
                    failures.check("requester message update", req, sent);
                }
            }
            Ok(()) => {}
            Err(e) => failures.note("requester DM", req, e),
        }
    } else if let Some(m) = &previous {
        let sent = state
            .slack
            .update_message(&m.channel, &m.ts, requester_message(ctx))
            .await;
        failures.check("requester message update", req, sent);
    }
    Ok(())
}
