//! The post in the profile's notify channel: a grant announced and kept
//! in step with its request. A break-glass grant is announced at once,
//! with its review: Acknowledge (and Revoke while active) for its
//! approvers, and whether anyone has reviewed it.

use slack_morphism::prelude::*;

use super::{
    actions, added, buttons, closer, content, decider, mention, revoke_trouble, shortened, until,
    what, MessageContext, Review, Via,
};
use crate::domain::profile::format_duration;
use crate::domain::RequestStatus;
use crate::slack::blocks::{button, context, escape, fit, section};

/// "approved by <@bob>", or how it was approved without a click.
fn how(ctx: &MessageContext<'_>) -> String {
    match ctx.approval.via {
        Via::AutoApproved => "auto-approved".into(),
        Via::BreakGlass => "break glass, no approval".into(),
        _ => format!("approved by {}{}", decider(ctx), shortened(ctx)),
    }
}

/// The review's state, and the buttons it still needs.
fn review(ctx: &MessageContext<'_>, review: &Review) -> (String, Vec<SlackBlockButtonElement>) {
    let id = ctx.req.id.to_string();
    let mut items = Vec::new();
    let text = match (&review.acknowledged_by, review.overdue) {
        (Some(who), _) => format!(
            ":white_check_mark: Reviewed: acknowledged by {}.",
            mention(who)
        ),
        (None, overdue) => {
            items.push(
                button("Acknowledge", actions::ACKNOWLEDGE, &id)
                    .with_style(SlackBlockButtonStyle::Primary),
            );
            match overdue {
                true => format!(
                    ":warning: Nobody has reviewed this within {}; its approvers were reminded. Acknowledge it if it was right, or revoke it.",
                    format_duration(review.within)
                ),
                false => ":eyes: Approvers: acknowledge this if it was right, or revoke it.".into(),
            }
        }
    };
    if ctx.req.status == RequestStatus::Active {
        items
            .push(button("Revoke", actions::REVOKE, &id).with_style(SlackBlockButtonStyle::Danger));
    }
    (text, items)
}

/// The post in the profile's notify channel.
pub fn channel_message(ctx: &MessageContext<'_>) -> SlackMessageContent {
    let r = ctx.req;
    let glass = ctx.approval.via == Via::BreakGlass;
    let text = match r.status {
        RequestStatus::Approved if glass && r.failure_reason.is_none() => format!(
            ":rotating_light: {} broke the glass: granting {} now, without approval.",
            mention(&r.requester),
            what(ctx)
        ),
        RequestStatus::Active if glass => format!(
            ":rotating_light: {} broke the glass: {} until {}, without approval.",
            mention(&r.requester),
            what(ctx),
            until(r)
        ),
        RequestStatus::Active => format!(
            ":unlock: {} has {} until {} ({}).",
            mention(&r.requester),
            what(ctx),
            until(r),
            how(ctx)
        ),
        RequestStatus::Revoking => revoke_trouble(ctx).unwrap_or_else(|| {
            format!(
                ":hourglass_flowing_sand: {} revoked {}'s access to {}; removing it…",
                closer(ctx),
                mention(&r.requester),
                what(ctx)
            )
        }),
        RequestStatus::Revoked => format!(
            ":lock: {}'s access to {} was revoked by {}.",
            mention(&r.requester),
            what(ctx),
            closer(ctx)
        ),
        RequestStatus::Expired => format!(
            ":lock: {}'s access to {} has ended.",
            mention(&r.requester),
            what(ctx)
        ),
        other => format!(
            "{}'s access to {}: {other}.",
            mention(&r.requester),
            what(ctx)
        ),
    };
    let mut blocks = vec![section(text.clone())];
    if let Some(line) = added(ctx).filter(|_| r.status == RequestStatus::Active) {
        blocks.push(context(line));
    }
    blocks.push(context(format!(
        "Reason: {}",
        escape(&fit(r.reason.as_str(), 500))
    )));
    if let Some(state) = ctx.approval.review.as_ref().filter(|_| glass) {
        let (line, items) = review(ctx, state);
        blocks.push(context(line));
        if !items.is_empty() {
            blocks.push(buttons(items));
        }
    }
    content(text, blocks)
}
