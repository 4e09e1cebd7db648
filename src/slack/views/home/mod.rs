//! The App Home tab: where people manage access. Everyone sees a button to
//! request access, their active access (Revoke), their pending requests
//! (Cancel) and their recent history; approvers also see the requests
//! waiting for their decision (Approve / Deny, the same buttons as the DM)
//! and the grants they approved that are still live (Revoke).
//!
//! Each section shows at most [`PER_SECTION`] requests and says how many
//! more there are, so the view stays within Slack's 100 blocks.

mod items;

use chrono::{DateTime, Utc};
use slack_morphism::prelude::*;

use crate::domain::AccessRequest;
use crate::slack::blocks::{button, context, plain, section};

/// Action ID of the home tab's button.
pub const OPEN_FORM: &str = "open_request_form";

/// Requests shown per section; the rest are counted ("and 3 more").
pub const PER_SECTION: u32 = 10;

/// A request to show, with its profile's display name.
#[derive(Clone, Debug)]
pub struct Item {
    pub req: AccessRequest,
    pub profile_name: String,
}

/// The first requests of a section, and how many it has in all.
#[derive(Clone, Debug, Default)]
pub struct Section {
    pub items: Vec<Item>,
    pub total: u64,
}

impl Section {
    /// How many requests the section has beyond those shown.
    fn more(&self) -> u64 {
        self.total.saturating_sub(self.items.len() as u64)
    }
}

/// What one person's home shows.
#[derive(Clone, Debug, Default)]
pub struct HomeContent {
    /// When it was rendered: time left is counted from here.
    pub now: DateTime<Utc>,
    /// Their own grants, active or being removed.
    pub active: Section,
    /// Their own requests not decided yet, or approved and not yet applied.
    pub pending: Section,
    /// Their own requests that ended, newest first.
    pub history: Section,
    /// Requests waiting for their decision.
    pub waiting: Section,
    /// Live grants they approved for other people.
    pub approved: Section,
}

/// The home tab for one person.
pub fn home_view(home: &HomeContent) -> SlackView {
    let mut blocks = vec![
        section("*accessbot* grants just-in-time access to Tailscale resources. Ask for what you need; an approver decides; access ends by itself."),
        SlackActionsBlock::new(vec![SlackActionBlockElement::Button(
            button("Request access", OPEN_FORM, "open").with_style(SlackBlockButtonStyle::Primary),
        )])
        .into(),
    ];
    // Approvers see what needs them first; sections of theirs that are
    // empty are left out (most people approve nothing).
    if home.waiting.total > 0 {
        push_section(
            &mut blocks,
            "Waiting for your decision",
            &home.waiting,
            "",
            items::waiting,
        );
    }
    push_section(
        &mut blocks,
        "Your active access",
        &home.active,
        "No active access.",
        |i| items::active(i, home.now),
    );
    push_section(
        &mut blocks,
        "Your pending requests",
        &home.pending,
        "Nothing pending.",
        items::pending,
    );
    if home.approved.total > 0 {
        push_section(
            &mut blocks,
            "Access you approved",
            &home.approved,
            "",
            |i| items::approved(i, home.now),
        );
    }
    push_section(
        &mut blocks,
        "Recent history",
        &home.history,
        "No requests yet.",
        items::history,
    );
    SlackView::Home(SlackHomeView::new(blocks))
}

/// A divider, the title, each shown request's blocks, and either what an
/// empty section says or how many requests are not shown.
fn push_section(
    blocks: &mut Vec<SlackBlock>,
    title: &str,
    s: &Section,
    empty: &str,
    render: impl Fn(&Item) -> Vec<SlackBlock>,
) {
    blocks.push(SlackDividerBlock::new().into());
    blocks.push(SlackHeaderBlock::new(plain(title)).into());
    if s.items.is_empty() && s.total == 0 {
        blocks.push(context(empty));
        return;
    }
    for item in &s.items {
        blocks.extend(render(item));
    }
    match s.more() {
        0 => {}
        n => blocks.push(context(format!("…and {n} more."))),
    }
}

#[cfg(test)]
mod tests;
