//! What Slack accepts as the answer to a `view_submission`: nothing (the
//! modal closes), `clear`, `update` or `push` with a valid view, or
//! `errors` keyed by block IDs of the submitted view's *input* blocks.
//! Slack refuses anything else, and the person sees a generic failure.

use serde_json::Value;

use super::block_kit::check_view;

/// `Ok` when Slack would act on `answer` to a submission of `view`.
pub fn check_submission_answer(view: &Value, answer: &Value) -> Result<(), Vec<String>> {
    if answer.is_null() || answer.as_object().is_some_and(|o| o.is_empty()) {
        return Ok(());
    }
    match answer["response_action"].as_str() {
        Some("clear") => Ok(()),
        Some("update" | "push") => check_view(&answer["view"]),
        Some("errors") => check_errors(view, &answer["errors"]),
        other => Err(vec![format!("unknown response_action {other:?}")]),
    }
}

fn check_errors(view: &Value, errors: &Value) -> Result<(), Vec<String>> {
    let inputs: Vec<&str> = view["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["type"] == "input")
        .filter_map(|b| b["block_id"].as_str())
        .collect();
    let Some(errors) = errors.as_object().filter(|e| !e.is_empty()) else {
        return Err(vec!["errors must name at least one block".into()]);
    };
    let problems: Vec<String> = errors
        .iter()
        .filter_map(|(block, text)| {
            if !inputs.contains(&block.as_str()) {
                Some(format!(
                    "errors names {block:?}, which is not an input block of the view (inputs: {inputs:?})"
                ))
            } else if text.as_str().is_none_or(str::is_empty) {
                Some(format!("the error for {block:?} is not a non-empty string"))
            } else {
                None
            }
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}
