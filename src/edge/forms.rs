//! The request form as Slack sends it back: its submission and its device
//! menu's options requests, turned into use-case input and answered.

use std::collections::BTreeMap;

use serde_json::json;

use super::ack::Ack;
use super::payload::{Interaction, ViewPayload};
use crate::domain::{Field, FieldErrors, SlackUserId, Submission};
use crate::flow::{form, submit};
use crate::slack::views::form::{ids, problem_view, submitted_text, submitted_view, FormMeta};
use crate::state::AppState;

/// The form's answers as the person left them.
fn submission(view: &ViewPayload) -> Submission {
    Submission::new(Field::ALL.into_iter().filter_map(|field| {
        let id = ids::of(field);
        view.input(id, id).map(|answer| (field, answer))
    }))
}

/// How a form names its questions: the block asking each, and its label.
pub(super) struct Questions<F> {
    pub block: fn(F) -> &'static str,
    pub label: fn(F) -> &'static str,
}

const REQUEST_FORM: Questions<Field> = Questions {
    block: ids::of,
    label: ids::question,
};

fn errors(view: &ViewPayload, problems: &FieldErrors) -> Ack {
    errors_in(view, problems, &REQUEST_FORM)
}

/// The problems, next to the questions they are about. Slack refuses
/// errors keyed to anything but an input block of the submitted view, so a
/// problem with a question the view did not ask (the approvers were still
/// being looked up) goes on the reason, or another question it did ask,
/// saying which question it is about.
pub(super) fn errors_in<F: Copy + Ord>(
    view: &ViewPayload,
    errors: &BTreeMap<F, String>,
    questions: &Questions<F>,
) -> Ack {
    let asked: Vec<&str> = view.input_blocks().collect();
    let elsewhere = asked
        .iter()
        .find(|b| **b == ids::REASON)
        .or(asked.first())
        .copied();
    // Each question's own problem first, then those moved onto it.
    let (own, moved): (Vec<_>, Vec<_>) = errors
        .iter()
        .partition(|(field, _)| asked.contains(&(questions.block)(**field)));
    let mut by_block: BTreeMap<String, String> = BTreeMap::new();
    let mut put = |block: &str, text: String| {
        by_block
            .entry(block.to_owned())
            .and_modify(|t| {
                t.push(' ');
                t.push_str(&text);
            })
            .or_insert(text);
    };
    for (field, text) in own {
        put((questions.block)(*field), text.clone());
    }
    for (field, text) in moved {
        let Some(other) = elsewhere else {
            // No question at all to put it on: show the problems instead.
            let all: Vec<&str> = errors.values().map(String::as_str).collect();
            let view = problem_view(&all.join("\n"));
            return Ack::Json(json!({ "response_action": "update", "view": view }));
        };
        put(other, format!("{} {text}", (questions.label)(*field)));
    }
    Ack::Json(json!({ "response_action": "errors", "errors": by_block }))
}

/// `view_submission`: errors next to the fields, or the request is stored.
pub async fn submit(state: &AppState, user: &SlackUserId, view: &ViewPayload) -> Ack {
    let accepted = match submit::validate(state, user, &submission(view)).await {
        Ok(a) => a,
        Err(e) => return errors(view, &e),
    };
    if let Err(e) = submit::create(state, &accepted, &view.id).await {
        tracing::error!(error = %e, "could not store the request");
        return errors(
            view,
            &FieldErrors::from([(
                Field::Reason,
                "Your request could not be saved. Please try again in a moment.".to_owned(),
            )]),
        );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge::ack::Ack;

    fn view(blocks: serde_json::Value) -> ViewPayload {
        serde_json::from_value(json!({ "id": "V1", "blocks": blocks })).unwrap()
    }

    fn body(ack: Ack) -> serde_json::Value {
        match ack {
            Ack::Json(v) => v,
            _ => panic!("a JSON answer"),
        }
    }

    #[test]
    fn errors_go_only_to_questions_the_view_asked() {
        // The approvers were still being looked up: no approver input.
        let loading = view(json!([
            { "type": "input", "block_id": "profile" },
            { "type": "context", "block_id": "approver" },
            { "type": "input", "block_id": "reason" },
        ]));
        let problems = FieldErrors::from([
            (
                Field::Approver,
                "Please choose who should approve.".to_owned(),
            ),
            (Field::Reason, "Please say why.".to_owned()),
        ]);
        let answer = body(errors(&loading, &problems));
        assert_eq!(answer["response_action"], "errors");
        assert_eq!(
            answer["errors"],
            json!({ "reason": "Please say why. Who should approve? Please choose who should approve." })
        );

        // Without a reason input, another question carries it.
        let asked = view(json!([{ "type": "input", "block_id": "approver" }]));
        let answer = body(errors(&asked, &problems));
        assert_eq!(
            answer["errors"],
            json!({ "approver": "Please choose who should approve. Why? Please say why." })
        );
    }

    #[test]
    fn without_any_question_the_problems_replace_the_form() {
        let answer = body(errors(
            &view(json!([])),
            &FieldErrors::from([(Field::Device, "Gone.".to_owned())]),
        ));
        assert_eq!(answer["response_action"], "update");
        assert!(answer["view"].to_string().contains("Gone."));
    }
}
