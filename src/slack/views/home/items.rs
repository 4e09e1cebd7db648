//! One request's blocks in each section of the home tab. Buttons carry the
//! same action IDs and values as the DM buttons, so a click here is
//! handled, and checked, exactly like one there.

use chrono::{DateTime, Utc};
use slack_morphism::prelude::*;

use super::Item;
use crate::domain::profile::format_duration;
use crate::domain::{AccessRequest, RequestStatus};
use crate::slack::blocks::{button, context, escape, fit, mrkdwn, section, slack_date};
use crate::slack::messages::{actions, buttons, mention, until};

/// "*Production* on *alice-laptop*"; for a request to extend a grant,
/// "*Production* on *alice-laptop* (+2h)".
fn what(i: &Item) -> String {
    let extra = match i.req.is_extension() {
        true => format!(" (+{})", format_duration(i.req.duration)),
        false => String::new(),
    };
    format!(
        "*{}* on *{}*{extra}",
        escape(&i.profile_name),
        escape(&i.req.device.name)
    )
}

/// Who approved or denied it ("accessbot" for an approval nobody clicked).
fn decider(r: &AccessRequest) -> String {
    r.decided_by
        .as_ref()
        .map(mention)
        .unwrap_or_else(|| "accessbot".into())
}

/// "42m left" (to the nearest minute), counted from when the home was
/// rendered.
fn time_left(r: &AccessRequest, now: DateTime<Utc>) -> String {
    let Some(expires) = r.expires_at else {
        return "no expiry known".into();
    };
    let minutes = ((expires - now).num_seconds() + 30) / 60;
    if minutes < 1 {
        "ending now".into()
    } else {
        let whole = std::time::Duration::from_secs(minutes.unsigned_abs() * 60);
        format!("{} left", format_duration(whole))
    }
}

/// A section with one button beside its text.
fn with_button(text: String, b: SlackBlockButtonElement) -> SlackBlock {
    SlackSectionBlock::new()
        .with_text(mrkdwn(text))
        .with_accessory(SlackSectionBlockElement::Button(b))
        .into()
}

fn id(r: &AccessRequest) -> String {
    r.id.to_string()
}

/// A request waiting for the reader's decision: the details and Approve / Deny.
pub(super) fn waiting(i: &Item) -> Vec<SlackBlock> {
    let r = &i.req;
    let asks = match r.is_extension() {
        true => format!("asks to extend {}", what(i)),
        false => format!("requests {} for *{}*", what(i), format_duration(r.duration)),
    };
    let text = format!(
        "{} {asks}\n*Reason:* {}\nRequested {}",
        mention(&r.requester),
        escape(&fit(r.reason.as_str(), 300)),
        slack_date(r.created_at)
    );
    vec![
        section(text),
        buttons(vec![
            button("Approve", actions::APPROVE, &id(r)).with_style(SlackBlockButtonStyle::Primary),
            button("Deny", actions::DENY, &id(r)).with_style(SlackBlockButtonStyle::Danger),
        ]),
    ]
}

/// One of the reader's own grants. An active one has its buttons in an
/// actions block of its own (room for more than Revoke).
pub(super) fn active(i: &Item, now: DateTime<Utc>) -> Vec<SlackBlock> {
    let r = &i.req;
    match r.status {
        RequestStatus::Active => vec![
            section(format!(
                ":white_check_mark: {}\nUntil {} · {} · approved by {}",
                what(i),
                until(r),
                time_left(r, now),
                decider(r)
            )),
            buttons(vec![
                button("Extend", actions::EXTEND, &id(r)),
                button("Revoke", actions::REVOKE, &id(r)),
            ]),
        ],
        RequestStatus::Revoking => vec![section(format!(
            ":hourglass_flowing_sand: {}\nRemoving access…",
            what(i)
        ))],
        other => vec![section(format!("{}: {}", what(i), other.describe()))],
    }
}

/// One of the reader's requests not in effect yet; Cancel while it can be.
pub(super) fn pending(i: &Item) -> Vec<SlackBlock> {
    let r = &i.req;
    let cancel = || button("Cancel request", actions::CANCEL, &id(r));
    let block = match (r.status, &r.failure_reason) {
        (RequestStatus::Pending, _) => with_button(
            format!(
                ":hourglass_flowing_sand: {}\nWaiting for {} · requested {}",
                match r.is_extension() {
                    true => format!("Extend {}", what(i)),
                    false => format!("{} for {}", what(i), format_duration(r.duration)),
                },
                r.approver
                    .as_ref()
                    .map(mention)
                    .unwrap_or_else(|| "approval".into()),
                slack_date(r.created_at)
            ),
            cancel(),
        ),
        (RequestStatus::Approved, None) if r.is_extension() => section(format!(
            ":hourglass_flowing_sand: {}\nApproved by {}; extending access…",
            what(i),
            decider(r)
        )),
        (RequestStatus::Approved, None) => with_button(
            format!(
                ":hourglass_flowing_sand: {}\nApproved by {}; granting access…",
                what(i),
                decider(r)
            ),
            cancel(),
        ),
        (RequestStatus::Approved, Some(why)) => section(format!(
            ":warning: {}\nCould not be granted: {}. Cleaning up…",
            what(i),
            escape(&fit(why, 300))
        )),
        (other, _) => section(format!("{}: {}", what(i), other.describe())),
    };
    vec![block]
}

/// A live grant the reader approved for someone else: Revoke.
pub(super) fn approved(i: &Item, now: DateTime<Utc>) -> Vec<SlackBlock> {
    let r = &i.req;
    let block = match r.status {
        RequestStatus::Active => with_button(
            format!(
                "{} has {}\nUntil {} · {}",
                mention(&r.requester),
                what(i),
                until(r),
                time_left(r, now)
            ),
            button("Revoke", actions::REVOKE, &id(r)),
        ),
        _ => section(format!(
            ":hourglass_flowing_sand: {} had {}\nRemoving access…",
            mention(&r.requester),
            what(i)
        )),
    };
    vec![block]
}

/// An ended request: how it ended, who decided, when.
pub(super) fn history(i: &Item) -> Vec<SlackBlock> {
    let r = &i.req;
    let (emoji, outcome) = match r.status {
        RequestStatus::Expired => (
            ":checkered_flag:",
            format!("ended (approved by {})", decider(r)),
        ),
        RequestStatus::Revoked => (
            ":octagonal_sign:",
            format!("revoked (approved by {})", decider(r)),
        ),
        RequestStatus::Denied => (":x:", format!("denied by {}", decider(r))),
        RequestStatus::Cancelled => (":no_entry_sign:", "cancelled".into()),
        RequestStatus::Extended => (
            ":heavy_plus_sign:",
            format!("extended (approved by {})", decider(r)),
        ),
        RequestStatus::TimedOut => (":hourglass:", "timed out".into()),
        RequestStatus::Failed => (
            ":warning:",
            format!(
                "failed: {}",
                escape(&fit(
                    r.failure_reason.as_deref().unwrap_or("unknown error"),
                    200
                ))
            ),
        ),
        other => ("", other.describe()),
    };
    vec![context(format!(
        "{emoji} {} · {outcome} · {}",
        what(i),
        slack_date(r.updated_at)
    ))]
}
