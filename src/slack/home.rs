//! The App Home tab: a button to request access and the person's recent requests.

use slack_morphism::prelude::*;

use super::blocks::{button, context, section};
use crate::domain::SlackUserId;
use crate::flow;
use crate::state::AppState;
use crate::store::RequestFilter;

/// Action ID of the home tab's button.
pub const OPEN_FORM: &str = "open_request_form";

pub async fn publish(state: AppState, user: SlackUserId) {
    let recent = state
        .store
        .list_requests(&RequestFilter {
            requester: Some(user.clone()),
            limit: Some(10),
            ..Default::default()
        })
        .await
        .unwrap_or_default();
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
    for r in &recent {
        let until = r
            .expires_at
            .map(|t| format!(" until {}", super::blocks::slack_date(t)))
            .unwrap_or_default();
        blocks.push(context(format!(
            "*{}* on *{}*: {}{}",
            super::blocks::escape(&flow::profile_name(&state, r)),
            super::blocks::escape(&r.device.name),
            r.status.as_str().replace('_', " "),
            until
        )));
    }
    let view = SlackView::Home(SlackHomeView::new(blocks));
    if let Err(e) = state.slack.publish_home(user.as_str(), view).await {
        tracing::warn!(error = %e, "could not publish App Home");
    }
}
