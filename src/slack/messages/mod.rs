//! The messages people get, rendered from a request's current state: every
//! update re-renders, so a message always tells the truth about its request.
//! One module per reader: [`approver`] (a DM asking to decide, or the post in
//! an approval channel), [`requester`], [`channel`] (the notify channel).

mod approver;
mod channel;
mod extension;
mod requester;

use std::time::Duration;

use slack_morphism::prelude::*;

use super::blocks::{escape, fit, mrkdwn, slack_date};
use crate::domain::profile::format_duration;
use crate::domain::{AccessRequest, RequestStatus, SlackUserId};

pub use approver::{approver_message, controls};
pub use channel::channel_message;
pub use requester::requester_message;

/// Action IDs of message elements; each button's value is the request ID.
pub mod actions {
    pub const APPROVE: &str = "approve";
    pub const DENY: &str = "deny";
    pub const CANCEL: &str = "cancel";
    pub const REVOKE: &str = "revoke";
    pub const REQUEST_AGAIN: &str = "request_again";
    /// Opens the Extend form for an active grant (the requester's).
    pub const EXTEND: &str = "extend";
    /// Break glass: an approver has reviewed the grant.
    pub const ACKNOWLEDGE: &str = "acknowledge";
    /// The duration select next to Approve: choosing only sets what
    /// Approve sends (its value arrives in the click's `state.values`).
    pub const APPROVE_DURATION: &str = "approve_duration";
    /// The deny reason input: read when Deny is clicked.
    pub const DENY_REASON: &str = "deny_reason";
}

/// Block IDs of a decision's inputs, whose values come with the click.
pub mod blocks {
    /// The actions block with Approve, Deny and the duration select.
    pub const DECISION: &str = "decision";
    /// The input block holding the deny reason.
    pub const DENY_REASON: &str = "deny_reason";
}

/// How a request came to be approved (from its `approved` audit event).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Via {
    /// Approver clicks (or not approved yet).
    #[default]
    Approvers,
    SelfApproved,
    AutoApproved,
    /// The requester broke the glass: granted without approval.
    BreakGlass,
}

/// Where the review of a break-glass grant stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub acknowledged_by: Option<SlackUserId>,
    /// Nobody acknowledged within `review_within`; the approvers were reminded.
    pub overdue: bool,
    pub within: Duration,
}

/// The approval policy's side of a message: progress towards N approvals,
/// the options offered to approvers, and how it was decided.
#[derive(Debug, Clone, Default)]
pub struct ApprovalView<'a> {
    /// Who approved so far, oldest first.
    pub approved_by: &'a [SlackUserId],
    /// Approvals needed (1 unless `approvals_required` says more).
    pub required: u32,
    pub via: Via,
    /// What the approver who denied said.
    pub deny_reason: Option<&'a str>,
    /// The duration asked for, when an approver granted a shorter one.
    pub asked: Option<Duration>,
    /// Durations an approver may choose (none: no choice is offered).
    pub durations: &'a [Duration],
    /// The approval channel the request was posted in.
    pub channel: Option<&'a str>,
    /// Break glass: its review.
    pub review: Option<Review>,
}

/// Who ended a request early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closer {
    /// Clicked Revoke or Cancel.
    Person(SlackUserId),
    /// Removed the attribute outside accessbot (admin console, API).
    Tailnet,
}

/// For a request to extend a grant: that grant as it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantNow {
    pub status: RequestStatus,
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

/// Time added to a grant, from its `extended` audit events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    pub extra: Duration,
    pub how: AddedHow,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddedHow {
    /// Within `extend_without_approval`.
    WithoutApproval,
    /// Approved (by this person; `None`: automatically).
    Approved(Option<SlackUserId>),
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
    pub approval: ApprovalView<'a>,
    /// A request to extend a grant: the grant now.
    pub grant: Option<GrantNow>,
    /// A grant's extensions so far, oldest first.
    pub added: &'a [Added],
}

pub(super) fn mention(u: &SlackUserId) -> String {
    format!("<@{u}>")
}

/// "<@U…>", or how the tailnet ended it.
pub(super) fn closer(ctx: &MessageContext<'_>) -> String {
    match ctx.closed_by {
        Some(Closer::Person(u)) => mention(u),
        Some(Closer::Tailnet) => "an admin outside accessbot".into(),
        None => "someone".into(),
    }
}

/// ":warning: Could not remove access: …. It stays until …" while a revoke
/// is not confirmed.
pub(super) fn revoke_trouble(ctx: &MessageContext<'_>) -> Option<String> {
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

pub(super) fn details(ctx: &MessageContext<'_>) -> SlackBlock {
    let r = ctx.req;
    let mut device = device_summary(r);
    if let Some(link) = admin_link(r) {
        device.push_str(&format!(" · {link}"));
    }
    let duration = match ctx.approval.asked {
        Some(asked) => format!(
            "{} (asked {})",
            format_duration(r.duration),
            format_duration(asked)
        ),
        None => format_duration(r.duration),
    };
    let fields = vec![
        mrkdwn(format!("*Requester*\n{}", mention(&r.requester))),
        mrkdwn(format!(
            "*Access*\n{} (`{}`)",
            escape(ctx.profile_name),
            r.attribute
        )),
        mrkdwn(format!("*Device*\n{device}")),
        mrkdwn(format!("*Duration*\n{duration}")),
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

/// Who approved (or denied): the approvers who approved, "<@alice> (break
/// glass)", "auto-approval", or whoever decided.
pub(super) fn decider(ctx: &MessageContext<'_>) -> String {
    let r = ctx.req;
    match ctx.approval.via {
        Via::AutoApproved => return "auto-approval".into(),
        Via::BreakGlass => return format!("{} (break glass)", mention(&r.requester)),
        Via::Approvers | Via::SelfApproved => {}
    }
    let approvers = ctx.approval.approved_by;
    if approvers.len() > 1 && r.status != crate::domain::RequestStatus::Denied {
        return people(approvers);
    }
    r.decided_by
        .as_ref()
        .map(mention)
        .unwrap_or_else(|| "accessbot".into())
}

/// "<@a>", "<@a> and <@b>", "<@a>, <@b> and <@c>".
pub(super) fn people(users: &[SlackUserId]) -> String {
    let names: Vec<String> = users.iter().map(mention).collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// " for 1h (you asked for 8h)": said when an approver shortened it.
pub(super) fn shortened(ctx: &MessageContext<'_>) -> String {
    ctx.approval
        .asked
        .map(|asked| {
            format!(
                " for {} ({} asked for {})",
                format_duration(ctx.req.duration),
                mention(&ctx.req.requester),
                format_duration(asked)
            )
        })
        .unwrap_or_default()
}

/// ": <reason>" of a denial, escaped.
pub(super) fn deny_reason(ctx: &MessageContext<'_>) -> String {
    ctx.approval
        .deny_reason
        .map(|why| format!(": {}", escape(&fit(why, 500))))
        .unwrap_or_default()
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

/// "Extended by 1h (no approval needed) and by 2h (approved by <@bob>)."
/// for a grant that was extended.
pub(super) fn added(ctx: &MessageContext<'_>) -> Option<String> {
    let parts: Vec<String> = ctx
        .added
        .iter()
        .map(|a| {
            let how = match &a.how {
                AddedHow::WithoutApproval => "no approval needed".to_owned(),
                AddedHow::Approved(Some(u)) => format!("approved by {}", mention(u)),
                AddedHow::Approved(None) => "approved automatically".to_owned(),
            };
            format!("by {} ({how})", format_duration(a.extra))
        })
        .collect();
    let (last, rest) = parts.split_last()?;
    let list = match rest {
        [] => last.clone(),
        _ => format!("{} and {last}", rest.join(", ")),
    };
    Some(format!(":heavy_plus_sign: Extended {list}."))
}
