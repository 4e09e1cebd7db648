//! The requester's DM: waiting, granted (until when, approved how), or
//! how it ended, with the buttons that apply.

use slack_morphism::prelude::*;

use super::{
    actions, added, buttons, closer, content, decider, deny_reason, mention, people,
    revoke_trouble, until, what, MessageContext, Via,
};
use crate::domain::profile::format_duration;
use crate::domain::RequestStatus;
use crate::slack::blocks::{button, context, escape, fit, section};

/// Who the request waits for: the chosen approver, the approvers (in the
/// approval channel), and how many approvals it still needs.
pub(super) fn waiting_for(ctx: &MessageContext<'_>) -> String {
    let r = ctx.req;
    let needed = ctx.approval.required;
    let done = ctx.approval.approved_by;
    if let (Some(approver), 0 | 1) = (&r.approver, needed) {
        return mention(approver);
    }
    let whom = match (needed, ctx.approval.channel) {
        (0 | 1, Some(c)) => format!("an approver in <#{c}>"),
        (0 | 1, None) => "an approver".into(),
        (n, Some(c)) => format!("{n} approvals in <#{c}>"),
        (n, None) => format!("{n} approvals"),
    };
    match done.len() {
        0 => whom,
        _ => format!("{whom} ({} so far: {})", done.len(), people(done)),
    }
}

/// "approved by <@bob>", "approved by <@bob> for 1h; you asked for 8h",
/// "auto-approved", "break glass: its approvers review it".
fn approved(ctx: &MessageContext<'_>) -> String {
    match ctx.approval.via {
        Via::AutoApproved => "auto-approved".into(),
        Via::BreakGlass => "break glass: its approvers review it".into(),
        _ => match ctx.approval.asked {
            Some(asked) => format!(
                "approved by {} for {}; you asked for {}",
                decider(ctx),
                format_duration(ctx.req.duration),
                format_duration(asked)
            ),
            None => format!("approved by {}", decider(ctx)),
        },
    }
}

/// The requester's DM for the request's current state.
pub fn requester_message(ctx: &MessageContext<'_>) -> SlackMessageContent {
    if let Some(grant) = ctx.grant {
        return super::extension::requester_message(ctx, grant);
    }
    let r = ctx.req;
    let id = r.id.to_string();
    let again = || button("Request again", actions::REQUEST_AGAIN, &id);
    let (text, extra): (String, Vec<SlackBlockButtonElement>) = match r.status {
        RequestStatus::Pending => (
            format!(
                ":hourglass_flowing_sand: Your request for {} is waiting for {}.",
                what(ctx),
                waiting_for(ctx)
            ),
            vec![button("Cancel request", actions::CANCEL, &id)],
        ),
        RequestStatus::Approved => match &r.failure_reason {
            Some(why) => (
                format!(
                    ":warning: Your request for {} could not be granted: {}. Making sure nothing was left on the device…",
                    what(ctx),
                    escape(why)
                ),
                vec![],
            ),
            None => (
                match ctx.approval.via {
                    Via::BreakGlass => format!(
                        ":rotating_light: Break glass: granting you {} now; its approvers will review it…",
                        what(ctx)
                    ),
                    Via::AutoApproved => format!(
                        ":hourglass_flowing_sand: Your request for {} was approved automatically; granting access…",
                        what(ctx)
                    ),
                    _ => format!(
                        ":hourglass_flowing_sand: {} approved your request for {}; granting access…",
                        decider(ctx),
                        what(ctx)
                    ),
                },
                vec![button("Cancel request", actions::CANCEL, &id)],
            ),
        },
        RequestStatus::Active => (
            format!(
                ":white_check_mark: You have {} until {} ({}).",
                what(ctx),
                until(r),
                approved(ctx)
            ),
            vec![
                button("Extend", actions::EXTEND, &id),
                button("Revoke", actions::REVOKE, &id),
                again(),
            ],
        ),
        RequestStatus::Failed => (
            format!(
                ":warning: Your request for {} could not be granted: {}",
                what(ctx),
                escape(r.failure_reason.as_deref().unwrap_or("unknown error"))
            ),
            vec![again()],
        ),
        RequestStatus::Denied => (
            format!(
                ":x: {} denied your request for {}{}.",
                decider(ctx),
                what(ctx),
                deny_reason(ctx)
            ),
            vec![again()],
        ),
        RequestStatus::Cancelled => (
            format!(
                ":no_entry_sign: You cancelled your request for {}.",
                what(ctx)
            ),
            vec![again()],
        ),
        RequestStatus::TimedOut => (
            format!(
                ":hourglass: Your request for {} timed out: nobody decided within {}.",
                what(ctx),
                format_duration(ctx.pending_timeout)
            ),
            vec![again()],
        ),
        RequestStatus::Expired => (
            format!(":checkered_flag: Your access to {} has ended.", what(ctx)),
            vec![again()],
        ),
        RequestStatus::Revoking => (
            revoke_trouble(ctx).unwrap_or_else(|| {
                format!(
                    ":hourglass_flowing_sand: {} revoked your access to {}; removing it…",
                    closer(ctx),
                    what(ctx)
                )
            }),
            vec![],
        ),
        RequestStatus::Revoked => (
            format!(
                ":octagonal_sign: Your access to {} was revoked by {}.",
                what(ctx),
                closer(ctx)
            ),
            vec![again()],
        ),
        // Only a request to extend a grant ends so (rendered above).
        RequestStatus::Extended => (format!("Your access to {} was extended.", what(ctx)), vec![]),
    };
    let mut blocks = vec![section(text.clone())];
    if let Some(line) = added(ctx).filter(|_| r.status == RequestStatus::Active) {
        blocks.push(context(line));
    }
    blocks.push(context(format!(
        "Reason: {}",
        escape(&fit(r.reason.as_str(), 500))
    )));
    if !extra.is_empty() {
        blocks.push(buttons(extra));
    }
    content(text, blocks)
}
