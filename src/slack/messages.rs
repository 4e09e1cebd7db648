//! The messages people get, rendered from a request's current state: every
//! update re-renders, so a message always tells the truth about its request.

use slack_morphism::prelude::*;

use super::blocks::{button, context, escape, fit, mrkdwn, section, slack_date};
use crate::domain::profile::format_duration;
use crate::domain::{AccessRequest, RequestStatus, SlackUserId};

/// Action IDs of message buttons; each button's value is the request ID.
pub mod actions {
    pub const APPROVE: &str = "approve";
    pub const DENY: &str = "deny";
    pub const CANCEL: &str = "cancel";
    pub const REVOKE: &str = "revoke";
    pub const REQUEST_AGAIN: &str = "request_again";
}

/// Who ended a request early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closer {
    /// Clicked Revoke or Cancel.
    Person(SlackUserId),
    /// Removed the attribute outside accessbot (admin console, API).
    Tailnet,
}

/// What a message needs besides the request.
pub struct MessageContext<'a> {
    pub req: &'a AccessRequest,
    /// The profile's display name (or the attribute when it was removed).
    pub profile_name: &'a str,
    /// Who ended an active grant early or cancelled, from the audit trail.
    pub closed_by: Option<&'a Closer>,
    pub pending_timeout: std::time::Duration,
    /// Why Tailscale has not removed access yet, when a revoke failed.
    pub revoke_failure: Option<&'a str>,
}

pub(super) fn mention(u: &SlackUserId) -> String {
    format!("<@{u}>")
}

/// "<@U…>", or how the tailnet ended it.
fn closer(ctx: &MessageContext<'_>) -> String {
    match ctx.closed_by {
        Some(Closer::Person(u)) => mention(u),
        Some(Closer::Tailnet) => "an admin outside accessbot".into(),
        None => "someone".into(),
    }
}

/// ":warning: Could not remove access: …. It stays until …" while a revoke
/// is not confirmed.
fn revoke_trouble(ctx: &MessageContext<'_>) -> Option<String> {
    ctx.revoke_failure.map(|why| {
        format!(
            ":warning: Could not remove access yet: {}. It stays until {} at the latest; accessbot keeps trying.",
            escape(why),
            until(ctx.req)
        )
    })
}

/// "*alice-laptop* (alice@example.com · macOS · 100.64.0.1)"
pub fn device_summary(req: &AccessRequest) -> String {
    let d = &req.device;
    let owner = if d.tags.is_empty() {
        d.owner.clone()
    } else {
        d.tags.join(", ")
    };
    let mut parts: Vec<String> = Vec::new();
    if !owner.is_empty() {
        parts.push(escape(&owner));
    }
    if !d.os.is_empty() {
        parts.push(escape(&d.os));
    }
    if let Some(ip) = d.addresses.first() {
        parts.push(escape(ip));
    }
    let name = escape(&d.name);
    if parts.is_empty() {
        format!("*{name}*")
    } else {
        format!("*{name}* ({})", parts.join(" · "))
    }
}

/// The machine's page in the Tailscale admin console (by its IPv4 address).
fn admin_link(req: &AccessRequest) -> Option<String> {
    req.device
        .addresses
        .iter()
        .find(|a| a.contains('.'))
        .map(|ip| format!("<https://login.tailscale.com/admin/machines/{ip}|admin console>"))
}

fn details(ctx: &MessageContext<'_>) -> SlackBlock {
    let r = ctx.req;
    let mut device = device_summary(r);
    if let Some(link) = admin_link(r) {
        device.push_str(&format!(" · {link}"));
    }
    let fields = vec![
        mrkdwn(format!("*Requester*\n{}", mention(&r.requester))),
        mrkdwn(format!(
            "*Access*\n{} (`{}`)",
            escape(ctx.profile_name),
            r.attribute
        )),
        mrkdwn(format!("*Device*\n{device}")),
        mrkdwn(format!("*Duration*\n{}", format_duration(r.duration))),
        mrkdwn(format!(
            "*Reason*\n{}",
            escape(&fit(r.reason.as_str(), 1500))
        )),
    ];
    SlackSectionBlock::new().with_fields(fields).into()
}

pub(super) fn buttons(items: Vec<SlackBlockButtonElement>) -> SlackBlock {
    SlackActionsBlock::new(
        items
            .into_iter()
            .map(SlackActionBlockElement::Button)
            .collect(),
    )
    .into()
}

pub(super) fn content(text: String, blocks: Vec<SlackBlock>) -> SlackMessageContent {
    SlackMessageContent::new()
        .with_text(text)
        .with_blocks(blocks)
}

fn decider(r: &AccessRequest) -> String {
    r.decided_by
        .as_ref()
        .map(mention)
        .unwrap_or_else(|| "accessbot".into())
}

pub(super) fn until(r: &AccessRequest) -> String {
    r.expires_at
        .map(slack_date)
        .unwrap_or_else(|| "its expiry".into())
}

pub(super) fn what(ctx: &MessageContext<'_>) -> String {
    format!(
        "*{}* on *{}*",
        escape(ctx.profile_name),
        escape(&ctx.req.device.name)
    )
}

/// The approver's DM: details, and buttons while there is something to decide.
pub fn approver_message(ctx: &MessageContext<'_>) -> SlackMessageContent {
    let r = ctx.req;
    let id = r.id.to_string();
    let mut blocks = vec![
        section(format!(
            "{} requests access to {}",
            mention(&r.requester),
            what(ctx)
        )),
        details(ctx),
    ];
    let outcome = match r.status {
        RequestStatus::Pending => {
            blocks.push(buttons(vec![
                button("Approve", actions::APPROVE, &id).with_style(SlackBlockButtonStyle::Primary),
                button("Deny", actions::DENY, &id).with_style(SlackBlockButtonStyle::Danger),
            ]));
            None
        }
        RequestStatus::Approved => match &r.failure_reason {
            Some(why) => Some(format!(
                ":warning: Approved by {}, but access could not be granted: {}. Making sure nothing was left on the device…",
                decider(r),
                escape(why)
            )),
            None => {
                blocks.push(context(format!(
                    ":hourglass_flowing_sand: Approved by {}; granting access…",
                    decider(r)
                )));
                blocks.push(buttons(vec![button("Cancel approval", actions::CANCEL, &id)]));
                None
            }
        },
        RequestStatus::Active => {
            blocks.push(context(format!(
                ":white_check_mark: Approved by {}. Access until {}.",
                decider(r),
                until(r)
            )));
            blocks.push(buttons(vec![button("Revoke", actions::REVOKE, &id)]));
            None
        }
        RequestStatus::Failed => Some(format!(
            ":warning: Approved by {}, but access could not be granted: {}",
            decider(r),
            escape(r.failure_reason.as_deref().unwrap_or("unknown error"))
        )),
        RequestStatus::Denied => Some(format!(":x: Denied by {}.", decider(r))),
        RequestStatus::Cancelled => Some(":no_entry_sign: Cancelled by the requester.".into()),
        RequestStatus::TimedOut => Some(format!(
            ":hourglass: Timed out: nobody decided within {}.",
            format_duration(ctx.pending_timeout)
        )),
        RequestStatus::Expired => Some(format!(
            ":checkered_flag: Approved by {}. Access ended {}.",
            decider(r),
            until(r)
        )),
        RequestStatus::Revoking => Some(
            revoke_trouble(ctx).unwrap_or_else(|| {
                format!(
                    ":hourglass_flowing_sand: Approved by {}. {} revoked it; removing access…",
                    decider(r),
                    closer(ctx)
                )
            }),
        ),
        RequestStatus::Revoked => Some(format!(
            ":octagonal_sign: Approved by {}. Revoked early by {}.",
            decider(r),
            closer(ctx)
        )),
    };
    if let Some(text) = outcome {
        blocks.push(context(text));
    }
    content(
        format!(
            "Access request from {}: {}",
            mention(&r.requester),
            r.status
        ),
        blocks,
    )
}

/// The requester's DM for the request's current state.
pub fn requester_message(ctx: &MessageContext<'_>) -> SlackMessageContent {
    let r = ctx.req;
    let id = r.id.to_string();
    let again = || button("Request again", actions::REQUEST_AGAIN, &id);
    let (text, extra): (String, Vec<SlackBlockButtonElement>) = match r.status {
        RequestStatus::Pending => (
            format!(
                ":hourglass_flowing_sand: Your request for {} is waiting for {}.",
                what(ctx),
                r.approver
                    .as_ref()
                    .map(mention)
                    .unwrap_or_else(|| "approval".into())
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
                format!(
                    ":hourglass_flowing_sand: {} approved your request for {}; granting access…",
                    decider(r),
                    what(ctx)
                ),
                vec![button("Cancel request", actions::CANCEL, &id)],
            ),
        },
        RequestStatus::Active => (
            format!(
                ":white_check_mark: You have {} until {} (approved by {}).",
                what(ctx),
                until(r),
                decider(r)
            ),
            vec![button("Revoke", actions::REVOKE, &id), again()],
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
            format!(":x: {} denied your request for {}.", decider(r), what(ctx)),
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
    };
    let mut blocks = vec![section(text.clone())];
    blocks.push(context(format!(
        "Reason: {}",
        escape(&fit(r.reason.as_str(), 500))
    )));
    if !extra.is_empty() {
        blocks.push(buttons(extra));
    }
    content(text, blocks)
}

/// The post in the profile's notify channel.
pub fn channel_message(ctx: &MessageContext<'_>) -> SlackMessageContent {
    let r = ctx.req;
    let text = match r.status {
        RequestStatus::Active => format!(
            ":unlock: {} has {} until {} (approved by {}).",
            mention(&r.requester),
            what(ctx),
            until(r),
            decider(r)
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
    let blocks = vec![
        section(text.clone()),
        context(format!("Reason: {}", escape(&fit(r.reason.as_str(), 500)))),
    ];
    content(text, blocks)
}
