//! The App Home tab: a button to request access and the person's recent requests.

use slack_morphism::prelude::*;

use crate::domain::AccessRequest;
use crate::slack::blocks::{button, context, escape, section, slack_date};

/// Action ID of the home tab's button.
pub const OPEN_FORM: &str = "open_request_form";

/// The home tab for someone with these recent requests, each with its
/// profile's display name.
pub fn home_view(recent: &[(AccessRequest, String)]) -> SlackView {
    let mut blocks = vec![
        section("*accessbot* grants just-in-time access to Tailscale resources. Ask for what you need; an approver decides; access ends by itself."),
        SlackActionsBlock::new(vec![SlackActionBlockElement::Button(
            button("Request access", OPEN_FORM, "open").with_style(SlackBlockButtonStyle::Primary),
        )])
        .into(),
        SlackDividerBlock::new().into(),
        section("*Your recent requests*"),
    ];
    if recent.is_empty() {
        blocks.push(context("None yet."));
    }
    for (r, profile_name) in recent {
        let until = r
            .expires_at
            .map(|t| format!(" until {}", slack_date(t)))
            .unwrap_or_default();
        blocks.push(context(format!(
            "*{}* on *{}*: {}{}",
            escape(profile_name),
            escape(&r.device.name),
            r.status.as_str().replace('_', " "),
            until
        )));
    }
    SlackView::Home(SlackHomeView::new(blocks))
}
