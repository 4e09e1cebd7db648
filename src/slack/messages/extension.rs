//! A request to extend a grant, as its requester and its approvers see it:
//! how much longer, until when, and what became of it. It never grants
//! access itself: once approved, its time is added to the grant, whose
//! own messages then say the new time.

use slack_morphism::prelude::*;

use super::{
    actions, buttons, content, decider, deny_reason, mention, shortened, what, GrantNow,
    MessageContext,
};
use crate::domain::profile::format_duration;
use crate::domain::RequestStatus;
use crate::slack::blocks::{button, context, escape, fit, section, slack_date};

/// "by *2h*, until <date>" while the grant is active; "by *2h* (the access
/// has ended)" once it is not.
fn by_how_much(ctx: &MessageContext<'_>, grant: GrantNow) -> String {
    let extra = format!("by *{}*", format_duration(ctx.req.duration));
    match (grant.status, grant.until) {
        (RequestStatus::Active, Some(until)) => {
            let to = until + chrono::Duration::from_std(ctx.req.duration).unwrap_or_default();
            format!("{extra}, until {}", slack_date(to))
        }
        (status, _) => format!("{extra} (the access is {} now)", status.describe()),
    }
}

/// "<@alice> asks to extend *Production* on *laptop* by *2h*, until …"
pub(super) fn asks(ctx: &MessageContext<'_>, grant: GrantNow) -> String {
    format!(
        "{} asks to extend {} {}",
        mention(&ctx.req.requester),
        what(ctx),
        by_how_much(ctx, grant)
    )
}

/// The outcome the approvers see once it is no longer pending.
pub(super) fn outcome(ctx: &MessageContext<'_>) -> String {
    let r = ctx.req;
    let by = || format!("{}{}", decider(ctx), shortened(ctx));
    match r.status {
        RequestStatus::Approved => {
            format!(
                ":hourglass_flowing_sand: Approved by {}; extending access…",
                by()
            )
        }
        RequestStatus::Extended => format!(
            ":white_check_mark: Approved by {}. Access extended until {}.",
            by(),
            until(ctx)
        ),
        RequestStatus::Failed => format!(
            ":warning: Approved by {}, but access could not be extended: {}",
            by(),
            escape(r.failure_reason.as_deref().unwrap_or("unknown error"))
        ),
        RequestStatus::Denied => format!(":x: Denied by {}{}.", decider(ctx), deny_reason(ctx)),
        RequestStatus::Cancelled => ":no_entry_sign: Cancelled by the requester.".into(),
        RequestStatus::TimedOut => format!(
            ":hourglass: Timed out: nobody decided within {}.",
            format_duration(ctx.pending_timeout)
        ),
        other => format!("This request to extend access is {}.", other.describe()),
    }
}

/// Where the grant now ends (the extension's own `expires_at` once applied).
fn until(ctx: &MessageContext<'_>) -> String {
    ctx.req
        .expires_at
        .or(ctx.grant.and_then(|g| g.until))
        .map(slack_date)
        .unwrap_or_else(|| "its expiry".into())
}

/// The requester's DM about their request to extend a grant.
pub(super) fn requester_message(ctx: &MessageContext<'_>, grant: GrantNow) -> SlackMessageContent {
    let r = ctx.req;
    let id = r.id.to_string();
    let thing = what(ctx);
    let (text, extra) = match r.status {
        RequestStatus::Pending => (
            format!(
                ":hourglass_flowing_sand: Your request to extend {thing} {} is waiting for {}.",
                by_how_much(ctx, grant),
                super::requester::waiting_for(ctx)
            ),
            vec![button("Cancel request", actions::CANCEL, &id)],
        ),
        RequestStatus::Approved => (
            format!(
                ":hourglass_flowing_sand: {} approved extending {thing}; extending…",
                decider(ctx)
            ),
            vec![],
        ),
        RequestStatus::Extended => (
            format!(
                ":white_check_mark: {} approved: your access to {thing} now lasts until {}.",
                decider(ctx),
                until(ctx)
            ),
            vec![],
        ),
        RequestStatus::Failed => (
            format!(
                ":warning: Your access to {thing} could not be extended: {}",
                escape(r.failure_reason.as_deref().unwrap_or("unknown error"))
            ),
            vec![],
        ),
        RequestStatus::Denied => (
            format!(
                ":x: {} denied extending your access to {thing}{}.",
                decider(ctx),
                deny_reason(ctx)
            ),
            vec![],
        ),
        RequestStatus::Cancelled => (
            format!(":no_entry_sign: You cancelled your request to extend {thing}."),
            vec![],
        ),
        RequestStatus::TimedOut => (
            format!(
                ":hourglass: Your request to extend {thing} timed out: nobody decided within {}.",
                format_duration(ctx.pending_timeout)
            ),
            vec![],
        ),
        other => (
            format!("Your request to extend {thing} is {}.", other.describe()),
            vec![],
        ),
    };
    let mut blocks = vec![
        section(text.clone()),
        context(format!("Reason: {}", escape(&fit(r.reason.as_str(), 500)))),
    ];
    if !extra.is_empty() {
        blocks.push(buttons(extra));
    }
    content(text, blocks)
}
