//! A profile's approval policy (`approval`, `approvals_required`,
//! `approval_channel`, `break_glass`, `review_within`, `auto_approve`):
//! each key on its own, then the combinations that cannot work, each
//! reported on the key to change. Whether groups have enough members, and
//! whether `auto_approve` groups exist, needs Slack: `accessbot check
//! --online` says.

use std::time::Duration;

use super::profiles::{approvers, ProfileKeys};
use super::rules::{secs, DurationRule, Problems};
use crate::domain::profile::DEFAULT_REVIEW_WITHIN;
use crate::domain::{ApprovalMode, ApprovalPolicy, ApproverRef, SlackChannelId};

/// Most approvals a profile may require.
pub const MAX_APPROVALS_REQUIRED: i64 = 20;

const REVIEW_WITHIN: DurationRule = DurationRule {
    default: DEFAULT_REVIEW_WITHIN,
    min: secs(60),
    max: secs(30 * 24 * 3600),
};

/// The approval keys as written.
pub(super) struct RawApproval {
    pub approval: Option<String>,
    pub approvals_required: Option<i64>,
    pub approval_channel: Option<String>,
    pub break_glass: Option<bool>,
    pub review_within: Option<String>,
    pub auto_approve: Option<Vec<String>>,
}

/// The rest of the profile, as far as the policy depends on it.
pub(super) struct Context<'a> {
    pub approvers: &'a [ApproverRef],
    pub notify_channel: Option<&'a SlackChannelId>,
}

/// The policy; problems are reported (the profile is then dropped).
pub(super) fn policy(
    p: &mut Problems,
    keys: ProfileKeys,
    raw: RawApproval,
    ctx: Context<'_>,
) -> ApprovalPolicy {
    let explicit = raw.approval.as_ref().map(|_| {
        p.choice(
            &keys.key("approval"),
            &raw.approval,
            ApprovalMode::Chosen,
            ApprovalMode::parse,
            "must be \"chosen\" (the requester picks one approver) or \"any\" (every approver is asked)",
        )
    });
    let required = match raw.approvals_required {
        None => 1,
        Some(n) if (1..=MAX_APPROVALS_REQUIRED).contains(&n) => n as u32,
        Some(n) => {
            p.push(
                &keys.key("approvals_required"),
                Some(&n.to_string()),
                format!("must be between 1 and {MAX_APPROVALS_REQUIRED}"),
            );
            1
        }
    };
    let channel = p.channel_id(&keys.key("approval_channel"), &raw.approval_channel);
    let break_glass = raw.break_glass.unwrap_or(false);
    let review_within = review_within(p, keys, &raw.review_within, break_glass);
    let auto_approve = approvers(
        p,
        keys,
        "auto_approve",
        raw.auto_approve.as_deref().unwrap_or_default(),
    );
    // Asking several approvers, or a channel, means asking every approver.
    let implied = match channel.is_some() || required > 1 {
        true => ApprovalMode::Any,
        false => ApprovalMode::Chosen,
    };
    let mode = explicit.unwrap_or(implied);
    let policy = ApprovalPolicy {
        mode,
        required,
        channel,
        break_glass,
        review_within,
        auto_approve,
    };
    combinations(p, keys, &policy, &ctx);
    policy
}

fn review_within(
    p: &mut Problems,
    keys: ProfileKeys,
    raw: &Option<String>,
    break_glass: bool,
) -> Duration {
    let key = keys.key("review_within");
    if raw.is_some() && !break_glass {
        p.push(&key, raw.as_deref(), "only applies when break_glass = true");
    }
    p.duration(&key, raw, REVIEW_WITHIN)
}

/// People listed by ID or e-mail (a group's size needs Slack), or `None`
/// when a group is listed.
fn listed_people(approvers: &[ApproverRef]) -> Option<usize> {
    approvers
        .iter()
        .all(|a| !matches!(a, ApproverRef::Group(_)))
        .then_some(approvers.len())
}

/// Settings that each make sense but not together.
fn combinations(p: &mut Problems, keys: ProfileKeys, policy: &ApprovalPolicy, ctx: &Context<'_>) {
    let chosen = policy.mode == ApprovalMode::Chosen;
    if chosen && policy.required > 1 {
        p.push(
            &keys.key("approvals_required"),
            Some(&policy.required.to_string()),
            "needs approval = \"any\": with \"chosen\" only the one approver the requester picks is asked",
        );
    }
    if chosen && policy.channel.is_some() {
        p.push(
            &keys.key("approval_channel"),
            policy.channel.as_ref().map(|c| c.as_str()),
            "asks every approver in the channel, so it needs approval = \"any\" (or leave approval out)",
        );
    }
    if !chosen && ctx.approvers.is_empty() && policy.channel.is_none() {
        p.push(
            &keys.key("approval"),
            Some("any"),
            "with no approvers listed (anyone may approve) there is nobody to send the request to: set approval_channel, or list approvers",
        );
    }
    if let Some(people) = listed_people(ctx.approvers).filter(|n| *n > 0) {
        if policy.required as usize > people {
            p.push(
                &keys.key("approvals_required"),
                Some(&policy.required.to_string()),
                format!(
                    "only {people} {} listed in approvers, so no request could ever be approved",
                    if people == 1 {
                        "person is"
                    } else {
                        "people are"
                    }
                ),
            );
        }
    }
    if policy.break_glass {
        let key = keys.key("break_glass");
        if ctx.notify_channel.is_none() {
            p.push(
                &key,
                Some("true"),
                "needs notify_channel: break-glass grants are announced there for review",
            );
        }
        if ctx.approvers.is_empty() {
            p.push(
                &key,
                Some("true"),
                "needs approvers: they review break-glass grants (Acknowledge / Revoke) and are reminded when nobody did",
            );
        }
        if policy.required > 1 || policy.channel.is_some() {
            p.push(
                &key,
                Some("true"),
                "grants without approval, so approvals_required and approval_channel would never apply: remove them, or break_glass",
            );
        }
    }
}
