//! The request form as Slack sends it back: its submission and its device
//! menu's options requests, turned into use-case input and answered.

use serde_json::json;

use super::ack::Ack;
use super::payload::{Interaction, ViewPayload};
use crate::domain::{Field, FieldErrors, SlackUserId, Submission};
use crate::flow::{form, submit};
use crate::slack::views::form::{ids, submitted_text, submitted_view, FormMeta};
use crate::state::AppState;

/// The form's answers as the person left them.
fn submission(view: &ViewPayload) -> Submission {
    Submission::new(Field::ALL.into_iter().filter_map(|field| {
        let id = ids::of(field);
        view.input(id, id).map(|answer| (field, answer))
    }))
}

fn errors(errors: &FieldErrors) -> Ack {
    let by_block: serde_json::Map<String, serde_json::Value> = errors
        .iter()
        .map(|(field, text)| (ids::of(*field).to_owned(), json!(text)))
        .collect();
    Ack::Json(json!({ "response_action": "errors", "errors": by_block }))
}

/// `view_submission`: errors next to the fields, or the request is stored.
pub async fn submit(state: &AppState, user: &SlackUserId, view: &ViewPayload) -> Ack {
    let accepted = match submit::validate(state, user, &submission(view)).await {
        Ok(a) => a,
        Err(e) => return errors(&e),
    };
    if let Err(e) = submit::create(state, &accepted, &view.id).await {
        tracing::error!(error = %e, "could not store the request");
        return errors(&FieldErrors::from([(
            Field::Reason,
            "Your request could not be saved. Please try again in a moment.".to_owned(),
        )]));
    }
    let text = submitted_text(&accepted.plan, user);
    Ack::Json(json!({ "response_action": "update", "view": submitted_view(&text) }))
}

/// `block_suggestion` for the device menu.
pub async fn device_options(state: &AppState, user: &SlackUserId, p: &Interaction) -> Ack {
    if p.action_id.as_deref() != Some(ids::DEVICE) {
        return Ack::Json(json!({ "options": [] }));
    }
    let query: String = p.value.as_deref().unwrap_or("").chars().take(100).collect();
    let profile = p.view.as_ref().and_then(|v| {
        v.input(ids::PROFILE, ids::PROFILE)
            .or_else(|| FormMeta::decode(v.private_metadata.as_deref()).profile)
    });
    let groups = form::device_options(state, user, profile.as_deref(), &query).await;
    Ack::Json(crate::slack::views::devices::options(&groups))
}
