//! What the request form says where it would ask who approves, when the
//! profile's policy does not ask: every approver is asked (by DM or in an
//! approval channel), the requester breaks the glass, or needs no approver.

use slack_morphism::prelude::*;

use super::form::ids;
use crate::domain::approval::MIN_BREAK_GLASS_REASON;
use crate::domain::Profile;

/// A note where the approver question would be (with its block ID, so
/// it is found in the same place).
pub(super) fn in_place_of_approver(text: String) -> SlackBlock {
    SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(
        SlackBlockMarkDownText::new(text),
    )])
    .with_block_id(SlackBlockId(ids::APPROVER.to_owned()))
    .into()
}

/// What the form says instead of asking who approves.
pub(super) fn policy_note(profile: &Profile) -> String {
    let policy = &profile.approval;
    if policy.break_glass {
        let channel = profile
            .notify_channel
            .as_ref()
            .map(|c| format!(" in <#{c}>"))
            .unwrap_or_default();
        return format!(
            ":rotating_light: *Break glass*: access is granted as soon as you submit, announced{channel} and reviewed by its approvers afterwards. Say what is broken (at least {MIN_BREAK_GLASS_REASON} characters)."
        );
    }
    let to = match &policy.channel {
        Some(c) => format!("Posted to the approvers in <#{c}>"),
        None => "Sent to every approver".to_owned(),
    };
    match policy.required {
        0 | 1 => format!("{to}; the first to decide does."),
        n => format!("{to}; {n} different approvers must approve."),
    }
}
