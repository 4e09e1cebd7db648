//! The Extend modal: how much longer an active grant should last, and why.

use std::time::Duration;

use slack_morphism::prelude::*;

use crate::domain::extension::ExtendField;
use crate::domain::profile::format_duration;
use crate::domain::reason::MAX_REASON_LEN;
use crate::domain::AccessRequest;
use crate::slack::blocks::{context, escape, option, plain, section, slack_date};

pub const CALLBACK_ID: &str = "accessbot_extend";

/// Block IDs of the modal; each input's action ID is the same string.
pub mod ids {
    use crate::domain::extension::ExtendField;

    pub const EXTRA: &str = "extend_by";
    pub const REASON: &str = "reason";

    /// The block (and action) ID that asks `field`.
    pub fn of(field: ExtendField) -> &'static str {
        match field {
            ExtendField::Extra => EXTRA,
            ExtendField::Reason => REASON,
        }
    }

    /// How the form asks for `field`.
    pub fn question(field: ExtendField) -> &'static str {
        match field {
            ExtendField::Extra => "How much longer?",
            ExtendField::Reason => "Why?",
        }
    }
}

/// What the modal shows.
pub struct ExtendForm<'a> {
    pub grant: &'a AccessRequest,
    pub profile_name: &'a str,
    /// The durations that can be asked for, shortest first (not empty).
    pub durations: &'a [Duration],
    /// How much more needs no new approval (and until when at most).
    pub free: Option<(Duration, chrono::DateTime<chrono::Utc>)>,
}

fn input(field: ExtendField, element: impl Into<SlackInputBlockElement>) -> SlackInputBlock {
    SlackInputBlock::new(plain(ids::question(field)), element.into())
        .with_block_id(SlackBlockId(ids::of(field).to_owned()))
}

/// The Extend modal for `form.grant`; its `private_metadata` is the grant's
/// ID (untrusted on the way back: everything is checked again).
pub fn extend_form(form: &ExtendForm<'_>) -> SlackView {
    let r = form.grant;
    let until = r.expires_at.map(slack_date).unwrap_or_default();
    let mut blocks = vec![section(format!(
        "Extend *{}* on *{}*, now until {until}.",
        escape(form.profile_name),
        escape(&r.device.name)
    ))];
    blocks.push(context(match form.free {
        Some((left, by)) => format!(
            "Up to {} more needs no new approval, as long as access ends by {}; longer extensions go to the approvers.",
            format_duration(left),
            slack_date(by)
        ),
        None => "An extension needs a new approval.".to_owned(),
    }));
    let choices: Vec<_> = form
        .durations
        .iter()
        .map(|d| option(&format_duration(*d), d.as_secs().to_string()))
        .collect();
    let extra = SlackBlockStaticSelectElement::new()
        .with_action_id(SlackActionId(ids::EXTRA.to_owned()))
        .with_placeholder(plain("Choose how much longer"))
        .with_options(choices);
    blocks.push(input(ExtendField::Extra, extra).into());
    let reason = SlackBlockPlainTextInputElement::new()
        .with_action_id(SlackActionId(ids::REASON.to_owned()))
        .with_multiline(true)
        .with_max_length(MAX_REASON_LEN as u64)
        .with_placeholder(plain("e.g. the migration is taking longer"));
    blocks.push(input(ExtendField::Reason, reason).into());
    SlackView::Modal(
        SlackModalView::new(plain("Extend access"), blocks)
            .with_submit(plain("Extend"))
            .with_close(plain("Cancel"))
            .with_callback_id(SlackCallbackId(CALLBACK_ID.to_owned()))
            .with_private_metadata(r.id.to_string()),
    )
}

/// What the modal turns into once the extension is made or asked for.
pub fn done_view(title: &str, text: &str) -> SlackView {
    SlackView::Modal(
        SlackModalView::new(plain(title), vec![section(text)]).with_close(plain("Done")),
    )
}
