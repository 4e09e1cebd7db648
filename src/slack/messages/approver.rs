//! The message asking to decide: a DM to each approver asked, or the post
//! in the profile's approval channel. While pending it shows the progress
//! towards the approvals needed, Approve and Deny, a shorter duration to
//! approve for and a reason to deny with; afterwards the outcome.

use slack_morphism::prelude::*;

use super::{
    actions, added, blocks as block_ids, buttons, closer, content, decider, deny_reason, details,
    mention, people, revoke_trouble, shortened, until, what, MessageContext,
};
use crate::domain::approval::MAX_DENY_REASON_LEN;
use crate::domain::profile::format_duration;
use crate::domain::RequestStatus;
use crate::slack::blocks::{button, context, escape, option, plain, section};

/// "1 of 2 approvals: <@bob>", while more than one approval is needed.
fn progress(ctx: &MessageContext<'_>) -> Option<String> {
    let (done, needed) = (ctx.approval.approved_by, ctx.approval.required);
    match (done.len(), needed) {
        (_, 0 | 1) => None,
        (0, n) => Some(format!("Needs {n} approvals from different approvers.")),
        (k, n) => Some(format!("{k} of {n} approvals: {}", people(done))),
    }
}

/// Approve and Deny with the choices an approver has: a shorter duration
/// (a select next to Approve, when there is one to choose) and an optional
/// reason the requester sees when denied. Their values arrive with the
/// click; the server checks them again.
pub fn controls(ctx: &MessageContext<'_>) -> Vec<SlackBlock> {
    let id = ctx.req.id.to_string();
    let mut elements = vec![
        SlackActionBlockElement::Button(
            button("Approve", actions::APPROVE, &id).with_style(SlackBlockButtonStyle::Primary),
        ),
        SlackActionBlockElement::Button(
            button("Deny", actions::DENY, &id).with_style(SlackBlockButtonStyle::Danger),
        ),
    ];
    let durations = ctx.approval.durations;
    if let Some(asked) = durations.last().filter(|_| durations.len() > 1) {
        let choice = |d: &std::time::Duration| {
            option(
                &format!("for {}", format_duration(*d)),
                d.as_secs().to_string(),
            )
        };
        let select = SlackBlockStaticSelectElement::new()
            .with_action_id(SlackActionId(actions::APPROVE_DURATION.to_owned()))
            .with_placeholder(plain("Approve for…"))
            .with_options(durations.iter().map(choice).collect())
            .with_initial_option(choice(asked));
        elements.push(SlackActionBlockElement::StaticSelect(select));
    }
    let decision = SlackActionsBlock::new(elements)
        .with_block_id(SlackBlockId(block_ids::DECISION.to_owned()));
    let reason = SlackBlockPlainTextInputElement::new()
        .with_action_id(SlackActionId(actions::DENY_REASON.to_owned()))
        .with_max_length(MAX_DENY_REASON_LEN as u64)
        .with_placeholder(plain("e.g. use staging for this"));
    let reason = SlackInputBlock::new(
        plain("Reason, if you deny (the requester sees it)"),
        reason.into(),
    )
    .with_block_id(SlackBlockId(block_ids::DENY_REASON.to_owned()))
    .with_optional(true);
    vec![decision.into(), reason.into()]
}

/// The message asking to decide, for the request's current state.
pub fn approver_message(ctx: &MessageContext<'_>) -> SlackMessageContent {
    let r = ctx.req;
    let id = r.id.to_string();
    let headline = match ctx.grant {
        Some(grant) => super::extension::asks(ctx, grant),
        None => format!("{} requests access to {}", mention(&r.requester), what(ctx)),
    };
    let mut blocks = vec![section(headline), details(ctx)];
    let by = || format!("{}{}", decider(ctx), shortened(ctx));
    let outcome = match r.status {
        // A request to extend a grant: how it ended (it never grants).
        status if ctx.grant.is_some() && status != RequestStatus::Pending => {
            Some(super::extension::outcome(ctx))
        }
        RequestStatus::Pending => {
            if let Some(text) = progress(ctx) {
                blocks.push(context(text));
            }
            blocks.extend(controls(ctx));
            None
        }
        RequestStatus::Approved => match &r.failure_reason {
            Some(why) => Some(format!(
                ":warning: Approved by {}, but access could not be granted: {}. Making sure nothing was left on the device…",
                by(),
                escape(why)
            )),
            None => {
                blocks.push(context(format!(
                    ":hourglass_flowing_sand: Approved by {}; granting access…",
                    by()
                )));
                blocks.push(buttons(vec![button("Cancel approval", actions::CANCEL, &id)]));
                None
            }
        },
        RequestStatus::Active => {
            blocks.push(context(format!(
                ":white_check_mark: Approved by {}. Access until {}.",
                by(),
                until(r)
            )));
            blocks.extend(added(ctx).map(context));
            blocks.push(buttons(vec![button("Revoke", actions::REVOKE, &id)]));
            None
        }
        RequestStatus::Failed => Some(format!(
            ":warning: Approved by {}, but access could not be granted: {}",
            by(),
            escape(r.failure_reason.as_deref().unwrap_or("unknown error"))
        )),
        RequestStatus::Denied => Some(format!(
            ":x: Denied by {}{}.",
            decider(ctx),
            deny_reason(ctx)
        )),
        RequestStatus::Cancelled => Some(":no_entry_sign: Cancelled by the requester.".into()),
        RequestStatus::TimedOut => Some(format!(
            ":hourglass: Timed out: nobody decided within {}.",
            format_duration(ctx.pending_timeout)
        )),
        RequestStatus::Expired => Some(format!(
            ":checkered_flag: Approved by {}. Access ended {}.",
            by(),
            until(r)
        )),
        RequestStatus::Revoking => Some(revoke_trouble(ctx).unwrap_or_else(|| {
            format!(
                ":hourglass_flowing_sand: Approved by {}. {} revoked it; removing access…",
                by(),
                closer(ctx)
            )
        })),
        RequestStatus::Revoked => Some(format!(
            ":octagonal_sign: Approved by {}. Revoked early by {}.",
            by(),
            closer(ctx)
        )),
        RequestStatus::Extended => Some(super::extension::outcome(ctx)),
    };
    if let Some(text) = outcome {
        blocks.push(context(text));
    }
    let kind = match ctx.grant {
        Some(_) => "Request to extend access",
        None => "Access request",
    };
    content(
        format!("{kind} from {}: {}", mention(&r.requester), r.status),
        blocks,
    )
}
