//! Slack's documented limits on messages, modals and home tabs: what
//! `chat.*` and `views.*` refuse. A refusal names every problem found, so a
//! test failure says what to fix.

use serde_json::Value;

use super::server::str_param;

/// Slack's limits for message payloads.
pub(super) fn check_message(p: &Value) -> Result<(), String> {
    let text = str_param(p, "text").unwrap_or("");
    let blocks = p.get("blocks").and_then(Value::as_array);
    if text.is_empty() && blocks.is_none_or(|b| b.is_empty()) {
        return Err("no_text".into());
    }
    if text.chars().count() > 40_000 {
        return Err("msg_too_long".into());
    }
    if let Some(blocks) = blocks {
        let mut problems = Vec::new();
        if blocks.len() > 50 {
            problems.push(format!("{} blocks; a message allows 50", blocks.len()));
        }
        check_blocks(blocks, &mut problems);
        if !problems.is_empty() {
            return Err(format!("invalid_blocks: {}", problems.join("; ")));
        }
    }
    Ok(())
}

fn chars(v: &Value, key: &str) -> usize {
    v.get(key)
        .and_then(|t| t.get("text").or(Some(t)))
        .and_then(Value::as_str)
        .map(|s| s.chars().count())
        .unwrap_or(0)
}

/// Slack's limits for modals and home tabs.
pub fn check_view(view: &Value) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let kind = view.get("type").and_then(Value::as_str).unwrap_or("");
    if kind != "modal" && kind != "home" {
        problems.push(format!("view type {kind:?} is not modal or home"));
    }
    if kind == "modal" {
        for key in ["title", "submit", "close"] {
            if chars(view, key) > 24 {
                problems.push(format!("{key} is over 24 characters"));
            }
        }
        if chars(view, "title") == 0 {
            problems.push("a modal needs a title".into());
        }
    }
    let meta = view
        .get("private_metadata")
        .and_then(Value::as_str)
        .unwrap_or("");
    if meta.len() > 3000 {
        problems.push(format!(
            "private_metadata is {} chars (max 3000)",
            meta.len()
        ));
    }
    let blocks = view
        .get("blocks")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // Modals and home tabs alike.
    if blocks.len() > 100 {
        problems.push(format!("{} blocks; a {kind} view allows 100", blocks.len()));
    }
    let has_input = blocks
        .iter()
        .any(|b| b.get("type").and_then(Value::as_str) == Some("input"));
    if has_input && view.get("submit").is_none() {
        problems.push("a modal with input blocks needs a submit button".into());
    }
    check_blocks(&blocks, &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Limits shared by messages and views: block IDs unique, text lengths,
/// option counts and sizes.
pub fn check_blocks(blocks: &[Value], problems: &mut Vec<String>) {
    let mut block_ids = Vec::new();
    for b in blocks {
        if let Some(id) = b.get("block_id").and_then(Value::as_str) {
            if block_ids.contains(&id) {
                problems.push(format!("duplicate block_id {id:?}"));
            }
            block_ids.push(id);
            if id.len() > 255 {
                problems.push("block_id over 255 chars".into());
            }
        }
        match b.get("type").and_then(Value::as_str).unwrap_or("") {
            "section" => {
                if chars(b, "text") > 3000 {
                    problems.push("section text over 3000 chars".into());
                }
                if let Some(fields) = b.get("fields").and_then(Value::as_array) {
                    if fields.len() > 10 {
                        problems.push("section with more than 10 fields".into());
                    }
                    for f in fields {
                        if f.get("text")
                            .and_then(Value::as_str)
                            .map_or(0, |t| t.chars().count())
                            > 2000
                        {
                            problems.push("section field over 2000 chars".into());
                        }
                    }
                }
                if b.get("text").is_none() && b.get("fields").is_none() {
                    problems.push("section needs text or fields".into());
                }
                if let Some(accessory) = b.get("accessory") {
                    check_element(accessory, problems);
                }
            }
            "input" => {
                if chars(b, "label") > 2000 {
                    problems.push("input label over 2000 chars".into());
                }
                if let Some(e) = b.get("element") {
                    check_element(e, problems);
                }
            }
            "actions" => {
                let elements = b
                    .get("elements")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if elements.len() > 25 {
                    problems.push("actions block with more than 25 elements".into());
                }
                elements.iter().for_each(|e| check_element(e, problems));
            }
            "context" => {
                let n = b
                    .get("elements")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                if n == 0 || n > 10 {
                    problems.push("context block needs 1–10 elements".into());
                }
            }
            "divider" | "header" => {}
            other => problems.push(format!("unexpected block type {other:?}")),
        }
    }
}

fn check_options(options: &[Value], max: usize, problems: &mut Vec<String>) {
    if options.len() > max {
        problems.push(format!("{} options; at most {max}", options.len()));
    }
    for o in options {
        if chars(o, "text") > 75 {
            problems.push(format!("option text over 75 chars: {o}"));
        }
        if o.get("value").and_then(Value::as_str).map_or(0, str::len) > 150 {
            problems.push("option value over 150 chars".into());
        }
    }
}

fn check_element(e: &Value, problems: &mut Vec<String>) {
    let kind = e.get("type").and_then(Value::as_str).unwrap_or("");
    if e.get("action_id")
        .and_then(Value::as_str)
        .map_or(0, str::len)
        > 255
    {
        problems.push("action_id over 255 chars".into());
    }
    let options = e
        .get("options")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    match kind {
        "button" => {
            if chars(e, "text") > 75 {
                problems.push("button text over 75 chars".into());
            }
            if e.get("value").and_then(Value::as_str).map_or(0, str::len) > 2000 {
                problems.push("button value over 2000 chars".into());
            }
        }
        "static_select" => {
            if options.is_empty() && e.get("option_groups").is_none() {
                problems.push("static_select needs options".into());
            }
            check_options(&options, 100, problems);
        }
        "radio_buttons" => {
            if options.is_empty() {
                problems.push("radio_buttons needs options".into());
            }
            check_options(&options, 10, problems);
        }
        "external_select" | "users_select" | "plain_text_input" => {}
        other => problems.push(format!("unexpected element type {other:?}")),
    }
    if let Some(initial) = e.get("initial_option") {
        check_options(std::slice::from_ref(initial), 1, problems);
        if kind != "external_select"
            && !options.is_empty()
            && !options
                .iter()
                .any(|o| o.get("value") == initial.get("value"))
        {
            problems.push("initial_option is not one of the options".into());
        }
    }
}
