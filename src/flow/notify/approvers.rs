//! The messages asking to decide: a DM to the chosen approver, a DM to
//! every approver (approval = "any"), or one post in the profile's
//! approval channel. Each is remembered (DMs per recipient) and edited on
//! every later event, so everyone sees who decided; reminders go to those
//! who have not approved yet.

use super::{ping_once, post_and_remember, update, Failures, NotifyJob};
use crate::domain::approval::recipients;
use crate::domain::{Profile, RequestStatus, SlackUserId};
use crate::slack::messages::{approver_message, MessageContext};
use crate::slack::notices;
use crate::state::AppState;
use crate::store::{MessageKind, MessageRef, NotifyEvent, StoreError};

fn asks_to_decide(m: &MessageRef) -> bool {
    matches!(m.kind, MessageKind::ApproverDm | MessageKind::ApprovalPost)
}

/// Post the messages asking to decide (once, when requested) and keep
/// every one of them in step with the request.
pub(super) async fn sync(
    state: &AppState,
    job: &NotifyJob<'_>,
    ctx: &MessageContext<'_>,
    refs: &[MessageRef],
    profile: Option<&Profile>,
    failures: &mut Failures,
) -> Result<(), StoreError> {
    let req = job.req;
    for m in refs.iter().filter(|m| asks_to_decide(m)) {
        let what = "approver message update";
        update(state, req, what, m, approver_message(ctx), failures).await;
    }
    if job.event != NotifyEvent::Requested {
        return Ok(());
    }
    let channel = profile.and_then(|p| p.approval.channel.as_ref());
    match (&req.approver, channel) {
        (Some(approver), _) => {
            if !refs.iter().any(|m| m.kind == MessageKind::ApproverDm) {
                ask_chosen(state, job, ctx, approver, failures).await?;
            }
        }
        (None, Some(channel)) => {
            if !refs.iter().any(|m| m.kind == MessageKind::ApprovalPost) {
                let kind = MessageKind::ApprovalPost;
                let content = approver_message(ctx);
                let posted =
                    post_and_remember(state, req, kind, None, channel.as_str(), content).await?;
                failures.check("approval channel post", req, posted);
            }
        }
        (None, None) => {
            if let Some(profile) = profile {
                ask_every_approver(state, job, ctx, refs, profile, failures).await?;
            }
        }
    }
    Ok(())
}

/// The DM to the approver the requester chose; when Slack refuses it for
/// good, the requester is told (or the request would just time out).
async fn ask_chosen(
    state: &AppState,
    job: &NotifyJob<'_>,
    ctx: &MessageContext<'_>,
    approver: &SlackUserId,
    failures: &mut Failures,
) -> Result<(), StoreError> {
    let req = job.req;
    let kind = MessageKind::ApproverDm;
    let content = approver_message(ctx);
    let posted =
        post_and_remember(state, req, kind, Some(approver), approver.as_str(), content).await?;
    if let Err(e) = posted {
        if !e.is_transient() && approver != &req.requester {
            let text = notices::approver_unreachable(approver, &e);
            let sent = state.slack.post_message(req.requester.as_str(), text).await;
            failures.check("approver unreachable notice", req, sent.map(|_| ()));
        }
        failures.note("approver DM", req, e);
    }
    Ok(())
}

/// A DM to each approver of the profile not sent one yet (approval = "any").
async fn ask_every_approver(
    state: &AppState,
    job: &NotifyJob<'_>,
    ctx: &MessageContext<'_>,
    refs: &[MessageRef],
    profile: &Profile,
    failures: &mut Failures,
) -> Result<(), StoreError> {
    let req = job.req;
    let ids: Vec<SlackUserId> = match state.people.approvers(profile).await {
        Ok((_, named)) => named.into_iter().map(|(u, _)| u).collect(),
        Err(e) => {
            failures.note("approvers", req, e);
            return Ok(());
        }
    };
    for to in recipients(profile, &ids, &req.requester) {
        let sent_already = refs
            .iter()
            .any(|m| m.kind == MessageKind::ApproverDm && m.recipient.as_ref() == Some(&to));
        if sent_already {
            continue;
        }
        let kind = MessageKind::ApproverDm;
        let posted = post_and_remember(
            state,
            req,
            kind,
            Some(&to),
            to.as_str(),
            approver_message(ctx),
        )
        .await?;
        failures.check("approver DM", req, posted);
    }
    Ok(())
}

/// A still-pending request's reminder: a DM to each approver asked who has
/// not approved yet, and a note in the approval channel; once each.
pub(super) async fn remind(
    state: &AppState,
    job: &NotifyJob<'_>,
    ctx: &MessageContext<'_>,
    refs: &[MessageRef],
    failures: &mut Failures,
) -> Result<(), StoreError> {
    let req = job.req;
    if req.status != RequestStatus::Pending {
        return Ok(());
    }
    let mut asked: Vec<SlackUserId> = refs
        .iter()
        .filter(|m| m.kind == MessageKind::ApproverDm)
        .filter_map(|m| m.recipient.clone().or_else(|| req.approver.clone()))
        .collect();
    if asked.is_empty() {
        asked.extend(req.approver.clone());
    }
    let waiting = asked
        .iter()
        .filter(|u| !ctx.approval.approved_by.contains(u));
    for to in waiting {
        let text = notices::reminder(ctx);
        ping_once(state, job, to.as_str(), to.as_str(), text, failures).await?;
    }
    for post in refs.iter().filter(|m| m.kind == MessageKind::ApprovalPost) {
        let text = notices::channel_reminder(ctx);
        ping_once(
            state,
            job,
            "approval_channel",
            &post.channel,
            text,
            failures,
        )
        .await?;
    }
    Ok(())
}
