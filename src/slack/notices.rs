//! One-off messages about a request, posted once and never edited:
//! reminders (to decide, to review a break-glass grant), a revoke Tailscale
//! has not confirmed and its end, an approver who cannot be reached, and
//! the stub left where a message was replaced.

use slack_morphism::prelude::*;

use super::api::SlackApiError;
use super::blocks::{context, escape, section};
use super::messages::{content, mention, until, what, MessageContext};
use crate::domain::SlackUserId;

/// A one-off message: its text as one section.
fn notice(text: String) -> SlackMessageContent {
    content(text.clone(), vec![section(text)])
}

/// A nudge to the approver of a request still pending.
pub fn reminder(ctx: &MessageContext<'_>) -> SlackMessageContent {
    notice(format!(
        ":bell: Reminder: {} is still waiting for your decision on {}. The request is above.",
        mention(&ctx.req.requester),
        what(ctx)
    ))
}

/// A nudge in the approval channel for a request still pending.
pub fn channel_reminder(ctx: &MessageContext<'_>) -> SlackMessageContent {
    let text = format!(
        ":bell: Reminder: {} is still waiting for a decision on {}. The request is above.",
        mention(&ctx.req.requester),
        what(ctx)
    );
    content(text.clone(), vec![section(text)])
}

/// Told to each approver when a break-glass grant was not reviewed within
/// `review_within`; the post in `channel` has Acknowledge and Revoke.
pub fn review_reminder(ctx: &MessageContext<'_>, channel: Option<&str>) -> SlackMessageContent {
    let there = channel.map(|c| format!(" in <#{c}>")).unwrap_or_default();
    let text = format!(
        ":rotating_light: Please review: {} broke the glass for {} and nobody has acknowledged it yet. Acknowledge it or revoke it{there}.",
        mention(&ctx.req.requester),
        what(ctx)
    );
    content(text.clone(), vec![section(text)])
}

/// Access was revoked, but Tailscale has not removed it (refused, or kept
/// failing): said to the requester, whoever revoked, and the channel.
pub fn revoke_failed(ctx: &MessageContext<'_>, why: &str) -> SlackMessageContent {
    notice(format!(
        ":warning: Could not remove {}'s access to {}: {}. It stays until {} at the latest. accessbot keeps trying and will say when it is gone.",
        mention(&ctx.req.requester),
        what(ctx),
        escape(why),
        until(ctx.req)
    ))
}

/// The follow-up to [`revoke_failed`] once the access is gone.
pub fn revoke_done(ctx: &MessageContext<'_>) -> SlackMessageContent {
    notice(format!(
        ":white_check_mark: {}'s access to {} has now been removed.",
        mention(&ctx.req.requester),
        what(ctx)
    ))
}

/// Told to the requester each time their grant gets more time.
pub fn extended(ctx: &MessageContext<'_>) -> SlackMessageContent {
    notice(format!(
        ":heavy_plus_sign: Your access to {} now lasts until {}.",
        what(ctx),
        until(ctx.req)
    ))
}

/// Told to the requester when their approver cannot be sent the request.
pub fn approver_unreachable(approver: &SlackUserId, e: &SlackApiError) -> SlackMessageContent {
    notice(format!(
        ":warning: accessbot could not send your request to <@{approver}> (Slack said: {}). \
         Cancel it and ask someone else to approve.",
        e.code().unwrap_or("error")
    ))
}

/// What an earlier DM turns into when a newer one replaces it, so no stale
/// button stays clickable.
pub fn superseded() -> SlackMessageContent {
    content(
        "This request was updated; see below.".to_owned(),
        vec![context("_This request was updated; see below._")],
    )
}
