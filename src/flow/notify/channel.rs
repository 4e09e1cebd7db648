//! The profile's notify channel: a grant announced (a break-glass grant at
//! once, with its review) and kept in step; the reminder to review a
//! break-glass grant; and, when Tailscale would not remove access, the
//! people told so and told again when it is gone.

use serde_json::json;
use slack_morphism::prelude::SlackMessageContent;

use super::facts::{acknowledged_by, revoke_failure_reason, REVIEW_OVERDUE};
use super::{ping_once, post_and_remember, update, Failures, NotifyJob};
use crate::domain::{AccessRequest, Profile, RequestStatus};
use crate::slack::messages::{channel_message, Closer, MessageContext, Via};
use crate::slack::notices;
use crate::state::AppState;
use crate::store::{Actor, MessageKind, MessageRef, NotifyEvent, StoreError};

/// Announce the grant when it is due (a break-glass grant as soon as it is
/// approved, any other once active) and keep the post in step.
pub(super) async fn sync(
    state: &AppState,
    job: &NotifyJob<'_>,
    ctx: &MessageContext<'_>,
    refs: &[MessageRef],
    profile: Option<&Profile>,
    failures: &mut Failures,
) -> Result<(), StoreError> {
    let req = job.req;
    let posted = refs.iter().find(|m| m.kind == MessageKind::ChannelPost);
    let channel = profile.and_then(|p| p.notify_channel.as_ref());
    let glass = ctx.approval.via == Via::BreakGlass;
    let due = match job.event {
        NotifyEvent::Granted => req.status == RequestStatus::Active || glass,
        NotifyEvent::Approved => glass,
        _ => false,
    };
    match (posted, channel) {
        (Some(m), _) => {
            update(
                state,
                req,
                "channel post update",
                m,
                channel_message(ctx),
                failures,
            )
            .await;
        }
        (None, Some(channel)) if due => {
            let kind = MessageKind::ChannelPost;
            let content = channel_message(ctx);
            let posted =
                post_and_remember(state, req, kind, None, channel.as_str(), content).await?;
            failures.check("channel post", req, posted);
        }
        _ => {}
    }
    Ok(())
}

/// A break-glass grant's `review_within` has passed: unless someone
/// acknowledged it, an approver revoked it, or it never granted anything,
/// record that its review
/// is overdue (once) and say whether to remind its approvers.
pub(super) async fn review_overdue(
    state: &AppState,
    req: &AccessRequest,
) -> Result<bool, StoreError> {
    let trail = state.store.audit_events(req.id).await?;
    let never_granted = matches!(req.status, RequestStatus::Failed | RequestStatus::Cancelled);
    // Revoking it is a review too, unless the requester did.
    let revoked_by_reviewer = trail.iter().any(|e| {
        e.action == RequestStatus::Revoking.as_str()
            && matches!(&e.actor, Actor::User(u) if u != &req.requester)
    });
    if acknowledged_by(&trail).is_some() || never_granted || revoked_by_reviewer {
        return Ok(false);
    }
    let within = super::super::profile_of(state, req)
        .map(|p| p.approval.review_within.as_secs())
        .unwrap_or_default();
    let detail = json!({ "review_within_seconds": within });
    let now = state.now();
    let first = state
        .store
        .append_audit_once(req.id, now, &Actor::System, REVIEW_OVERDUE, detail, &[])
        .await?;
    if first {
        tracing::warn!(request = %req.id, "break-glass grant not reviewed in time; reminding its approvers");
    }
    Ok(true)
}

/// Remind each approver of the profile (never the requester), once each.
pub(super) async fn remind_reviewers(
    state: &AppState,
    job: &NotifyJob<'_>,
    ctx: &MessageContext<'_>,
    profile: Option<&Profile>,
    failures: &mut Failures,
) -> Result<(), StoreError> {
    let Some(profile) = profile else {
        return Ok(());
    };
    let named = match state.people.approvers(profile).await {
        Ok((_, named)) => named,
        Err(e) => {
            failures.note("reviewers", job.req, e);
            return Ok(());
        }
    };
    let channel = profile.notify_channel.as_ref().map(|c| c.as_str());
    for (to, _) in named.iter().filter(|(u, _)| u != &job.req.requester) {
        let text = notices::review_reminder(ctx, channel);
        ping_once(state, job, to.as_str(), to.as_str(), text, failures).await?;
    }
    Ok(())
}

/// When Tailscale would not remove access: the requester, whoever
/// revoked and the channel are told, and told again once it is gone.
pub(super) async fn revoke_trouble(
    state: &AppState,
    job: &NotifyJob<'_>,
    ctx: &MessageContext<'_>,
    failures: &mut Failures,
) -> Result<(), StoreError> {
    let req = job.req;
    if job.event == NotifyEvent::RevokeFailed && req.status == RequestStatus::Revoking {
        let why = ctx.revoke_failure.unwrap_or("Tailscale did not confirm");
        let alert = notices::revoke_failed(ctx, why);
        tell_revoke_trouble(state, job, ctx, alert, failures).await?;
    }
    if job.event == NotifyEvent::Revoked && revoke_failure_reason(job.trail).is_some() {
        // The requester's own ping says it; the others were warned.
        let done = notices::revoke_done(ctx);
        tell_revoke_trouble(state, job, ctx, done, failures).await?;
    }
    Ok(())
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
        let to = req.requester.as_str();
        ping_once(state, job, "requester", to, content.clone(), failures).await?;
    }
    if let Some(Closer::Person(who)) = ctx.closed_by {
        if who != &req.requester {
            let to = who.as_str();
            ping_once(state, job, "revoker", to, content.clone(), failures).await?;
        }
    }
    let channel = super::super::profile_of(state, req).and_then(|p| p.notify_channel.clone());
    if let Some(channel) = channel {
        ping_once(state, job, "channel", channel.as_str(), content, failures).await?;
    }
    Ok(())
}
